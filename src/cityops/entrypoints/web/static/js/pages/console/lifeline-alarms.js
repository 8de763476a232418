// 生命线告警 (#/lifeline-alarms?state=open&level=3&type=gas_leak&asset=…): the alarms the caller
// may see, newest first; counts of open alarms per level; the response chip of each active
// alarm against its level's target; refreshed on every alarm event and every 30 seconds.
import { api } from "../../api.js";
import { fmtNumber, t } from "../../i18n.js";
import { h, throttle } from "../../ui.js";
import {
  LEVELS, TYPES, ensureCss, errorMessage, kindName, levelBadge, responseChip, stateBadge, typeName,
} from "./lifeline-common.js";
import { emptyState, errorState, fmtFull, fmtWhen, pager } from "./work-common.js";

const LIMIT = 50;
const FIELDS = ["state", "level", "type", "asset"];
const STATES = ["open", "active", "acknowledged", "cleared"];

function filters(ctx) {
  const q = ctx.query;
  const select = (name, options) => {
    const s = h("select", { name }, options.map(([v, label]) => h("option", { value: v }, label)));
    s.value = q.get(name) ?? (name === "state" ? "open" : "");
    return s;
  };
  const form = h("form", { class: "filters", role: "search" },
    h("label", { class: "f" }, h("span", {}, t("lifeline.filter.state")),
      select("state", [...STATES.map((s) => [s, t(`lifeline.state.${s}`)]), ["all", t("lifeline.state.all")]])),
    h("label", { class: "f" }, h("span", {}, t("lifeline.filter.level")),
      select("level", [["", t("lifeline.filter.any")], ...LEVELS.map((l) => [String(l), t(`lifeline.level.${l}`)])])),
    h("label", { class: "f" }, h("span", {}, t("lifeline.filter.type")),
      select("type", [["", t("lifeline.filter.any")], ...TYPES.map((x) => [x, typeName(x)])])),
    h("label", { class: "f" }, h("span", {}, t("lifeline.filter.asset")),
      h("input", { name: "asset", value: q.get("asset") || "", autocomplete: "off", maxlength: 64 })),
    h("div", { class: "filters__bar" },
      h("button", { type: "submit", class: "btn btn-primary" }, t("lifeline.filter.search")),
      h("button", { type: "button", class: "btn", onclick: () => ctx.navigate("#/lifeline-alarms") }, t("lifeline.filter.reset"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const out = new URLSearchParams();
    for (const name of FIELDS) {
      const v = String(data.get(name) || "").trim();
      if (v) out.set(name, v);
    }
    ctx.navigate(`#/lifeline-alarms?${out}`);
  });
  form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT") form.requestSubmit(); });
  return form;
}

function levelStrip(counts) {
  return h("div", { class: "lf-levels", id: "lf-level-counts" }, LEVELS.map((level) => h("a", {
    class: `lf-levels__item lf-levels__item--${level}`, href: `#/lifeline-alarms?state=open&level=${level}`,
    dataset: { level, count: counts[level] }, title: t(`lifeline.level.${level}`) },
  h("b", {}, fmtNumber(counts[level])), h("span", {}, t(`lifeline.level.${level}`)))),
  h("span", { class: "muted" }, t("lifeline.openCount", { n: fmtNumber(LEVELS.reduce((s, l) => s + counts[l], 0)) })));
}

function table(items, ctx) {
  const cols = ["level", "type", "asset", "state", "response", "firstSeen", "lastSeen", "count", "case"];
  const rows = items.map((a) => {
    const tr = h("tr", { tabindex: "0", class: `lf-row lf-row--${a.level} lf-row--${a.state}`, dataset: { id: a.id, state: a.state, level: a.level } },
      h("td", {}, levelBadge(a.level)),
      h("td", {}, h("a", { href: `#/lifeline-alarm/${a.id}`, class: "lf-type" }, typeName(a.type))),
      h("td", { class: "lf-asset" }, a.asset ? [h("span", {}, a.asset.name), h("small", { class: "muted" }, ` ${a.asset.code} · ${kindName(a.asset.kind)}`)] : a.subject),
      h("td", {}, stateBadge(a.state)),
      h("td", { class: "lf-response" }, responseChip(a)),
      h("td", { title: fmtFull(a.first_seen) }, fmtWhen(a.first_seen)),
      h("td", { title: fmtFull(a.last_seen) }, fmtWhen(a.last_seen)),
      h("td", { class: "num" }, fmtNumber(a.count)),
      h("td", {}, a.case_id ? h("a", { href: `#/case/${a.case_id}`, class: "case-no" }, `#${a.case_id}`) : h("span", { class: "muted" }, "—")));
    const open = () => ctx.navigate(`#/lifeline-alarm/${a.id}`);
    tr.addEventListener("click", (ev) => { if (!ev.target.closest("a, button")) open(); });
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.target === tr) open();
      if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); tr.nextElementSibling?.focus(); }
      if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); tr.previousElementSibling?.focus(); }
    });
    return tr;
  });
  return h("table", { class: "c-table lf-table", id: "lf-alarms" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: `col-${c}` }, t(`lifeline.col.${c}`))))),
    h("tbody", {}, rows));
}

export async function mount(el, ctx) {
  ensureCss();
  const q = ctx.query;
  const offset = Math.max(0, Number(q.get("offset")) || 0);
  const strip = h("div", { class: "lf-levels-slot" });
  const results = h("div", { class: "results" }, h("p", { class: "c-loading muted" }, t("common.loading")));
  el.append(h("div", { class: "c-page lf-page" },
    h("header", { class: "page-head" }, h("h1", {}, t("lifeline.alarms.title")), h("p", { class: "muted" }, t("lifeline.alarms.sub"))),
    strip, filters(ctx), results));

  const query = { limit: LIMIT, offset };
  for (const name of FIELDS) if (q.get(name)) query[name] = q.get(name);
  if (!q.get("state")) query.state = "open";
  if (query.state === "all") delete query.state;

  let items = [];
  async function load() {
    try {
      const page = await api.get("/api/v1/lifeline/alarms", query);
      const counts = page.open_by_level; // open alarms per level, whatever the filters
      items = page.alarms;
      strip.replaceChildren(levelStrip(counts));
      if (!items.length) {
        results.replaceChildren(emptyState(t("lifeline.alarms.none"), t("lifeline.alarms.noneHint")));
      } else {
        results.replaceChildren(table(items, ctx), pager(page.total, offset, LIMIT, (o) => {
          const next = new URLSearchParams(q);
          next.set("offset", String(Math.max(0, o)));
          ctx.navigate(`#/lifeline-alarms?${next}`);
        }));
      }
      el.querySelector(".lf-page").dataset.loaded = String(Date.now());
    } catch (err) {
      results.replaceChildren(errorState(errorMessage(err), load));
    }
  }
  await load();
  const reload = throttle(() => load(), 2000);
  const off = ctx.onLive((msg) => { if (msg.name === "reset" || msg.name.startsWith("LifelineAlarm")) reload(); });
  // The response chips age without any event.
  const timer = setInterval(() => {
    for (const row of el.querySelectorAll("#lf-alarms tbody tr")) {
      const a = items.find((x) => String(x.id) === row.dataset.id);
      if (a) row.querySelector(".lf-response").replaceChildren(responseChip(a));
    }
  }, 30_000);
  return () => {
    off();
    clearInterval(timer);
  };
}
