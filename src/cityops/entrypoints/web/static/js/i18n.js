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

// Han characters (with full-width punctuation) and Latin letters, to tell the halves apart.
const HAN = /[\u3400-\u9fff\uff00-\uffef]/;
const LATIN = /[A-Za-z]/;
const count = (text, re) => (text.match(new RegExp(re, "g")) || []).length;

/**
 * The user's half of a text the API (or its data) writes in both languages: "English / 中文",
 * "中文 / English", "中文（注）/ English", "中文/English". Slashes between spaces (the API's way)
 * are tried first, then those with a space on one side, then bare ones, which may belong to a
 * half ("lon/lat", "GB/T"): the split with Chinese on one side only; failing that, for an English
 * half quoting Chinese terms ("came back (回退)"), the spaced split leaving the fewest of them on
 * the English side; a bare slash only between Chinese without Latin letters and English. A text
 * no slash divides that way ("colour (绿/黄/红)", "a / b") is not bilingual: kept whole.
 */
export function localized(text) {
  if (typeof text !== "string" || !text.includes("/")) return text;
  const splits = [[], [], []]; // by spaces beside the slash: two, one, none
  for (let i = text.indexOf("/"); i >= 0; i = text.indexOf("/", i + 1)) {
    const left = text.slice(0, i).trim();
    const right = text.slice(i + 1).trim();
    const spaces = (text[i - 1] === " ") + (text[i + 1] === " ");
    if (left && right) splits[2 - spaces].push({ left, right });
  }
  const halves = chineseOnOneSide(splits[0]) ?? chineseOnOneSide(splits[1])
    ?? englishQuoting([...splits[0], ...splits[1]])
    ?? chineseOnOneSide(splits[2], (zh) => !LATIN.test(zh));
  if (!halves) return text;
  return lang === "en" ? halves.en : halves.zh;
}

function chineseOnOneSide(splits, accept = () => true) {
  for (const { left, right } of splits) {
    const l = HAN.test(left);
    if (l === HAN.test(right)) continue;
    const halves = l ? { zh: left, en: right } : { zh: right, en: left };
    if (accept(halves.zh)) return halves;
  }
  return null;
}

// The English side must be mostly Latin and hold well under half the Chinese side's Han.
function englishQuoting(splits) {
  let best = null;
  for (const { left, right } of splits) {
    for (const [zh, en] of [[left, right], [right, left]]) {
      const quoted = count(en, HAN);
      if (quoted * 2 >= count(en, LATIN) || quoted * 2 >= count(zh, HAN)) continue;
      if (!best || quoted < best.quoted) best = { zh, en, quoted };
    }
  }
  return best;
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

/** "+08:00": the zone's offset from UTC now, for datetime-local values sent as ISO times. */
export function offsetOf(timeZone) {
  const name = new Intl.DateTimeFormat("en", { timeZone, timeZoneName: "longOffset" }).formatToParts(new Date())
    .find((p) => p.type === "timeZoneName")?.value || "GMT+08:00";
  return name.match(/GMT([+-]\d\d:\d\d)/)?.[1] || "+00:00";
}

export function fmtTime(iso, timeZone, opts = { hour: "2-digit", minute: "2-digit", second: "2-digit" }) {
  const d = iso instanceof Date ? iso : new Date(iso);
  return new Intl.DateTimeFormat(lang, { hourCycle: "h23", timeZone, ...opts }).format(d);
}
