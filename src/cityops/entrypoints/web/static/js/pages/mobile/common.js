// Pieces the mobile views share: toast, confirm sheet, deadline text, cached reads.
import { api, currentUser } from "../../api.js";
import { fmtTime, t, tOr } from "../../i18n.js";
import { $, h } from "../../ui.js";

export const app = { tz: "Asia/Shanghai", me: null, transitions: null };

let toastTimer = null;
/** A short message at the bottom; kind "good" | "bad" | "" */
export function toast(text, kind = "") {
  const el = $("#m-toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), kind === "bad" ? 6000 : 3500);
}

/** A bottom sheet asking to confirm; resolves true or false. */
export function confirmSheet(message, okLabel, { danger = false } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: `btn m-btn ${danger ? "m-btn-danger" : "btn-primary"}` }, okLabel);
    const cancel = h("button", { type: "button", class: "btn m-btn" }, t("common.cancel"));
    const dialog = h("dialog", { class: "m-sheet" }, h("p", { class: "m-sheet__text" }, message),
      h("div", { class: "m-sheet__actions" }, cancel, ok));
    document.body.append(dialog);
    const done = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      done(false);
    });
    dialog.showModal();
    ok.focus();
  });
}

function span(seconds) {
  const s = Math.abs(seconds);
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return t("mobile.unit.dh", { d, h: hrs });
  if (hrs) return t("mobile.unit.hm", { h: hrs, m });
  return t("mobile.unit.m", { m: Math.max(m, s > 0 ? 1 : 0) });
}

/** "剩 3小时20分" / "超期 1天2小时" / "已暂停" from a case's clock. */
export function clockText(clock) {
  if (!clock) return t("mobile.clock.none");
  if (clock.paused) return t("mobile.clock.paused");
  const left = clock.remaining_seconds;
  return left < 0 ? t("mobile.clock.over", { time: span(left) }) : t("mobile.clock.left", { time: span(left) });
}

export function dueText(clock) {
  if (!clock) return "";
  return t("mobile.clock.due", { at: fmtTime(clock.due_at, app.tz, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }) });
}

export function when(ms) {
  return fmtTime(new Date(ms), app.tz, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function stateName(state) {
  return tOr(`state.${state}`, state);
}

export function actionName(action, fallback) {
  return tOr(`mobile.action.${action}`, fallback || action);
}

/** A read kept on the phone too (per user), for when the network and the service worker fail. */
export async function cachedGet(key, path, query) {
  const store = `cityops.m.cache.${currentUser()?.username}.${key}`;
  if (!navigator.onLine) {
    const saved = JSON.parse(localStorage.getItem(store) || "null");
    if (saved) return { data: saved.data, at: saved.at, fresh: false };
  }
  try {
    const data = await api.get(path, query);
    try {
      localStorage.setItem(store, JSON.stringify({ at: Date.now(), data }));
    } catch {
      /* storage full: the service worker's cache still has it */
    }
    return { data, at: Date.now(), fresh: navigator.onLine };
  } catch (err) {
    const saved = JSON.parse(localStorage.getItem(store) || "null");
    if ((err.status === 0 || err.code === "offline") && saved) return { data: saved.data, at: saved.at, fresh: false };
    throw err;
  }
}

/** The workflow table (which actions need a note …), fetched once. */
export async function transitions() {
  if (!app.transitions) {
    const { data } = await cachedGet("transitions", "/api/v1/cases/transitions");
    app.transitions = new Map(data.map((tr) => [tr.action, tr]));
  }
  return app.transitions;
}

export function errorBox(err, retry) {
  return h("div", { class: "m-empty m-empty--error", role: "alert" },
    h("p", {}, err.status === 403 ? t("error.forbidden") : err.message),
    retry && h("button", { type: "button", class: "btn m-btn", onclick: retry }, t("common.retry")));
}

/** Replace an element's children, skipping the null/false of optional parts (h() skips them,
 * replaceChildren would write "null"). */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function empty(text, sub) {
  return h("div", { class: "m-empty" }, h("p", {}, text), sub && h("p", { class: "muted" }, sub));
}
