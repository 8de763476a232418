// 业务工作台 (/console): the PC console's shell. Header, a left nav filtered by role, and a hash
// router #/<view>/<param…>?<query>: each view is a module static/js/pages/console/<view>.js
// exporting mount(el, ctx) (which may return an unmount function).
// ctx = {me, params, query, navigate(hash), refresh(), onLive(fn) → off, toast(text, kind)};
// query is URLSearchParams whose keys can also be read as properties (query.role).
import { api, logout, requireLogin } from "../api.js";
import { initI18n, t, tOr } from "../i18n.js";
import { connect } from "../live.js";
import { $, h, langButton } from "../ui.js";

// The nav registry: view, label key, roles that see it (null: every staff role), group.
const NAV = [
  { view: "queue", label: "console.nav.queue", roles: null, group: "work", key: "1" },
  { view: "triage", label: "console.nav.triage", roles: ["acceptor", "shift_leader", "dispatcher", "admin"], group: "work", key: "2" },
  { view: "cases", label: "console.nav.cases", roles: null, group: "work", key: "3" },
  { view: "admin-regions", label: "console.nav.admin-regions", roles: ["admin", "auditor"], group: "admin" },
  { view: "admin-departments", label: "console.nav.admin-departments", roles: ["admin", "auditor"], group: "admin" },
  { view: "admin-users", label: "console.nav.admin-users", roles: ["admin", "auditor"], group: "admin" },
  { view: "admin-taxonomy", label: "console.nav.admin-taxonomy", roles: ["admin", "auditor"], group: "admin" },
  { view: "admin-rules", label: "console.nav.admin-rules", roles: ["admin", "auditor"], group: "admin" },
  { view: "admin-models", label: "console.nav.admin-models", roles: ["admin", "auditor"], group: "admin" },
  { view: "evaluation", label: "console.nav.evaluation", roles: ["admin", "auditor", "commander", "shift_leader"], group: "analysis" },
  { view: "lifeline-alarms", label: "console.nav.lifeline-alarms", roles: null, group: "lifeline" },
  { view: "lifeline-devices", label: "console.nav.lifeline-devices", roles: null, group: "lifeline" },
  { view: "lifeline-deadletters", label: "console.nav.lifeline-deadletters", roles: ["admin", "auditor", "commander", "shift_leader"], group: "lifeline" },
];
const HIDDEN_VIEWS = new Set(["case", "lifeline-alarm"]); // reachable by link, not listed
const GROUPS = ["work", "lifeline", "admin", "analysis"];

const shell = { me: null, current: null, unmount: null, listeners: new Set(), seq: 0 };

function visible(entry, role) {
  return !entry.roles || entry.roles.includes(role);
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  // URLSearchParams (query.get("x")) that also reads as a plain object (query.x).
  const query = new URLSearchParams(search);
  for (const [k, v] of query) if (!(k in query)) query[k] = v;
  return { view: parts[0] || "queue", params: parts.slice(1), query };
}

function navigate(hash) {
  const target = hash.startsWith("#") ? hash : `#${hash}`;
  if (target === location.hash) route();
  else location.hash = target;
}

// -- header and nav ---------------------------------------------------------------------------

function header(me) {
  $("#lang-slot").replaceWith(langButton());
  $("#logout").addEventListener("click", logout);
  $("#user-name").textContent = me.username;
  const role = $("#user-role");
  role.dataset.i18n = `console.role.${me.role}`;
  role.textContent = tOr(`console.role.${me.role}`, me.role);
  $("#jump").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("#jump-input");
    const text = input.value.trim();
    if (!text) return;
    if (/^\d{1,9}$/.test(text)) return navigate(`#/case/${text}`);
    // A case number (or part of one, or any words): the search view.
    if (/^\d{10,}$/.test(text)) {
      try {
        const page = await api.get("/api/v1/cases", { q: text, limit: 2 });
        if (page.total === 1) return navigate(`#/case/${page.items[0].id}`);
      } catch (err) {
        toast(err.message, "error");
      }
    }
    navigate(`#/cases?q=${encodeURIComponent(text)}`);
  });
}

function renderNav(me, active) {
  const nav = $("#nav");
  const blocks = GROUPS.map((group) => {
    const items = NAV.filter((n) => n.group === group && visible(n, me.role));
    if (!items.length) return null;
    return h("div", { class: "c-nav__group" },
      h("h3", { "data-i18n": `console.group.${group}` }, t(`console.group.${group}`)),
      h("ul", {}, items.map((n) => h("li", {},
        h("a", { href: `#/${n.view}`, class: n.view === active ? "active" : null, dataset: { view: n.view },
          "aria-current": n.view === active ? "page" : null },
        h("span", { "data-i18n": n.label }, t(n.label)),
        n.key ? h("kbd", { title: `Alt+${n.key}` }, n.key) : null)))));
  });
  nav.replaceChildren(...blocks.filter(Boolean),
    h("p", { class: "c-nav__help muted", "data-i18n": "console.keys" }, t("console.keys")));
}

