// The action forms of the case view: one small form per workflow action with just the fields
// that action needs. What is typed is kept as a draft in localStorage (a reload or a re-login
// brings it back); the Idempotency-Key is made once per form, so a double click acts once.
import { api, newIdempotencyKey } from "../../api.js";
import { localized, t, tOr } from "../../i18n.js";
import { h } from "../../ui.js";
import { act, categories, clearDraft, departments, loadDraft, outcomeText, saveDraft } from "./work-common.js";

export const NOTE_REQUIRED = new Set(["invalidate", "refute", "redispatch", "return", "complete", "check_fail",
  "request_extension", "deny_extension", "suspend", "supervise", "reopen", "reject_duplicate"]);
// Actions that end or reverse work: their button is drawn as a warning.
export const DANGER = new Set(["invalidate", "refute", "return", "check_fail", "deny_extension", "suspend", "reject_duplicate"]);
export const PRIMARY = new Set(["accept", "verify", "open", "dispatch", "start", "complete", "check_pass", "close",
  "approve_extension", "resume", "fast_track"]);
const EXTENSIONS = ["4wh", "8wh", "1wd", "2wd", "3wd", "5wd", "10wd"];

function field(labelKey, control, hint) {
  return h("label", { class: "f" }, h("span", {}, t(labelKey)), control, hint ? h("small", { class: "muted" }, hint) : null);
}

/**
 * actionForm(detail, action, {onDone(outcome), onCancel(), toast}) → element.
 * detail: the case as GET /api/v1/cases/{id} answers it.
 */
