// 案卷查询 (#/cases?q=…&state=…): every case the caller may see, filtered on the server; the
// filters live in the hash, so a search can be bookmarked, shared and gone back to.
import { api } from "../../api.js";
import { t, tOr } from "../../i18n.js";
import { h } from "../../ui.js";
import { OPEN_STATES, caseTable, categories, departments, emptyState, errorState, pager } from "./work-common.js";

const LIMIT = 50;
const STATES = [...OPEN_STATES, "closed", "invalid", "merged"];
const CHANNELS = ["hotline", "inspector", "citizen", "manual", "video"];
const FIELDS = ["q", "state", "category", "department_id", "channel", "overdue", "from", "to"];

export async function mount(el, ctx) {
  const q = ctx.query;
  const offset = Math.max(0, Number(q.get("offset")) || 0);
  const [cats, depts] = await Promise.all([categories().catch(() => []), departments().catch(() => [])]);
  const input = (name, attrs = {}) => h("input", { name, value: q.get(name) || "", ...attrs });
  const select = (name, options, empty) => {
    const s = h("select", { name }, h("option", { value: "" }, empty), options.map(([v, label]) => h("option", { value: v }, label)));
    s.value = q.get(name) || "";
    return s;
  };
  const form = h("form", { class: "filters", role: "search" },
    h("label", { class: "f f--grow" }, h("span", {}, t("console.filter.q")), input("q", { type: "search", placeholder: t("console.filter.qHint"), autocomplete: "off" })),
    h("label", { class: "f" }, h("span", {}, t("console.filter.state")),
      select("state", [["open", t("console.filter.open")], ...STATES.map((s) => [s, tOr(`state.${s}`, s)])], t("console.filter.all"))),
    h("label", { class: "f" }, h("span", {}, t("console.filter.category")),
      select("category", cats.filter((c) => /^[CE]\d{2}(\d{2})?$/.test(c.key)).map((c) => [c.key, `${c.key} ${c.name}`]), t("console.filter.all"))),
    h("label", { class: "f" }, h("span", {}, t("console.filter.department")),
      select("department_id", depts.map((d) => [String(d.id), d.name]), t("console.filter.all"))),
    h("label", { class: "f" }, h("span", {}, t("console.filter.channel")),
      select("channel", CHANNELS.map((c) => [c, tOr(`channel.${c}`, c)]), t("console.filter.all"))),
    h("label", { class: "f" }, h("span", {}, t("console.filter.from")), input("from", { type: "date" })),
    h("label", { class: "f" }, h("span", {}, t("console.filter.to")), input("to", { type: "date" })),
    h("label", { class: "f f--check" }, h("input", { type: "checkbox", name: "overdue", value: "true", checked: q.get("overdue") === "true" || null }),
      h("span", {}, t("console.filter.overdue"))),
    h("div", { class: "filters__bar" },
      h("button", { type: "submit", class: "btn btn-primary" }, t("console.filter.search")),
      h("button", { type: "button", class: "btn", onclick: () => ctx.navigate("#/cases") }, t("console.filter.reset"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const out = new URLSearchParams();
    for (const name of FIELDS) {
      const v = data.get(name);
      if (v) out.set(name, String(v).trim());
    }
    ctx.navigate(`#/cases?${out}`);
  });
  form.addEventListener("change", (ev) => { if (ev.target.tagName === "SELECT" || ev.target.type === "checkbox") form.requestSubmit(); });
  const results = h("div", { class: "results" }, h("p", { class: "c-loading muted" }, t("common.loading")));
  el.append(h("div", { class: "c-page cases" },
    h("header", { class: "page-head" }, h("h1", {}, t("console.nav.cases"))), form, results));

  const query = { limit: LIMIT, offset };
  for (const name of FIELDS) if (q.get(name)) query[name] = q.get(name);
  if (query.state === "open") query.state = OPEN_STATES;
  // Dates are the city's days: from 00:00 of the first to 00:00 after the last.
  if (query.from) query.from = `${query.from}T00:00:00+08:00`;
  if (query.to) {
    const d = new Date(`${query.to}T00:00:00+08:00`);
    d.setUTCDate(d.getUTCDate() + 1);
    query.to = d.toISOString();
  }
  async function load() {
    try {
      const page = await api.get("/api/v1/cases", query);
      if (!page.items.length) {
        results.replaceChildren(emptyState(t("console.cases.none"), t("console.cases.noneHint")));
        return;
      }
      results.replaceChildren(
        caseTable(page.items, { columns: ["clock", "case_no", "title", "category", "place", "department", "state", "created"],
          onOpen: (c) => ctx.navigate(`#/case/${c.id}`) }),
        pager(page.total, offset, LIMIT, (o) => {
          const next = new URLSearchParams(q);
          next.set("offset", String(Math.max(0, o)));
          ctx.navigate(`#/cases?${next}`);
        }));
    } catch (err) {
      results.replaceChildren(errorState(err, load));
    }
  }
  await load();
  if (!q.toString()) form.querySelector("input[name=q]").focus();
  return undefined;
}
