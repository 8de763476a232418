// 我的工作 (#/queue/<tab>): the caller's role-specific work queues, derived from the workflow
// states, with counts, deadline colours, sorting and paging; refreshed by the live stream.
// Some steps need no form and are taken from the row: 受理, 签收, and 派遣 to the department the
// responsibility list proposes (shown in the row, with its explanation).
import { api, newIdempotencyKey } from "../../api.js";
import { fmtNumber, localized, t, tOr } from "../../i18n.js";
import { h, throttle } from "../../ui.js";
import {
  OPEN_STATES, SORTS, act, caseTable, countOf, emptyState, errorState, fetchAll,
  outcomeText, pager,
  fill,
} from "./work-common.js";

const PAGE = 20;

function columnsFor(q) {
  const single = q.query.state?.length === 1; // every row has the same state: no column for it
  if (q.quick === "dispatch") return ["clock", "case_no", "title", "category", "place", "channel", "created"];
  if (q.quick === "accept") return ["clock", "case_no", "title", "category", "place", "channel", "created"];
  return ["clock", "case_no", "title", "category", "place", "department", single ? null : "state", "created"].filter(Boolean);
}

/** The queues of a role: key, query for /api/v1/cases (the API filters pending 延期, 回退 and
 * 督办 itself), an optional client-side filter on the summaries, quick action. */
export function queuesFor(me) {
  const dept = me.department_ids?.length === 1 ? me.department_ids[0] : undefined;
  const late = { key: "overdue", query: { state: OPEN_STATES, overdue: true } };
  switch (me.role) {
    case "acceptor":
      return [
        { key: "reported", query: { state: ["reported"] }, quick: "accept" },
        { key: "accepted", query: { state: ["accepted"] } },
        { key: "verified", query: { state: ["verified"] } },
        { key: "checked", query: { state: ["checked"] }, quick: "close" },
        { key: "classify", query: { triage: "classify", state: OPEN_STATES }, link: "#/triage/classify" },
      ];
    case "dispatcher":
      return [
        { key: "toDispatch", query: { state: ["opened"] }, quick: "dispatch" },
        { key: "dispatched", query: { state: ["dispatched"] } },
        late,
      ];
    case "handler":
      return [
        { key: "toStart", query: { state: ["dispatched"], department_id: dept }, quick: "start" },
        { key: "handling", query: { state: ["handling"], department_id: dept } },
        { key: "handled", query: { state: ["handled"], department_id: dept } },
      ];
    case "shift_leader":
      return [
        { key: "extension", query: { state: ["dispatched", "handling"], extension_pending: true } },
        { key: "returned", query: { state: ["opened"], returned: true } },
        { key: "suspended", query: { state: ["suspended"] } },
        { key: "toCheck", query: { state: ["handled"] } },
        late,
      ];
    case "inspector":
      return [
        { key: "toVerify", query: { state: ["accepted"] } },
        { key: "toCheck", query: { state: ["handled"] } },
      ];
    case "commander":
      return [
        late,
        { key: "escalated", query: { state: OPEN_STATES }, filter: (c) => c.level && c.level !== "street" },
        { key: "warning", query: { state: OPEN_STATES }, filter: (c) => c.clock?.colour === "yellow" && !c.overdue },
        { key: "supervised", query: { state: OPEN_STATES, supervised: true } },
      ];
    default:
      return [
        late,
        { key: "open", query: { state: OPEN_STATES } },
      ];
  }
}

// Case details by id, reused while the case's updated_at is unchanged: the dispatch queue shows
// each row's proposed department (routing), which only the detail carries.
const detailCache = new Map();

async function detailOf(c) {
  const hit = detailCache.get(c.id);
  if (hit && hit.updated_at === c.updated_at) return hit;
  const d = await api.get(`/api/v1/cases/${c.id}`);
  detailCache.set(c.id, d);
  return d;
}

/** Cases of a queue: the query's cases, narrowed by a summary filter where there is one. */
async function load(q) {
  const { total, items } = await fetchAll(q.query, q.filter ? 1000 : 500);
  const list = q.filter ? items.filter(q.filter) : items;
  const capped = !q.filter && total > items.length;
  return { total: q.filter ? list.length : total, items: list, details: new Map(), capped };
}

async function pool(items, size, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch {
        out[i] = null;
      }
    }
  }));
  return out;
}

