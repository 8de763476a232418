// 我的任务: what waits for me. Inspector: 核实 (accepted) and 核查 (handled) in my street;
// handler: my department's dispatched cases to sign for and those in hand to complete.
// Most urgent first, coloured by the case clock; pull down (or the button) to refresh.
import { api } from "../../api.js";
import { t } from "../../i18n.js";
import { $, h } from "../../ui.js";
import { app, cachedGet, clockText, empty, errorBox, stateName, when } from "./common.js";
import { items as outboxItems } from "./outbox.js";

const KINDS = {
  inspector: { accepted: "verify", handled: "check" },
  handler: { dispatched: "start", handling: "handle" },
};
const view = { filter: "all", data: null, at: 0, fresh: true, loading: false, again: false };

export function taskKinds() {
  return KINDS[app.me?.role] || null;
}

function byUrgency(a, b) {
  const ra = a.clock?.remaining_seconds ?? Infinity;
  const rb = b.clock?.remaining_seconds ?? Infinity;
  return ra - rb || a.id - b.id;
}

async function fetchTasks() {
  const kinds = taskKinds();
  const query = { state: Object.keys(kinds), limit: 200 };
  if (app.me.role === "handler" && app.me.department_ids.length === 1) query.department_id = app.me.department_ids[0];
  const got = await cachedGet("tasks", "/api/v1/cases", query);
  got.query = query;
  let cases = got.data.items;
  if (app.me.role === "handler") cases = cases.filter((c) => app.me.department_ids.includes(c.department_id));
  return { ...got, cases: cases.sort(byUrgency) };
}

/** Fetch each task once while online, so the service worker can open it offline too. */
async function warm(query, cases) {
  const sw = navigator.serviceWorker;
  if (!sw) return;
  if (!sw.controller) {
    // The first visit: the worker takes over after this list was read; read it through it.
    await new Promise((resolve) => sw.addEventListener("controllerchange", resolve, { once: true }));
    if (navigator.onLine) await api.get("/api/v1/cases", query).catch(() => null);
  }
  for (const c of cases.slice(0, 40)) {
    if (!navigator.onLine) return;
    try {
      await api.get(`/api/v1/cases/${c.id}`);
    } catch {
      return;
    }
  }
}

export async function refreshTasks() {
  if (!taskKinds()) return;
  if (view.loading) {
    // A list read before this call may predate what changed: read it once more afterwards.
    view.again = true;
    return;
  }
  view.loading = true;
  view.again = false;
  $("#view-tasks").classList.add("loading");
  try {
    const got = await fetchTasks();
    Object.assign(view, { data: got.cases, at: got.at, fresh: got.fresh, error: null });
    if (got.fresh) warm(got.query, got.cases);
  } catch (err) {
    view.error = err;
  } finally {
    view.loading = false;
    $("#view-tasks").classList.remove("loading");
  }
  await renderTasks();
  if (view.again) await refreshTasks();
}

function item(c, kind, queued) {
  const colour = c.clock?.colour || "none";
  return h("li", {},
    h("a", { class: "m-task", href: `#case/${c.id}`, dataset: { case: c.id, colour, kind } },
      h("span", { class: "m-task__bar" }),
      h("span", { class: "m-task__main" },
        h("span", { class: "m-task__top" },
          h("b", { class: "m-task__kind" }, t(`mobile.kind.${kind}`)),
          h("span", { class: "m-task__no" }, c.case_no),
          queued && h("span", { class: "m-chip m-chip--wait" }, t("mobile.outbox.queued"))),
        h("span", { class: "m-task__title" }, c.category_name || c.title || stateName(c.state)),
        h("span", { class: "m-task__where" }, c.address || c.grid_name || "—")),
      h("span", { class: "m-task__clock" }, clockText(c.clock))));
}

export async function renderTasks() {
  const root = $("#task-list");
  const kinds = taskKinds();
  if (!kinds) {
    root.replaceChildren(empty(t("mobile.tasks.otherRole"), t("mobile.tasks.otherRoleHint")));
    $("#task-summary").replaceChildren();
    return;
  }
  if (view.error && !view.data) {
    root.replaceChildren(errorBox(view.error, refreshTasks));
    return;
  }
  if (!view.data) {
    root.replaceChildren(h("p", { class: "m-loading" }, t("common.loading")));
    return;
  }
  const queued = new Set((await outboxItems()).filter((i) => i.kind === "action").map((i) => i.caseId));
  const counts = { all: view.data.length };
  for (const c of view.data) counts[kinds[c.state]] = (counts[kinds[c.state]] || 0) + 1;
  const red = view.data.filter((c) => c.clock?.colour === "red").length;
  const chips = ["all", ...new Set(Object.values(kinds))].map((k) =>
    h("button", { type: "button", class: "m-filter", "aria-pressed": String(view.filter === k), dataset: { filter: k },
      onclick: () => { view.filter = k; renderTasks(); } },
    t(`mobile.filter.${k}`), h("b", {}, String(counts[k] || 0))));
  $("#task-summary").replaceChildren(
    h("div", { class: "m-filters" }, chips),
    h("p", { class: "m-sync muted", id: "task-sync" },
      view.fresh ? t("mobile.tasks.updated", { at: when(view.at) }) : t("mobile.tasks.offlineCopy", { at: when(view.at) }),
      red ? h("span", { class: "m-red" }, ` · ${t("mobile.tasks.overdue", { n: red })}`) : null));
  const shown = view.data.filter((c) => view.filter === "all" || kinds[c.state] === view.filter);
  if (!shown.length) {
    root.replaceChildren(empty(t("mobile.tasks.none"), t("mobile.tasks.noneHint")));
    return;
  }
  root.replaceChildren(h("ul", { class: "m-tasks" }, shown.map((c) => item(c, kinds[c.state], queued.has(c.id)))));
}

/** Pull the list down from its top to refresh it. */
export function pullToRefresh(scroller) {
  const hint = $("#pull-hint");
  let y0 = null;
  let dy = 0;
  scroller.addEventListener("touchstart", (ev) => {
    y0 = scroller.scrollTop <= 0 ? ev.touches[0].clientY : null;
    dy = 0;
  }, { passive: true });
  scroller.addEventListener("touchmove", (ev) => {
    if (y0 === null) return;
    dy = Math.max(0, ev.touches[0].clientY - y0);
    hint.style.height = `${Math.min(dy / 2, 56)}px`;
    hint.textContent = t(dy > 110 ? "mobile.tasks.release" : "mobile.tasks.pull");
  }, { passive: true });
  scroller.addEventListener("touchend", () => {
    if (y0 !== null && dy > 110 && location.hash.startsWith("#tasks")) refreshTasks();
    hint.style.height = "0";
    y0 = null;
  });
}
