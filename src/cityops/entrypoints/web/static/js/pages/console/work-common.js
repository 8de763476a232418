// Shared pieces of the console's work views: badges, deadline clocks, tables, key/value lists,
// empty and error states, drafts kept in localStorage, workflow actions, and the reference
// lists (cached).
import { api, uiConfig } from "../../api.js";
import { fmtNumber, fmtTime, t, tOr } from "../../i18n.js";
import { draftStore, h } from "../../ui.js";

let tz = "Asia/Shanghai";
uiConfig().then((c) => { tz = c.timezone || tz; }).catch(() => {});

export const OPEN_STATES = ["reported", "accepted", "verified", "opened", "dispatched", "handling", "handled", "checked", "suspended"];
export const TERMINAL = new Set(["closed", "invalid", "merged"]);

export function fmtWhen(iso, withSeconds = false) {
  if (!iso) return "—";
  const opts = { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
  if (withSeconds) opts.second = "2-digit";
  return fmtTime(iso, tz, opts);
}

export function fmtFull(iso) {
  if (!iso) return "—";
  return fmtTime(iso, tz, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

/** 3h 20m style, in the user's language; seconds of (working) time. */
export function fmtDuration(seconds) {
  const s = Math.abs(Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours >= 1) return t("console.dur.hm", { h: fmtNumber(hours), m: minutes });
  return t("console.dur.m", { m: Math.max(minutes, s > 0 ? 1 : 0) });
}

/** The case's running clock: green/yellow/red chip with time left (or over). */
export function clockChip(c) {
  const clock = c.clock;
  if (!clock) {
    if (c.closed_at) return h("span", { class: "clock clock--paused", title: fmtFull(c.closed_at) }, t("console.clock.closed", { at: fmtWhen(c.closed_at) }));
    return h("span", { class: "clock clock--none", title: t("console.clock.none") }, "—");
  }
  const late = c.overdue || clock.remaining_seconds < 0;
  const colour = late ? "red" : clock.colour;
  const text = clock.paused
    ? t("console.clock.paused")
    : late ? t("console.clock.over", { d: fmtDuration(clock.remaining_seconds) })
      : t("console.clock.left", { d: fmtDuration(clock.remaining_seconds) });
  const title = `${tOr(`console.stage.${clock.stage}`, clock.stage)} · ${t("console.clock.due")} ${fmtFull(clock.due_at)} · ${clock.limit}`;
  return h("span", { class: `clock clock--${colour}${clock.paused ? " clock--paused" : ""}`, title,
    dataset: { colour } }, h("i"), text);
}

export function stateBadge(state) {
  return h("span", { class: `badge state state--${state}` }, tOr(`state.${state}`, state));
}

export function urgencyBadge(c) {
  const out = [];
  if (c.urgency === "urgent") out.push(h("span", { class: "badge badge--urgent" }, t("console.urgent")));
  if (c.level && c.level !== "street") out.push(h("span", { class: "badge badge--level" }, tOr(`console.level.${c.level}`, c.level)));
  if (c.report_count > 1) out.push(h("span", { class: "badge", title: t("console.reports.merged") }, `×${c.report_count}`));
  return out;
}

export function channelName(channel) {
  return tOr(`channel.${channel}`, channel);
}

export function emptyState(text, hint) {
  return h("div", { class: "c-state c-state--empty" }, h("div", { class: "c-state__icon" }, "✓"),
    h("p", {}, text), hint ? h("p", { class: "muted" }, hint) : null);
}

/** An error box: err is an error or the sentence to show; retry a function (a retry button)
 * or a node to offer instead (say, a link back). */
export function errorState(err, retry) {
  const message = err?.status === 403 ? t("error.forbidden") : err?.message ?? String(err);
  const way = typeof retry === "function"
    ? h("button", { type: "button", class: "btn", onclick: retry }, t("common.retry")) : retry ?? null;
  return h("div", { class: "c-state c-state--error", role: "alert" }, h("p", {}, message), way);
}

/** A key/value list of [label, value] rows; a falsy row is skipped. A row without a value
 * (undefined, null, "") shows "—", or is left out with hideEmpty. */
export function kv(rows, { hideEmpty = false } = {}) {
  const shown = rows.filter((row) => row && !(hideEmpty && (row[1] === undefined || row[1] === null || row[1] === "")));
  return h("dl", { class: "kv" }, shown.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

/** A table of case summaries; columns by name. onOpen(case) when a row is chosen. */
export function caseTable(items, { columns, onOpen, extra, selected, className } = {}) {
  const cols = columns || ["clock", "case_no", "title", "category", "place", "department", "state", "created"];
  const head = h("tr", {}, cols.map((c) => h("th", { class: `col-${c}` }, t(`console.col.${c}`))), extra ? h("th", { class: "col-act" }) : null);
  const rows = items.map((c) => {
    const cells = {
      clock: () => clockChip(c),
      case_no: () => h("a", { href: `#/case/${c.id}`, class: "case-no" }, c.case_no || `#${c.id}`),
      title: () => h("div", { class: "cell-title" }, h("span", { class: "cell-title__text", title: c.title || "" }, c.title || "—"), urgencyBadge(c)),
      category: () => c.category_name ? h("span", { title: c.category }, c.category_name) : h("span", { class: "muted" }, t("console.uncategorised")),
      place: () => h("span", { title: c.address || "" }, c.grid_name || c.address || "—"),
      department: () => c.department_name || h("span", { class: "muted" }, "—"),
      state: () => stateBadge(c.state),
      created: () => fmtWhen(c.created_at),
      channel: () => channelName(c.channel),
    };
    const tr = h("tr", { tabindex: "0", dataset: { id: c.id, caseNo: c.case_no || "" },
      class: [c.overdue ? "row--late" : "", selected === c.id ? "row--selected" : ""].join(" ").trim() || null },
    cols.map((col) => h("td", { class: `col-${col}` }, cells[col] ? cells[col]() : "")),
    extra ? h("td", { class: "col-act" }, extra(c)) : null);
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("a, button, input, select")) return;
      onOpen?.(c);
    });
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.target === tr) onOpen?.(c);
      if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); tr.nextElementSibling?.focus(); }
      if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); tr.previousElementSibling?.focus(); }
    });
    return tr;
  });
  return h("table", { class: `c-table ${className || ""}`.trim() }, h("thead", {}, head), h("tbody", {}, rows));
}

