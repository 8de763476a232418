// zh-CN by default, English on request, remembered in localStorage. Strings live in
// /static/i18n/<lang>.json (shared) and /static/i18n/<bundle>/<lang>.json (one page's own).
// Markup is translated by attribute: data-i18n="key" (text), data-i18n-attr="title:key;...".
// Switching language re-translates in place and fires "langchange" so pages redraw what they
// built themselves: nothing reloads, nothing typed is lost.

export const LANGS = ["zh-CN", "en"];
export const DEFAULT_LANG = "zh-CN";
const LANG_KEY = "cityops.lang";

let lang = pick(localStorage.getItem(LANG_KEY));
let bundles = [];
const strings = {}; // lang -> {key: text}

function pick(candidate) {
  return LANGS.includes(candidate) ? candidate : DEFAULT_LANG;
}

export function currentLang() {
  return lang;
}

async function fetchJson(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function load(which) {
  if (strings[which]) return;
  const parts = await Promise.all([
    fetchJson(`/static/i18n/${which}.json`),
    ...bundles.map((b) => fetchJson(`/static/i18n/${b}/${which}.json`)),
  ]);
  strings[which] = Object.assign({}, ...parts);
}

/** Load the shared strings and a page's bundles, then translate the document. */
export async function initI18n(pageBundles = []) {
  bundles = pageBundles;
  await Promise.all([load(lang), lang === DEFAULT_LANG ? null : load(DEFAULT_LANG)]);
  document.documentElement.lang = lang;
  translate(document);
}

/** t("screen.hotGrids.state", {open: 3}) — falls back to Chinese, then to the key. */
export function t(key, params) {
  const text = strings[lang]?.[key] ?? strings[DEFAULT_LANG]?.[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Translate one key that may be missing (a state or channel the UI does not know yet). */
export function tOr(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

const CJK = /[\u3400-\u9fff]/;

/** The API's messages read "English / 中文" (a few "中文 / English"): keep the user's half. */
export function localized(message) {
  if (typeof message !== "string" || !message.includes(" / ")) return message;
  const [first, second] = message.split(" / ", 2);
  const [zh, en] = CJK.test(first) && !CJK.test(second) ? [first, second] : [second, first];
  return lang === "en" ? en : zh;
}

export function translate(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n);
  });
  root.querySelectorAll("[data-i18n-attr]").forEach((el) => {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  });
  const titleKey = document.documentElement.dataset.title;
  if (titleKey && root === document) document.title = `${t(titleKey)} · CityOps`;
}

export async function setLang(next) {
  lang = pick(next);
  localStorage.setItem(LANG_KEY, lang);
  await load(lang);
  document.documentElement.lang = lang;
  translate(document);
  window.dispatchEvent(new CustomEvent("langchange", { detail: { lang } }));
}

export function toggleLang() {
  return setLang(lang === "en" ? "zh-CN" : "en");
}

// Numbers and times in the user's language, times in the city's zone.
export function fmtNumber(n, opts) {
  if (n === null || n === undefined) return "—";
  return new Intl.NumberFormat(lang, opts).format(n);
}

export function fmtPercent(ratio, digits = 1) {
  if (ratio === null || ratio === undefined) return "—";
  return fmtNumber(ratio, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtTime(iso, timeZone, opts = { hour: "2-digit", minute: "2-digit", second: "2-digit" }) {
  const d = iso instanceof Date ? iso : new Date(iso);
  return new Intl.DateTimeFormat(lang, { hourCycle: "h23", timeZone, ...opts }).format(d);
}