// -- toasts ---------------------------------------------------------------------------------

export function toast(text, kind = "ok") {
  const item = h("div", { class: `c-toast c-toast--${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  $("#toasts").append(item);
  setTimeout(() => item.classList.add("out"), kind === "error" ? 7000 : 3500);
  setTimeout(() => item.remove(), kind === "error" ? 7600 : 4100);
}

// -- live -------------------------------------------------------------------------------------

function startLive() {
  connect("/api/v1/live/stream", {
    onMessage: (msg) => shell.listeners.forEach((fn) => fn(msg)),
    onReset: () => shell.listeners.forEach((fn) => fn({ name: "reset" })),
    onStatus: (s) => {
      const el = $("#live-status");
      el.dataset.state = s;
      const b = el.querySelector("b");
      b.dataset.i18n = `live.${s}`;
      b.textContent = t(`live.${s}`);
    },
  });
}

function onLive(fn) {
  shell.listeners.add(fn);
  return () => shell.listeners.delete(fn);
}

// -- router -----------------------------------------------------------------------------------

function unavailable(el, view, detail) {
  el.replaceChildren(h("div", { class: "c-state c-state--empty" },
    h("h2", {}, t("console.unavailable.title")),
    h("p", { class: "muted" }, t("console.unavailable.text", { view })),
    detail ? h("p", { class: "muted small" }, detail) : null,
    h("a", { class: "btn", href: "#/queue" }, t("console.nav.queue"))));
}

async function route() {
  const { view, params, query } = parseHash();
  const el = $("#view");
  const seq = ++shell.seq;
  if (shell.unmount) {
    try {
      shell.unmount();
    } catch (err) {
      console.warn(err);
    }
    shell.unmount = null;
  }
  const entry = NAV.find((n) => n.view === view);
  renderNav(shell.me, entry ? view : (view === "case" ? null : view));
  const known = entry || HIDDEN_VIEWS.has(view);
  if (!/^[a-z][a-z0-9-]*$/.test(view) || !known) {
    unavailable(el, view);
    return;
  }
  if (entry && !visible(entry, shell.me.role)) {
    el.replaceChildren(h("div", { class: "c-state c-state--error" }, h("h2", {}, t("error.forbidden"))));
    return;
  }
  el.replaceChildren(h("p", { class: "c-loading muted" }, t("common.loading")));
  let mod;
  try {
    mod = await import(`./console/${view}.js`);
  } catch (err) {
    if (seq === shell.seq) unavailable(el, t(entry?.label ?? view), String(err?.message ?? err));
    return;
  }
  if (seq !== shell.seq) return; // the user moved on while the module loaded
  if (typeof mod.mount !== "function") {
    unavailable(el, t(entry?.label ?? view));
    return;
  }
  el.replaceChildren();
  el.dataset.view = view;
  const ctx = { me: shell.me, params, query, navigate, refresh: route, onLive, toast };
  try {
    const un = await mod.mount(el, ctx);
    if (seq === shell.seq) shell.unmount = typeof un === "function" ? un : null;
    else if (typeof un === "function") un();
  } catch (err) {
    if (seq !== shell.seq) return;
    el.replaceChildren(h("div", { class: "c-state c-state--error", role: "alert" },
      h("h2", {}, t("console.error.title")), h("p", {}, err?.message ?? String(err)),
      h("button", { class: "btn", type: "button", onclick: route }, t("common.retry"))));
  }
  $("#console").dataset.ready = "1";
}

function keyboard() {
  addEventListener("keydown", (ev) => {
    if (ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      const entry = NAV.find((n) => n.key === ev.key && visible(n, shell.me.role));
      if (entry) {
        ev.preventDefault();
        navigate(`#/${entry.view}`);
      }
      return;
    }
    const typing = ev.target.closest?.("input, textarea, select, [contenteditable]");
    if (ev.key === "/" && !typing && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      $("#jump-input").focus();
    }
  });
}

async function main() {
  if (!requireLogin()) return;
  await initI18n(["console", "admin", "lifeline"]);
  try {
    shell.me = await api.get("/api/v1/auth/me");
  } catch (err) {
    $("#view").replaceChildren(h("div", { class: "c-state c-state--error", role: "alert" },
      h("h2", {}, t("console.error.title")), h("p", {}, err.message),
      h("button", { class: "btn", type: "button", onclick: () => location.reload() }, t("common.retry"))));
    return;
  }
  header(shell.me);
  keyboard();
  addEventListener("hashchange", route);
  // Views build their text with t(): redraw the view (drafts live in localStorage, so an open
  // form comes back with what was typed).
  addEventListener("langchange", () => route());
  startLive();
  if (!location.hash) history.replaceState(null, "", "#/queue");
  await route();
}

main();