export async function actionForm(detail, action, { onDone, onCancel, toast }) {
  const draftKey = `${detail.id}.${action}`;
  const draft = loadDraft(draftKey) || {};
  const key = newIdempotencyKey();
  const controls = {};
  const parts = [];

  if (action === "dispatch" || action === "redispatch") {
    const depts = await departments();
    const suggested = detail.routing?.department_id ?? null;
    const select = h("select", { name: "department_id", required: true });
    select.append(h("option", { value: "" }, t("console.form.pickDept")));
    const ordered = [...depts].sort((a, b) => (b.id === suggested) - (a.id === suggested));
    for (const d of ordered) {
      const label = d.id === suggested ? `${d.name} · ${t("console.form.suggested")}` : d.name;
      select.append(h("option", { value: String(d.id), disabled: action === "redispatch" && d.id === detail.department_id || null }, label));
    }
    const initial = draft.department_id ?? (action === "dispatch" ? suggested : null);
    if (initial != null) select.value = String(initial);
    controls.department_id = select;
    const why = detail.routing?.explanation;
    parts.push(field("console.form.department", select, why ? localized(why) : t("console.form.noRouting")));
  }
  if (action === "request_extension") {
    const select = h("select", { name: "extension", required: true },
      EXTENSIONS.map((e) => h("option", { value: e }, tOr(`console.limit.${e}`, e))));
    select.value = draft.extension || "1wd";
    controls.extension = select;
    parts.push(field("console.form.extension", select));
  }
  if (action === "rate") {
    const select = h("select", { name: "rating", required: true },
      h("option", { value: "" }, "—"), [5, 4, 3, 2, 1].map((n) => h("option", { value: String(n) }, "★".repeat(n))));
    select.value = draft.rating ?? "";
    controls.rating = select;
    parts.push(field("console.form.rating", select));
  }
  if (action === "amend") {
    const cats = await categories();
    const select = h("select", { name: "category" }, h("option", { value: "" }, t("console.form.keepCategory")),
      cats.filter((c) => /^[CE]\d{4}$/.test(c.key)).map((c) => h("option", { value: c.key }, `${c.key} ${c.name}`)));
    select.value = draft.category ?? "";
    controls.category = select;
    const lon = h("input", { name: "lon", inputmode: "decimal", placeholder: "121.50", value: draft.lon ?? "" });
    const lat = h("input", { name: "lat", inputmode: "decimal", placeholder: "31.20", value: draft.lat ?? "" });
    controls.lon = lon;
    controls.lat = lat;
    parts.push(field("console.form.category", select),
      h("div", { class: "f-row" }, field("console.form.lon", lon), field("console.form.lat", lat)));
  }
  if (action === "merge") {
    const into = h("input", { name: "into", required: true, maxlength: "20", autocomplete: "off",
      value: draft.into ?? detail.duplicate_suggestion?.case_no ?? "" });
    controls.into = into;
    parts.push(field("console.form.into", into));
  }
  let files = null;
  if (action === "complete") {
    files = h("input", { type: "file", name: "photos", accept: "image/*", multiple: true });
    parts.push(field("console.form.photos", files, t("console.form.photosHint")));
  }
  const note = h("textarea", { name: "note", rows: "3", maxlength: "2000", required: NOTE_REQUIRED.has(action) || null,
    placeholder: t(NOTE_REQUIRED.has(action) ? "console.form.noteRequired" : "console.form.noteOptional") });
  note.value = draft.note ?? "";
  controls.note = note;
  parts.push(field(NOTE_REQUIRED.has(action) ? "console.form.note" : "console.form.noteOpt", note));

  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: `btn ${DANGER.has(action) ? "btn-danger" : "btn-primary"}` },
    t("console.form.submit", { action: tOr(`console.action.${action}`, action) }));
  const cancel = h("button", { type: "button", class: "btn" }, t("common.cancel"));
  const saved = h("small", { class: "muted draft-note" }, draft.saved_at ? t("console.form.draftRestored") : "");
  const form = h("form", { class: "action-form", dataset: { action } },
    h("h3", {}, tOr(`console.action.${action}`, action), h("small", { class: "muted" }, ` · ${detail.case_no}`)),
    parts, error, h("div", { class: "action-form__bar" }, saved, cancel, submit));

  const values = () => Object.fromEntries(Object.entries(controls).map(([k, el]) => [k, el.value]));
  form.addEventListener("input", () => {
    saveDraft(draftKey, values());
    saved.textContent = t("console.form.draftSaved");
  });
  cancel.addEventListener("click", () => onCancel?.());
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") onCancel?.();
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (submit.disabled) return;
    const v = values();
    error.textContent = "";
    if (NOTE_REQUIRED.has(action) && !v.note.trim()) {
      error.textContent = t("console.form.needNote");
      note.focus();
      return;
    }
    const body = {};
    if (v.note?.trim()) body.note = v.note.trim();
    if (controls.department_id) {
      if (!v.department_id) { error.textContent = t("console.form.needDept"); return; }
      body.department_id = Number(v.department_id);
    }
    if (controls.extension) body.extension = v.extension;
    if (controls.rating) {
      if (!v.rating) { error.textContent = t("console.form.needRating"); return; }
      body.rating = Number(v.rating);
    }
    if (action === "amend") {
      if (v.category) body.category = v.category;
      if (v.lon || v.lat) {
        const lon = Number(v.lon);
        const lat = Number(v.lat);
        if (!Number.isFinite(lon) || !Number.isFinite(lat) || !v.lon || !v.lat) {
          error.textContent = t("console.form.badPoint");
          return;
        }
        body.location = { lon, lat };
      }
      if (!body.category && !body.location) { error.textContent = t("console.form.needAmend"); return; }
    }
    if (controls.into) body.into = v.into.trim();
    submit.disabled = true;
    cancel.disabled = true;
    submit.textContent = t("console.form.busy");
    try {
      if (files?.files.length) {
        const data = new FormData();
        for (const f of files.files) data.append("file", f, f.name);
        const stored = await api.post("/api/v1/media", data);
        body.media = stored.map((m) => m.ref);
      }
      const outcome = await act(detail.id, action, body, key);
      clearDraft(draftKey);
      toast?.(outcomeText(outcome), "ok");
      onDone?.(outcome);
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
      cancel.disabled = false;
      submit.textContent = t("console.form.submit", { action: tOr(`console.action.${action}`, action) });
    }
  });
  queueMicrotask(() => (controls.department_id || controls.into || controls.category || note).focus());
  return form;
}
