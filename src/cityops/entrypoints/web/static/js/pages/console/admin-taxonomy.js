// 分类管理: the subclasses by major class; one category's name, urgency, time limits per stage,
// conditions, keywords and active flag, saved with the API's answer and its errors per field.
import { api } from "../../api.js";
import { t } from "../../i18n.js";
import { h } from "../../ui.js";
import { forgetCategories } from "./admin-lookup.js";
import { badge, canWrite, drafts, ensureCss, errorBox, errorText, field, loading, searchBox, showFieldErrors, stateBox, viewHeader } from "./admin-common.js";

const STAGES = ["accept", "verify", "dispatch", "handle", "check"];

export async function mount(el, ctx) {
  ensureCss();
  const writable = canWrite(ctx);
  const state = { rows: [], filter: "", selected: ctx.params?.[0] || null, showRetired: true };
  const listBox = h("nav", { class: "tax-list", "aria-label": t("tax.list") }, loading());
  const editor = h("div", { class: "adm-card tax-editor" }, stateBox("empty", t("tax.pick")));
  const count = h("span", { class: "muted" });

  el.replaceChildren(h("section", { class: "adm tax" },
    viewHeader("tax.title", "tax.subtitle"),
    h("div", { class: "adm-split" },
      h("div", { class: "adm-card adm-split__side" },
        h("div", { class: "adm-toolbar" }, searchBox("tax.search", (v) => { state.filter = v; drawList(); }), count),
        listBox),
      editor)));

  function drawList() {
    const q = state.filter.toLowerCase();
    const rows = state.rows.filter((c) => !q || `${c.key} ${c.name} ${c.major} ${(c.keywords || []).join(" ")}`.toLowerCase().includes(q));
    count.textContent = t("tax.count", { n: rows.length, total: state.rows.length });
    const groups = new Map();
    for (const c of rows) {
      const g = `${c.kind}|${c.major_key || c.major}`;
      if (!groups.has(g)) groups.set(g, { kind: c.kind, major: c.major, key: c.major_key, items: [] });
      groups.get(g).items.push(c);
    }
    if (!rows.length) {
      listBox.replaceChildren(stateBox("empty", t("tax.noMatch")));
      return;
    }
    listBox.replaceChildren(...[...groups.values()].map((g) => h("div", { class: "tax-group" },
      h("h3", {}, h("span", {}, g.major), h("small", { class: "muted" }, ` ${g.key || ""} · ${t(`tax.kind.${g.kind}`)}`)),
      h("ul", {}, g.items.map((c) => h("li", {}, h("button", {
        type: "button", class: `tax-item${state.selected === c.key ? " is-selected" : ""}${c.active ? "" : " is-retired"}`, dataset: { key: c.key },
        onclick: () => select(c.key),
      }, h("code", {}, c.key), h("span", { class: "tax-item__name" }, c.name),
      c.urgency === "urgent" ? badge(t("tax.urgent"), "bad") : null,
      c.active ? null : badge(t("tax.retired")))))))));
    listBox.addEventListener("keydown", onKeys);
  }

  function onKeys(e) {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const items = [...listBox.querySelectorAll(".tax-item")];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    items[Math.max(0, Math.min(items.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))]?.focus();
  }

  function select(key) {
    state.selected = key;
    ctx.navigate?.(`#/admin-taxonomy/${key}`);
    listBox.querySelectorAll(".tax-item").forEach((b) => b.classList.toggle("is-selected", b.dataset.key === key));
    drawEditor();
  }

  function drawEditor() {
    const c = state.rows.find((x) => x.key === state.selected);
    if (!c) {
      editor.replaceChildren(stateBox("empty", t("tax.pick")));
      return;
    }
    const draftKey = `category.${c.key}`;
    const d = drafts.get(draftKey) || {};
    const val = (k, fallback) => (k in d ? d[k] : fallback);
    const ro = !writable;
    const name = h("input", { name: "name", value: val("name", c.name), maxlength: "50", disabled: ro });
    const urgency = h("select", { name: "urgency", disabled: ro }, ["normal", "urgent"].map((u) => h("option", { value: u, selected: val("urgency", c.urgency) === u }, t(`tax.urgency.${u}`))));
    const limits = Object.fromEntries(STAGES.map((s) => [s, h("input", { name: `time_limits.${s}`, value: val(`tl.${s}`, c.time_limits?.[s] || ""), class: "tax-limit", disabled: ro, spellcheck: "false", "aria-label": t(`tax.stage.${s}`) })]));
    const filing = h("textarea", { name: "filing_condition", rows: "3", maxlength: "2000", disabled: ro }, val("filing_condition", c.filing_condition || ""));
    const closing = h("textarea", { name: "closing_condition", rows: "3", maxlength: "2000", disabled: ro }, val("closing_condition", c.closing_condition || ""));
    const keywords = h("input", { name: "keywords", value: val("keywords", (c.keywords || []).join("，")), disabled: ro || !("keywords" in c), placeholder: t("tax.keywordsHint") });
    const active = h("input", { type: "checkbox", name: "active", checked: val("active", c.active), disabled: ro });
    const save = h("button", { type: "submit", class: "btn btn-primary", disabled: ro }, t("admin.save"));
    const discard = h("button", { type: "button", class: "btn", disabled: ro, onclick: () => { drafts.clear(draftKey); drawEditor(); } }, t("admin.discard"));
    const other = h("div", { class: "adm-result" });
    const form = h("form", { class: "adm-form", novalidate: true },
      h("div", { class: "adm-row" }, field("tax.name", name, "name"), field("tax.urgencyLabel", urgency, "urgency"),
        h("label", { class: "adm-check", dataset: { field: "active" } }, active, h("span", {}, t("tax.active")), h("small", { class: "adm-field__error" }))),
      h("fieldset", { class: "tax-limits" }, h("legend", {}, t("tax.limits")),
        h("div", { class: "tax-limits__grid" }, STAGES.map((s) => field(`tax.stage.${s}`, limits[s], `time_limits.${s}`))),
        h("small", { class: "muted" }, t("tax.limitsHelp"))),
      field("tax.filing", filing, "filing_condition"),
      field("tax.closing", closing, "closing_condition"),
      field("tax.keywords", keywords, "keywords"),
      other,
      writable ? h("div", { class: "adm-row adm-row--end" }, h("span", { class: "muted tax-dirty" }), discard, save) : h("p", { class: "muted" }, t("admin.readOnly")));
    const snapshot = () => ({
      name: name.value, urgency: urgency.value, active: active.checked, filing_condition: filing.value, closing_condition: closing.value, keywords: keywords.value,
      ...Object.fromEntries(STAGES.map((s) => [`tl.${s}`, limits[s].value])),
    });
    const original = { name: c.name, urgency: c.urgency, active: c.active, filing_condition: c.filing_condition || "", closing_condition: c.closing_condition || "", keywords: (c.keywords || []).join("，"),
      ...Object.fromEntries(STAGES.map((s) => [`tl.${s}`, c.time_limits?.[s] || ""])) };
    const changed = () => {
      const now = snapshot();
      return Object.keys(now).filter((k) => now[k] !== original[k]);
    };
    const markDirty = () => {
      const n = changed().length;
      const tag = form.querySelector(".tax-dirty");
      if (tag) tag.textContent = n ? t("tax.unsaved", { n }) : "";
    };
    form.addEventListener("input", () => {
      const diff = changed();
      if (diff.length) drafts.set(draftKey, Object.fromEntries(diff.map((k) => [k, snapshot()[k]])));
      else drafts.clear(draftKey);
      markDirty();
    });
    form.addEventListener("change", () => form.dispatchEvent(new Event("input")));
    form.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "s") {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const diff = changed();
      if (!diff.length) {
        ctx.toast(t("tax.nothing"));
        return;
      }
      const now = snapshot();
      const patch = {};
      for (const k of diff) {
        if (k.startsWith("tl.")) (patch.time_limits ??= {})[k.slice(3)] = now[k].trim() || null;
        else if (k !== "keywords") patch[k] = typeof now[k] === "string" ? now[k].trim() : now[k];
      }
      save.disabled = true;
      other.replaceChildren();
      try {
        let result = { ...c };
        if (Object.keys(patch).length) result = { ...result, ...(await api.patch(`/api/v1/admin/categories/${c.key}`, patch)) };
        if (diff.includes("keywords")) {
          const words = now.keywords.split(/[,，;；\s]+/).map((w) => w.trim()).filter(Boolean);
          result = { ...result, ...(await api.put(`/api/v1/admin/categories/${c.key}/keywords`, { keywords: words })) };
        }
        Object.assign(c, result);
        drafts.clear(draftKey);
        forgetCategories();
        ctx.toast(t("tax.saved", { key: c.key, name: c.name }));
        drawList();
        drawEditor();
      } catch (err) {
        const rest = showFieldErrors(form, err);
        if (rest.length || !err.details?.problems) other.replaceChildren(errorBox({ ...err, message: errorText(err), details: { problems: rest } }));
        const first = form.querySelector(".is-invalid input, .is-invalid select, .is-invalid textarea");
        first?.focus();
      } finally {
        save.disabled = false;
      }
    });
    editor.replaceChildren(
      h("header", { class: "tax-editor__head" }, h("div", {}, h("h2", {}, h("code", {}, c.key), " ", c.name),
        h("p", { class: "muted" }, `${c.major} · ${t(`tax.kind.${c.kind}`)}${c.owner_hint ? ` · ${t("tax.owner")} ${c.owner_hint}` : ""}`)),
      c.active ? badge(t("tax.activeBadge"), "good") : badge(t("tax.retired"))),
      form);
    markDirty();
  }

  async function load() {
    listBox.replaceChildren(loading());
    try {
      state.rows = await api.get("/api/v1/admin/categories");
      drawList();
      drawEditor();
      if (state.selected) listBox.querySelector(`[data-key="${state.selected}"]`)?.scrollIntoView({ block: "center" });
    } catch (err) {
      listBox.replaceChildren(errorBox(err, load));
    }
  }
  await load();
  const onLang = () => { drawList(); drawEditor(); };
  window.addEventListener("langchange", onLang);
  return () => window.removeEventListener("langchange", onLang);
}
