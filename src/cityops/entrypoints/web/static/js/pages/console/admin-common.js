// Shared by the console's management and evaluation views: stylesheet, tables, dialogs,
// error and problem rendering, drafts, file reading. Views import only what they use; toasts
// are the shell's (ctx.toast), requests and downloads api.js's.
import { ApiError, currentUser } from "../../api.js";
import { localized, t } from "../../i18n.js";
import { draftStore, h, linkStylesheet } from "../../ui.js";

/** Link css/console-admin.css (the shell links only its own stylesheet). */
export function ensureCss() {
  linkStylesheet("/static/css/console-admin.css");
}

export function roleOf(ctx) {
  return ctx?.me?.role || currentUser()?.role || null;
}

/** Auditors (and everybody who is not an admin) read; only admins write. */
export function canWrite(ctx) {
  return roleOf(ctx) === "admin";
}

/** The page header of a view: title, subtitle and buttons on the right. */
export function viewHeader(titleKey, subKey, ...actions) {
  return h("header", { class: "adm-head" },
    h("div", {}, h("h1", { "data-i18n": titleKey }, t(titleKey)),
      subKey ? h("p", { class: "muted", "data-i18n": subKey }, t(subKey)) : null),
    h("div", { class: "adm-head__actions" }, ...actions));
}

/** A loading / empty / error placeholder inside a panel. */
export function stateBox(kind, text, retry) {
  return h("div", { class: `adm-state adm-state--${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, text),
    retry ? h("button", { type: "button", class: "btn", onclick: retry }, t("admin.retry")) : null);
}

export function loading() {
  return stateBox("loading", t("admin.loading"));
}

/** The API's problem list ({item, reason}) under an error message, each offender named. */
export function problemsOf(err) {
  const list = err?.details?.problems;
  return Array.isArray(list) ? list : [];
}

export function errorBox(err, retry) {
  const problems = problemsOf(err);
  const box = stateBox("error", errorText(err), retry);
  if (problems.length) {
    box.append(h("ul", { class: "adm-problems" },
      problems.slice(0, 200).map((p) => h("li", {}, h("code", {}, p.item ?? p.cell ?? ""), " ", localized(p.reason ?? p.message ?? JSON.stringify(p))))));
    if (problems.length > 200) box.append(h("p", { class: "muted" }, t("admin.moreProblems", { n: problems.length - 200 })));
  }
  return box;
}

export function errorText(err) {
  if (err instanceof ApiError) return err.message ? localized(err.message) : t("admin.error");
  return localized(String(err?.message || err || t("admin.error")));
}

/** Ask before a destructive action; resolves true on confirm. */
export function confirmAction(message, okKey = "admin.confirm") {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: "dialog adm-confirm" },
      h("p", {}, message),
      h("div", { class: "adm-confirm__actions" },
        h("button", { type: "button", class: "btn", value: "no", onclick: () => dlg.close("no") }, t("admin.cancel")),
        h("button", { type: "button", class: "btn btn-danger", value: "yes", onclick: () => dlg.close("yes") }, t(okKey))));
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "yes");
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A dialog holding `body` (an element); returns {dialog, close}. */
export function modal(titleKey, body, { wide = false } = {}) {
  const dlg = h("dialog", { class: `dialog adm-modal${wide ? " adm-modal--wide" : ""}` },
    h("header", { class: "adm-modal__head" }, h("h2", {}, t(titleKey)),
      h("button", { type: "button", class: "btn btn-ghost", "aria-label": t("admin.close"), onclick: () => dlg.close() }, "×")),
    body);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return { dialog: dlg, close: () => dlg.close() };
}

export const drafts = draftStore("cityops.draft.admin.");

export function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file, "utf-8");
  });
}

/**
 * A sortable table: columns [{key, label, title?, value(row), render?(row), num?}], rows.
 * Headers are buttons (keyboard-sortable); onRow(row, tr) makes rows selectable.
 */
export function sortableTable({ columns, rows, sort = null, onRow = null, rowKey = null, selected = null, empty = null, className = "" }) {
  const state = { key: sort?.key ?? null, dir: sort?.dir ?? 1 };
  const table = h("table", { class: `adm-table ${className}` });
  const draw = () => {
    const col = columns.find((c) => c.key === state.key);
    const data = col
      ? [...rows].sort((a, b) => {
          const x = col.value(a), y = col.value(b);
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * state.dir;
        })
      : rows;
    table.replaceChildren(
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "", title: c.title || null, "aria-sort": state.key === c.key ? (state.dir > 0 ? "ascending" : "descending") : null },
        c.sortable === false ? c.label : h("button", { type: "button", class: "adm-sort", onclick: () => {
          state.dir = state.key === c.key ? -state.dir : (c.num ? -1 : 1);
          state.key = c.key;
          draw();
        } }, c.label, h("span", { class: "adm-sort__arrow" }, state.key === c.key ? (state.dir > 0 ? "▲" : "▼") : "")))))),
      h("tbody", {}, data.length ? data.map((r) => {
        const tr = h("tr", { class: selected && rowKey && selected === rowKey(r) ? "is-selected" : "", tabindex: onRow ? "0" : null, dataset: rowKey ? { key: rowKey(r) } : {} },
          columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : fmtCell(c.value(r)))));
        if (onRow) {
          tr.addEventListener("click", () => onRow(r, tr));
          tr.addEventListener("keydown", (e) => {
            if (e.key === "Enter") onRow(r, tr);
            if (e.key === "ArrowDown") tr.nextElementSibling?.focus();
            if (e.key === "ArrowUp") tr.previousElementSibling?.focus();
          });
        }
        return tr;
      }) : h("tr", {}, h("td", { colspan: columns.length, class: "adm-empty" }, empty || t("admin.empty")))),
    );
  };
  draw();
  return { table, redraw: draw, setRows(next) { rows = next; draw(); }, setSelected(key) { selected = key; draw(); } };
}

function fmtCell(v) {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

/** A labelled field; error slot filled by showFieldErrors. */
export function field(labelKey, input, name) {
  return h("label", { class: "adm-field", dataset: { field: name || "" } }, h("span", {}, t(labelKey)), input, h("small", { class: "adm-field__error" }));
}

/** Put each API problem under the field it names ({item: "time_limits.handle"}). */
export function showFieldErrors(form, err) {
  form.querySelectorAll(".adm-field__error").forEach((e) => (e.textContent = ""));
  form.querySelectorAll(".is-invalid").forEach((e) => e.classList.remove("is-invalid"));
  const rest = [];
  for (const p of problemsOf(err)) {
    const slot = form.querySelector(`[data-field="${CSS.escape(String(p.item))}"]`);
    if (slot) {
      slot.classList.add("is-invalid");
      slot.querySelector(".adm-field__error").textContent = localized(p.reason);
    } else rest.push(p);
  }
  return rest;
}

export function badge(text, kind = "") {
  return h("span", { class: `adm-badge ${kind ? `adm-badge--${kind}` : ""}` }, text);
}

/** A search box that calls back as one types (debounced). */
export function searchBox(placeholderKey, onInput, value = "") {
  let timer = null;
  const input = h("input", { type: "search", class: "adm-search", placeholder: t(placeholderKey), "aria-label": t(placeholderKey), value });
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => onInput(input.value.trim()), 120);
  });
  return input;
}