export function pager(total, offset, limit, go) {
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return h("div", { class: "pager" },
    h("span", { class: "muted" }, t("console.pager.total", { n: fmtNumber(total) })),
    h("button", { type: "button", class: "btn btn-sm", disabled: page <= 1 || null, onclick: () => go(offset - limit),
      title: t("console.pager.prev") }, "‹"),
    h("span", {}, t("console.pager.page", { page, pages })),
    h("button", { type: "button", class: "btn btn-sm", disabled: page >= pages || null, onclick: () => go(offset + limit),
      title: t("console.pager.next") }, "›"));
}

// -- drafts and actions -----------------------------------------------------------------------

const drafts = draftStore("cityops.console.draft.");

export const loadDraft = (key) => drafts.get(key);
export const clearDraft = (key) => drafts.clear(key);

/** Keep a draft stamped with when (the form says "restored"); an all-empty one is dropped. */
export function saveDraft(key, value) {
  const empty = !value || Object.values(value).every((v) => v === "" || v === null || v === undefined);
  if (empty) drafts.clear(key);
  else drafts.set(key, { ...value, saved_at: Date.now() });
}

/** POST a workflow action with its Idempotency-Key. */
export function act(caseId, action, body, key) {
  return api.post(`/api/v1/cases/${caseId}/actions/${action}`, body, { headers: { "Idempotency-Key": key } });
}

/** What the API answered, as a sentence: "20261122000224 受理 → 受理". */
export function outcomeText(outcome) {
  const to = tOr(`state.${outcome.to_state}`, outcome.to_state);
  const name = tOr(`console.action.${outcome.action}`, outcome.action);
  return t(outcome.replayed ? "console.done.replayed" : "console.done", { no: outcome.case_no || outcome.case_id, action: name, state: to });
}

// -- reference lists --------------------------------------------------------------------------

let departmentsP = null;
let categoriesP = null;

export function departments() {
  departmentsP ??= api.get("/api/v1/departments").catch((e) => { departmentsP = null; throw e; });
  return departmentsP;
}

/** After a department is added or changed: the next departments() asks again. */
export function forgetDepartments() {
  departmentsP = null;
}

export function categories() {
  categoriesP ??= api.get("/api/v1/categories").catch((e) => { categoriesP = null; throw e; });
  return categoriesP;
}

/** A case's row count for a query (limit=1: the API answers the total). */
export async function countOf(query) {
  const page = await api.get("/api/v1/cases", { ...query, limit: 1 });
  return page.total;
}

/** Up to `max` cases for a query, fetched in pages of 500 (the API's largest). */
export async function fetchAll(query, max = 1000) {
  const items = [];
  let total = 0;
  for (let offset = 0; offset < max; offset += 500) {
    const page = await api.get("/api/v1/cases", { ...query, limit: 500, offset });
    total = page.total;
    items.push(...page.items);
    if (items.length >= total || page.items.length < 500) break;
  }
  return { total, items };
}

/** Sorts for work lists: most urgent deadline first, newest, oldest. */
export const SORTS = {
  deadline: (a, b) => remaining(a) - remaining(b) || a.id - b.id,
  newest: (a, b) => b.id - a.id,
  oldest: (a, b) => a.id - b.id,
};

function remaining(c) {
  if (!c.clock) return Number.MAX_SAFE_INTEGER;
  if (c.clock.paused) return Number.MAX_SAFE_INTEGER - 1;
  return c.overdue ? Math.min(c.clock.remaining_seconds, -1) : c.clock.remaining_seconds;
}

/** el.replaceChildren without the null/false entries that conditional parts leave. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
