// Small DOM helpers shared by the pages: no framework, just functions.
import { currentLang, t, toggleLang } from "./i18n.js";

/** h("li", {class: "x", onclick: fn, dataset: {id: 1}}, "text", child) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Run fn at most once per `ms`, the last call winning (a burst of events → one refetch). */
export function throttle(fn, ms) {
  let timer = null;
  let again = false;
  return function run() {
    if (timer) {
      again = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (again) {
        again = false;
        run();
      }
    }, ms);
  };
}

/** A button that switches zh-CN ⇄ English (its label names the other language). */
export function langButton(className = "btn btn-ghost") {
  const button = h("button", { type: "button", class: className, "data-i18n": "common.lang",
    title: "Language / 语言" }, t("common.lang"));
  button.addEventListener("click", () => toggleLang());
  return button;
}

/** Count a number up to its new value (figures on a screen should be seen changing). */
export function animateNumber(el, value, format) {
  const from = Number(el.dataset.value ?? 0);
  el.dataset.value = String(value);
  if (value === null || value === undefined || Number.isNaN(from) || from === value) {
    el.textContent = format(value);
    return;
  }
  const start = performance.now();
  const step = (now) => {
    const k = Math.min(1, (now - start) / 800);
    const eased = 1 - (1 - k) ** 3;
    el.textContent = format(k < 1 ? from + (value - from) * eased : value);
    if (k < 1) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
  el.classList.remove("bump");
  void el.offsetWidth; // restart the CSS animation
  el.classList.add("bump");
}

export function isEnglish() {
  return currentLang() === "en";
}

/** Link a stylesheet once (a view's own; the page links only the shell's). */
export function linkStylesheet(href) {
  const present = [...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.getAttribute("href") === href);
  if (!present) document.head.append(h("link", { rel: "stylesheet", href }));
}

/** Hand a Blob to the browser as a download named `filename`. */
export function saveFile(blob, filename) {
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/**
 * Form drafts: what was typed survives a reload, a crash or a re-login until it is sent. Kept
 * as JSON in localStorage under `prefix` + key; one that does not parse reads as none (null).
 */
export function draftStore(prefix = "") {
  return {
    get(key) {
      try {
        return JSON.parse(localStorage.getItem(prefix + key) || "null");
      } catch {
        return null;
      }
    },
    set(key, value) {
      localStorage.setItem(prefix + key, JSON.stringify(value));
    },
    clear(key) {
      localStorage.removeItem(prefix + key);
    },
  };
}
