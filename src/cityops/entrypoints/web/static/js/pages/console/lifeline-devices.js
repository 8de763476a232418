// 设备在线状态 (#/lifeline-devices?status=offline&kind=…&q=…): each sensor online / offline /
// never reported (its newest reading against its sampling interval), when it was last heard
// from, its battery when it reports one and its latest values. Offline: the longest silent
// first. Refreshed every minute (silence has no event).
import { api } from "../../api.js";
import { fmtNumber, t } from "../../i18n.js";
import { h } from "../../ui.js";
import { KINDS, ensureCss, errorMessage, fmtReading, fmtSpan, kindName, metricName, unitLabel } from "./lifeline-common.js";
import { emptyState, errorState, fmtFull, fmtWhen, pager } from "./work-common.js";

const LIMIT = 50;
const TABS = ["", "offline", "never", "online"];

function hashOf(q, changes) {
  const next = new URLSearchParams(q);
  for (const [k, v] of Object.entries(changes)) {
    if (v) next.set(k, v);
    else next.delete(k);
  }
  next.delete("offset");
  if (changes.offset) next.set("offset", changes.offset);
  return `#/lifeline-devices?${next}`;
}

function tabs(counts, q) {
  const current = q.get("status") || "";
  const total = Object.values(counts).reduce((s, n) => s + n, 0);
  return h("nav", { class: "tabs lf-tabs", id: "lf-device-tabs" }, TABS.map((status) => h("a", {
    class: `tab${status === current ? " active" : ""}`, href: hashOf(q, { status }), dataset: { status: status || "all" } },
  t(`lifeline.dev.${status || "all"}`), " ",
  h("span", { class: `count${status === "offline" && counts.offline ? " count--bad" : ""}` }, fmtNumber(status ? counts[status] : total)))));
}

function filters(ctx) {
  const q = ctx.query;
  const kind = h("select", { name: "kind" }, h("option", { value: "" }, t("lifeline.filter.any")),
    KINDS.map((k) => h("option", { value: k }, kindName(k))));
  kind.value = q.get("kind") || "";
  const search = h("input", { name: "q", type: "search", value: q.get("q") || "", maxlength: 64, autocomplete: "off" });
  const form = h("form", { class: "filters", role: "search" },
    h("label", { class: "f" }, h("span", {}, t("lifeline.dev.kind")), kind),
    h("label", { class: "f f--grow" }, h("span", {}, t("lifeline.dev.q")), search),
    h("div", { class: "filters__bar" }, h("button", { type: "submit", class: "btn btn-primary" }, t("lifeline.filter.search"))));
  const go = (ev) => {
    ev?.preventDefault();
    ctx.navigate(hashOf(q, { kind: kind.value, q: search.value.trim() }));
  };
  form.addEventListener("submit", go);
  kind.addEventListener("change", go);
  return form;
}

function statusDot(d) {
  return h("span", { class: `lf-dot lf-dot--${d.status}`, dataset: { status: d.status } }, h("i"), t(`lifeline.dev.${d.status}`));
}

function values(d) {
  const shown = d.metrics.filter((m) => m.value !== null).slice(0, 4);
  if (!shown.length) return h("span", { class: "muted" }, "—");
  return h("span", { class: "lf-values" }, shown.map((m) => h("span", { title: m.ts ? fmtFull(m.ts) : "", dataset: { metric: m.metric } },
    h("small", {}, metricName(m.metric)), " ", h("b", {}, fmtNumber(m.value, { maximumFractionDigits: 3 })), " ", h("small", {}, unitLabel(m.unit)))));
}

function battery(d) {
  if (!d.battery) return h("span", { class: "muted" }, "—");
  const v = d.battery.value;
  const low = d.battery.unit === "%" && v < 20;
  return h("span", { class: `lf-battery${low ? " lf-battery--low" : ""}`, title: fmtFull(d.battery.ts) },
    fmtReading(v, d.battery.unit));
}

function table(items) {
  const cols = ["status", "device", "asset", "lastSeen", "interval", "battery", "values"];
  return h("table", { class: "c-table lf-table", id: "lf-devices" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: `col-${c}` }, t(`lifeline.dev.col.${c}`))))),
    h("tbody", {}, items.map((d) => h("tr", { dataset: { code: d.code, status: d.status }, class: d.status !== "online" ? "lf-row--offline" : null },
      h("td", {}, statusDot(d)),
      h("td", {}, h("b", {}, d.code), h("small", { class: "muted" }, ` ${d.name}`)),
      h("td", {}, d.asset.name, h("small", { class: "muted" }, ` ${d.asset.code} · ${kindName(d.asset.kind)}`)),
      h("td", { title: d.last_seen ? fmtFull(d.last_seen) : "" }, d.last_seen
        ? [fmtWhen(d.last_seen), h("small", { class: "muted" }, ` ${t("lifeline.dev.ago", { d: fmtSpan(d.silent_s) })}`)]
        : h("span", { class: "muted" }, t("lifeline.dev.never"))),
      h("td", {}, t("lifeline.dev.every", { d: fmtSpan(d.interval_s) })),
      h("td", {}, battery(d)),
      h("td", {}, values(d))))));
}

export async function mount(el, ctx) {
  ensureCss();
  const q = ctx.query;
  const offset = Math.max(0, Number(q.get("offset")) || 0);
  const query = { status: q.get("status") || undefined, kind: q.get("kind") || undefined, q: q.get("q") || undefined, limit: LIMIT, offset };
  const sub = h("p", { class: "muted" });
  const tabSlot = h("div");
  const results = h("div", { class: "results" }, h("p", { class: "c-loading muted" }, t("common.loading")));
  el.append(h("div", { class: "c-page lf-page lf-devices" },
    h("header", { class: "page-head" }, h("h1", {}, t("lifeline.dev.title")), sub), tabSlot, filters(ctx), results));
  async function load() {
    try {
      const page = await api.get("/api/v1/telemetry/device-health", query);
      sub.textContent = t("lifeline.dev.sub", { k: fmtNumber(page.offline_intervals) });
      tabSlot.replaceChildren(tabs(page.counts, q));
      if (!page.items.length) {
        results.replaceChildren(emptyState(t("lifeline.dev.none"), query.status === "offline" ? t("lifeline.dev.noneHint") : null));
        return;
      }
      results.replaceChildren(table(page.items),
        pager(page.total, offset, LIMIT, (o) => ctx.navigate(hashOf(q, { offset: String(Math.max(0, o)) }))));
    } catch (err) {
      results.replaceChildren(errorState(errorMessage(err), load));
    }
  }
  await load();
  const timer = setInterval(load, 60_000);
  const off = ctx.onLive((msg) => { if (msg.name === "reset") load(); });
  return () => {
    clearInterval(timer);
    off();
  };
}
