// 移动巡查 (/m): the phone app of grid inspectors and department handlers. 我的任务, 上报 with
// camera and GPS, the task's action form, and an outbox that keeps every submission on the
// phone until the API has it (mobile/outbox.js). A service worker (/m/sw.js) keeps the app
// shell so it opens without a network. Views are hash routes: #tasks #report #outbox #case/<id>.
import { api, clearSession, currentUser, login, setUnauthorizedHandler, token, uiConfig } from "../api.js";
import { initI18n, t, tOr } from "../i18n.js";
import { $, h, langButton } from "../ui.js";
import { actionName, app, cachedGet, confirmSheet, toast, transitions } from "./mobile/common.js";
import { leaveCase, refreshCaseActions, renderCase } from "./mobile/detail.js";
import { flush, items, loginNeeded, onChange, start as startOutbox } from "./mobile/outbox.js";
import { renderOutbox } from "./mobile/outboxView.js";
import { initReport, renderReport, showReport } from "./mobile/report.js";
import { pullToRefresh, refreshTasks, renderTasks, taskKinds } from "./mobile/tasks.js";

const API_CACHE = "cityops-m-api";
const TITLES = { tasks: "mobile.title.tasks", report: "mobile.title.report", outbox: "mobile.title.outbox" };

// -- sign in ------------------------------------------------------------------------------------

let loginWaiter = null;

/** The full-screen sign-in; again: the token expired (the queue stays, "later" allowed). */
function showLogin({ again = false } = {}) {
  if (loginWaiter) return loginWaiter.promise;
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  loginWaiter = { promise, resolve };
  $("#m-login").hidden = false;
  $("#m-login-why").hidden = !again;
  $("#m-login-later").hidden = !again;
  const user = $("#m-username");
  user.value = currentUser()?.username || user.value;
  (user.value ? $("#m-password") : user).focus();
  return promise;
}

function closeLogin(ok) {
  $("#m-login").hidden = true;
  $("#m-password").value = "";
  const waiter = loginWaiter;
  loginWaiter = null;
  waiter?.resolve(ok);
}