export async function mount(el, ctx) {
  const queues = queuesFor(ctx.me);
  const active = queues.find((q) => q.key === ctx.params[0]) || queues[0];
  const state = { sort: ctx.query.get("sort") || "deadline", offset: 0, data: null, keys: new Map(), busy: new Set() };
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const body = h("div", { class: "queue-body" });
  const status = h("span", { class: "muted small" });
  const sortSel = h("select", { class: "select-sm", "aria-label": t("console.sort.label") },
    Object.keys(SORTS).map((k) => h("option", { value: k }, t(`console.sort.${k}`))));
  sortSel.value = SORTS[state.sort] ? state.sort : "deadline";
  sortSel.addEventListener("change", () => { state.sort = sortSel.value; state.offset = 0; draw(); });
  el.append(h("div", { class: "c-page queue", dataset: { queue: active.key } },
    h("header", { class: "page-head" },
      h("h1", {}, t("console.nav.queue"), h("small", { class: "muted" }, ` · ${tOr(`console.role.${ctx.me.role}`, ctx.me.role)}`)),
      h("div", { class: "page-head__tools" }, status, h("label", { class: "inline" }, t("console.sort.label"), sortSel),
        h("button", { type: "button", class: "btn btn-sm", onclick: () => reload(), title: t("console.refresh") }, "⟳ ", t("console.refresh")))),
    tabs, body));

  function drawTabs(counts) {
    fill(tabs, ...queues.map((q) => {
      const n = counts?.get(q.key);
      const a = h("a", { href: q.link || `#/queue/${q.key}`, role: "tab", class: q === active ? "tab active" : "tab",
        "aria-selected": q === active ? "true" : "false", dataset: { tab: q.key } },
      t(`console.queue.${q.key}`),
      h("span", { class: `count ${q.key === "overdue" && n ? "count--bad" : ""}`, dataset: { count: n ?? "" } }, n == null ? "…" : fmtNumber(n)));
      return a;
    }));
  }

  // Each tab's count as soon as it is known (the ones filtered here in the page come last).
  const shown = new Map();
  async function counts() {
    await Promise.all(queues.map(async (q) => {
      try {
        shown.set(q.key, q === active && state.data ? state.data.total
          : q.filter ? (await load(q)).total : await countOf(q.query));
      } catch {
        shown.set(q.key, null);
      }
      drawTabs(shown);
    }));
  }

  function quickButton(c) {
    const action = active.quick;
    if (!action) return null;
    const d = state.data.details.get(c.id);
    const label = tOr(`console.action.${action}`, action);
    const b = h("button", { type: "button", class: "btn btn-sm btn-primary", dataset: { quick: action, id: c.id } }, label);
    if (state.busy.has(c.id)) b.disabled = true;
    b.addEventListener("click", async () => {
      if (state.busy.has(c.id)) return;
      state.busy.add(c.id);
      b.disabled = true;
      // One key per case and action until it succeeds: a double click acts once.
      const keyName = `${c.id}.${action}`;
      if (!state.keys.has(keyName)) state.keys.set(keyName, newIdempotencyKey());
      const bodyOut = {};
      if (action === "dispatch" && d?.routing?.department_id) bodyOut.department_id = d.routing.department_id;
      try {
        const outcome = await act(c.id, action, bodyOut, state.keys.get(keyName));
        state.keys.delete(keyName);
        ctx.toast(outcomeText(outcome), "ok");
        await reload();
      } catch (err) {
        ctx.toast(`${c.case_no}: ${err.message}`, "error");
      } finally {
        state.busy.delete(c.id);
        b.disabled = false;
      }
    });
    if (action === "dispatch") {
      const dept = d?.routing?.department_name;
      return h("div", { class: "quick-dispatch" },
        dept ? h("span", { class: "suggest", title: d.routing.explanation ? localized(d.routing.explanation) : "" },
          h("small", { class: "muted" }, t("console.queue.suggest")), dept) : h("span", { class: "muted small" }, t("console.form.noRouting")),
        dept ? b : h("a", { class: "btn btn-sm", href: `#/case/${c.id}` }, t("console.queue.choose")));
    }
    return b;
  }

  async function draw() {
    const data = state.data;
    if (!data.items.length) {
      fill(body, emptyState(t("console.queue.empty"), t(`console.queue.${active.key}`)));
      return;
    }
    const sorted = [...data.items].sort(SORTS[state.sort]);
    const pageItems = sorted.slice(state.offset, state.offset + PAGE);
    if (active.quick === "dispatch") {
      const missing = pageItems.filter((c) => !data.details.has(c.id));
      const got = await pool(missing, 6, detailOf);
      got.forEach((d) => d && data.details.set(d.id, d));
    }
    const colours = { red: 0, yellow: 0, green: 0 };
    data.items.forEach((c) => {
      const k = c.overdue ? "red" : c.clock?.colour;
      if (k in colours) colours[k] += 1;
    });
    fill(body, 
      h("div", { class: "legend" },
        ["red", "yellow", "green"].map((k) => h("span", { class: `legend__item clock--${k}` }, h("i"), t(`console.colour.${k}`), " ", h("b", {}, fmtNumber(colours[k]))))),
      caseTable(pageItems, {
        columns: columnsFor(active),
        onOpen: (c) => ctx.navigate(`#/case/${c.id}`),
        extra: active.quick ? quickButton : null,
        className: active.quick === "dispatch" ? "c-table--dispatch" : null,
      }),
      data.capped ? h("p", { class: "muted small" }, t("console.queue.capped", { n: fmtNumber(data.items.length) })) : null,
      pager(data.items.length, state.offset, PAGE, (o) => { state.offset = Math.max(0, o); draw(); }));
  }

  async function reload() {
    try {
      state.data = await load(active);
      if (state.offset >= state.data.items.length) state.offset = Math.max(0, Math.floor((state.data.items.length - 1) / PAGE) * PAGE);
      await draw();
      status.textContent = t("console.updated", { time: new Date().toLocaleTimeString(undefined, { hour12: false }) });
      el.querySelector(".queue").dataset.loaded = String(Date.now());
    } catch (err) {
      fill(body, errorState(err, reload));
    }
    counts();
  }

  drawTabs(null);
  fill(body, h("p", { class: "c-loading muted" }, t("common.loading")));
  await reload();
  const soon = throttle(() => reload(), 2000);
  const off = ctx.onLive(() => soon());
  const minute = setInterval(reload, 60000); // the clock alone turns cases yellow and red
  return () => { off(); clearInterval(minute); };
}