function setupLogin() {
  $("#m-lang-slot").replaceWith(langButton("btn btn-ghost m-btn"));
  uiConfig().then((c) => { $("#m-city").textContent = c.city?.name ?? ""; }).catch(() => {});
  $("#m-login-later").addEventListener("click", () => closeLogin(false));
  $("#m-login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = $("#m-login-error");
    const submit = $("#m-login-submit");
    const username = $("#m-username").value.trim();
    const password = $("#m-password").value;
    if (!username || !password) {
      error.textContent = t("mobile.login.missing");
      return;
    }
    const before = currentUser()?.username;
    submit.disabled = true;
    error.textContent = navigator.onLine ? "" : t("mobile.login.offline");
    try {
      await login(username, password);
      if (before && before !== username) await dropCaches();
      closeLogin(true);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
}

/** Another user on this phone must not see the last one's cached lists. */
async function dropCaches() {
  await window.caches?.delete(API_CACHE);
}

async function logout() {
  const mine = (await items()).filter((i) => i.user === currentUser()?.username).length;
  const ask = mine ? t("mobile.me.logoutPending", { n: mine }) : t("mobile.me.logoutAsk");
  if (!(await confirmSheet(ask, t("common.logout"), { danger: mine > 0 }))) return;
  clearSession();
  await dropCaches();
  location.hash = "#tasks";
  location.reload();
}

function meSheet() {
  const me = app.me || {};
  const close = h("button", { type: "button", class: "btn m-btn" }, t("mobile.close"));
  const out = h("button", { type: "button", class: "btn m-btn m-btn-danger-ghost", id: "m-logout" }, t("common.logout"));
  const dialog = h("dialog", { class: "m-sheet" },
    h("p", { class: "m-sheet__text" }, h("b", {}, me.username || currentUser()?.username || ""),
      h("br"), h("span", { class: "muted" }, tOr(`mobile.role.${me.role}`, me.role || ""))),
    h("div", { class: "m-sheet__actions" }, langButton("btn m-btn"), out, close));
  const done = () => { dialog.close(); dialog.remove(); };
  close.addEventListener("click", done);
  out.addEventListener("click", () => { done(); logout(); });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// -- shell --------------------------------------------------------------------------------------

function network() {
  const online = navigator.onLine;
  const el = $("#m-net");
  el.dataset.state = online ? "online" : "offline";
  el.querySelector("b").textContent = t(online ? "mobile.net.online" : "mobile.net.offline");
  banner();
}

function banner() {
  const el = $("#m-banner");
  if (loginNeeded()) {
    el.replaceChildren(h("span", {}, t("mobile.banner.login")),
      h("button", { type: "button", class: "btn m-btn", onclick: async () => { if (await showLogin({ again: true })) flush(); } },
        t("login.submit")));
    el.dataset.kind = "login";
    el.hidden = false;
  } else if (!navigator.onLine) {
    el.replaceChildren(t("mobile.banner.offline"));
    el.dataset.kind = "offline";
    el.hidden = false;
  } else {
    el.hidden = true;
  }
}

function route() {
  const [name, arg] = (location.hash.slice(1) || "tasks").split("/");
  const view = ["tasks", "report", "outbox", "case"].includes(name) ? name : "tasks";
  if (view === "report" && app.me?.role !== "inspector") {
    location.replace("#tasks");
    return;
  }
  $("#m-app").dataset.view = view;
  for (const el of document.querySelectorAll(".m-view")) el.hidden = el.dataset.view !== view;
  for (const a of document.querySelectorAll(".m-tabs a")) a.setAttribute("aria-current", a.dataset.tab === view ? "page" : "false");
  $("#m-back").hidden = view !== "case";
  $("#m-tabs").hidden = view === "case";
  if (view !== "case") {
    leaveCase();
    $("#m-title").dataset.i18n = TITLES[view];
    $("#m-title").textContent = t(TITLES[view]);
  } else {
    delete $("#m-title").dataset.i18n;
  }
  $("#m-main").scrollTop = 0;
  if (view === "tasks") renderTasks();
  if (view === "report") showReport();
  if (view === "outbox") renderOutbox();
  if (view === "case") renderCase(Number(arg));
}

async function loadMe() {
  const { data } = await cachedGet("me", "/api/v1/auth/me");
  app.me = data;
  $("#m-me").textContent = (data.username || "?").slice(0, 1).toUpperCase();
  $("#m-me").title = data.username;
  $("#tab-report").hidden = data.role !== "inspector";
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m" }).catch((err) => {
    console.warn("service worker not registered; the app will not open offline", err);
  });
}

async function main() {
  registerServiceWorker();
  await initI18n(["mobile"]);
  setupLogin();
  setUnauthorizedHandler(() => showLogin({ again: true }));
  uiConfig().then((c) => { app.tz = c.timezone || app.tz; }).catch(() => {});
  if (!token()) await showLogin();
  for (;;) {
    try {
      await loadMe();
      break;
    } catch (err) {
      if (err.status === 401) continue; // signed in again: ask again
      document.body.append(h("div", { class: "m-fatal", role: "alert" }, err.message,
        h("button", { type: "button", class: "btn m-btn", onclick: () => location.reload() }, t("common.retry"))));
      return;
    }
  }
  network();
  addEventListener("online", () => { network(); refreshTasks(); });
  addEventListener("offline", network);
  addEventListener("hashchange", route);
  addEventListener("langchange", () => { network(); route(); renderReport(); });
  $("#m-me").addEventListener("click", meSheet);
  $("#m-refresh").addEventListener("click", refreshTasks);
  pullToRefresh($("#m-main"));
  onChange(async (sent) => {
    banner();
    await renderOutbox();
    if (sent) {
      toast(sent.kind === "report"
        ? t("mobile.outbox.sentReport", { no: sent.result?.case_no || "" })
        : t("mobile.outbox.sentAction", { action: `${actionName(sent.action)} · ${sent.title}` }), "good");
      if (sent.kind === "action") refreshTasks();
      if (sent.kind !== "report") refreshCaseActions();
    }
  });
  await initReport();
  transitions().catch(() => {}); // kept for the action forms offline
  startOutbox();
  route();
  if (taskKinds()) refreshTasks();
  setInterval(() => {
    if (navigator.onLine && document.visibilityState === "visible" && $("#m-app").dataset.view === "tasks") refreshTasks();
  }, 60000);
  $("#m-app").dataset.ready = "1";
}

main();
