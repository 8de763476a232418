// One task: the case as the API tells it, its photos and recent steps, and exactly the actions
// the API allows this user (allowed_actions). An action's form (note, result photos, extension)
// is kept as a draft; confirming queues it in the outbox with its own Idempotency-Key.
import { api, currentUser } from "../../api.js";
import { fmtTime, t } from "../../i18n.js";
import { $, draftStore, h } from "../../ui.js";
import { app, actionName, clockText, dueText, errorBox, fill, stateName, toast, transitions } from "./common.js";
import { alarmTypeName, assetPlace, levelBadge, lifelineCard, openSteps, openStepsNotice, worstAlarm } from "./lifeline.js";
import { enqueue, pendingFor, pendingSteps } from "./outbox.js";
import { refThumb } from "./photos.js";
import { photoStrip } from "./report.js";

const PHOTO_ACTIONS = new Set(["complete", "check_pass", "check_fail", "verify", "refute", "start", "return"]);
const PRIMARY = new Set(["verify", "start", "complete", "check_pass"]);
const DANGER = new Set(["refute", "check_fail", "return"]);
let current = null;

const drafts = draftStore("cityops.m.draft.action.");
const draftKey = (caseId, action) => `${currentUser()?.username}.${caseId}.${action}`;

function photosOf(c) {
  return c.timeline.flatMap((e) => (e.media || []).map((ref) => ({ ref, label: e.label })));
}

function facts(c) {
  const row = (label, value) => value && h("div", {}, h("dt", {}, label), h("dd", {}, value));
  return h("dl", { class: "m-facts" },
    row(t("mobile.case.state"), stateName(c.state)),
    row(t("mobile.case.category"), c.category_name && `${c.category_name} · ${c.category}`),
    row(t("mobile.case.where"), [c.address || assetPlace(c), c.grid_name].filter(Boolean).join(" · ")),
    row(t("mobile.case.department"), c.department_name),
    row(t("mobile.case.reported"), fmtTime(c.created_at, app.tz, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" })));
}

function timeline(c) {
  const recent = c.timeline.slice(-6).reverse();
  return h("ol", { class: "m-timeline" }, recent.map((e) => h("li", {},
    h("b", {}, e.label), h("span", { class: "muted" }, ` ${fmtTime(e.at, app.tz, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" })} · ${e.actor || ""}`),
    e.note && h("p", {}, e.note))));
}

async function actionForm(c, allowed, box) {
  const tr = (await transitions().catch(() => new Map())).get(allowed.action);
  const needsNote = tr?.guards?.includes("note");
  const needsExtension = tr?.guards?.includes("extension_limit");
  const key = draftKey(c.id, allowed.action);
  const draft = drafts.get(key) || {};
  const note = h("textarea", { class: "m-input", id: "a-note", rows: 4, maxlength: 2000,
    placeholder: t(needsNote ? "mobile.action.noteRequired" : "mobile.action.noteOptional") });
  note.value = draft.note || "";
  // 处置完成 with emergency plan steps open: the API asks why they are left (plan_note).
  const open = tr?.guards?.includes("plan_done") ? openSteps(c, await pendingSteps(c.id)) : [];
  const planNote = open.length > 0 && h("textarea", { class: "m-input", id: "a-plan-note", rows: 3, maxlength: 2000,
    placeholder: t("mobile.plan.reasonPlaceholder") });
  if (planNote) planNote.value = draft.planNote || "";
  const extension = needsExtension && h("input", { class: "m-input", id: "a-extension", value: draft.extension || "",
    placeholder: "2wd / 8wh / 12h" });
  const photos = [];
  const file = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, id: "a-photo", class: "m-file" });
  const add = h("label", { class: "btn m-btn m-photo-add" }, t("mobile.photo.take"), file);
  const strip = PHOTO_ACTIONS.has(allowed.action) && photoStrip(photos, () => {}, { input: file });
  const error = h("p", { class: "form-error", role: "alert" });
  const label = actionName(allowed.action, allowed.label);
  const ok = h("button", { type: "submit", class: `btn m-btn ${DANGER.has(allowed.action) ? "m-btn-danger" : "btn-primary"} m-btn-block`, id: "a-submit" },
    t("mobile.action.confirm", { action: label }));
  const cancel = h("button", { type: "button", class: "btn m-btn m-btn-block" }, t("common.cancel"));
  const formEl = h("form", { class: "m-action-form", dataset: { action: allowed.action }, novalidate: true },
    h("h3", {}, label),
    planNote && h("div", { class: "m-field m-plan-left", id: "a-plan-open" },
      h("span", {}, t("mobile.plan.openCount", { n: open.length })),
      h("ul", {}, open.map((st) => h("li", { dataset: { step: st.no } }, `${st.no}. ${st.text}`))),
      h("label", { class: "m-field" }, h("span", {}, t("mobile.plan.reason")), planNote)),
    h("label", { class: "m-field" }, h("span", {}, t(allowed.action === "complete" ? "mobile.action.result" : "mobile.action.note")), note),
    extension && h("label", { class: "m-field" }, h("span", {}, t("mobile.action.extension")), extension),
    strip && h("div", { class: "m-field" }, h("span", {}, t(allowed.action === "complete" ? "mobile.action.resultPhotos" : "mobile.action.photos")),
      strip.strip, add),
    error, h("div", { class: "m-row" }, cancel, ok));
  formEl.addEventListener("input", () => drafts.set(key, { note: note.value, extension: extension?.value, planNote: planNote?.value }));
  cancel.addEventListener("click", () => { box.replaceChildren(); renderActions(c, box.previousSibling); });
  formEl.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (needsNote && !note.value.trim()) {
      error.textContent = t("mobile.action.needNote");
      note.focus();
      return;
    }
    if (needsExtension && !extension.value.trim()) {
      error.textContent = t("mobile.action.needExtension");
      return;
    }
    if (planNote && !planNote.value.trim()) {
      error.textContent = t("mobile.plan.needReason");
      planNote.focus();
      return;
    }
    ok.disabled = true;
    const body = { note: note.value.trim() || null };
    if (needsExtension) body.extension = extension.value.trim();
    if (planNote) body.plan_note = planNote.value.trim();
    try {
      await enqueue({ kind: "action", caseId: c.id, action: allowed.action,
        title: `${c.category_name || c.title || ""} · ${c.case_no}`, body, photos: [...photos] });
      drafts.clear(key);
      toast(navigator.onLine ? t("mobile.action.sending", { action: label }) : t("mobile.report.queuedOffline"), "good");
      location.hash = "#tasks";
    } catch (err) {
      error.textContent = err.message;
      ok.disabled = false;
    }
  });
  box.previousSibling.hidden = true;
  box.replaceChildren(formEl);
  (planNote || (needsNote ? note : ok)).focus();
}

async function markStep(c, step, button) {
  button.disabled = true;
  try {
    await enqueue({ kind: "plan_step", caseId: c.id, action: "plan_step", step: step.no, body: {},
      title: `${t("mobile.plan.stepLabel", { n: step.no })} · ${c.case_no}` });
    toast(navigator.onLine ? t("mobile.plan.marking", { n: step.no }) : t("mobile.report.queuedOffline"), "good");
    refreshCaseActions();
  } catch (err) {
    toast(err.message, "bad");
    button.disabled = false;
  }
}

async function renderActions(c, bar) {
  bar.hidden = false;
  const queued = await pendingFor(c.id);
  if (queued.length) {
    bar.replaceChildren(h("p", { class: "m-notice" }, t("mobile.case.queued", { action: actionName(queued[0].action) })));
    return;
  }
  if (!c.allowed_actions.length) {
    bar.replaceChildren(h("p", { class: "m-notice muted" }, t("mobile.case.noActions")));
    return;
  }
  const box = bar.nextSibling;
  bar.replaceChildren(...c.allowed_actions.map((a) => h("button", { type: "button",
    class: `btn m-btn ${PRIMARY.has(a.action) ? "btn-primary" : DANGER.has(a.action) ? "m-btn-danger-ghost" : ""}`,
    dataset: { action: a.action }, onclick: () => actionForm(c, a, box) }, actionName(a.action, a.label))));
}

export async function renderCase(id) {
  const root = $("#case-body");
  current = id;
  root.replaceChildren(h("p", { class: "m-loading" }, t("common.loading")));
  let c;
  try {
    c = await api.get(`/api/v1/cases/${id}`);
  } catch (err) {
    if (current === id) root.replaceChildren(errorBox(err, () => renderCase(id)));
    return;
  }
  if (current !== id) return;
  $("#m-title").textContent = c.case_no;
  const colour = c.clock?.colour || "none";
  const bar = h("div", { class: "m-actions", id: "case-actions" });
  const box = h("div", { id: "case-form" });
  const queued = await pendingSteps(id);
  if (current !== id) return;
  const alarm = worstAlarm(c); // an emergency shows as such, whatever the clock says
  fill(root,
    h("section", { class: "m-card m-case-head", dataset: { colour, level: alarm?.level } },
      h("div", { class: "m-case-head__clock" }, h("b", {}, clockText(c.clock)), h("span", {}, dueText(c.clock))),
      alarm && h("div", { class: "m-case-head__alarm" }, levelBadge(alarm.level), h("b", {}, alarmTypeName(alarm.type))),
      h("h2", {}, c.category_name || c.title || c.case_no),
      h("p", { class: "muted" }, c.case_no)),
    h("section", { class: "m-card" }, facts(c), c.description && h("p", { class: "m-desc" }, c.description)),
    lifelineCard(c, queued, (step, button) => markStep(c, step, button)),
    photosOf(c).length ? h("section", { class: "m-card" }, h("h3", {}, t("mobile.case.photos")),
      h("div", { class: "m-photos" }, photosOf(c).map((p) => h("a", { class: "m-photo", href: p.ref.startsWith("media://") ? `/api/v1/media/${p.ref.slice(8)}` : p.ref, target: "_blank", rel: "noopener" },
        h("img", { src: refThumb(p.ref), alt: p.label, loading: "lazy" }))))) : null,
    h("section", { class: "m-card" }, h("h3", {}, t("mobile.case.timeline")), timeline(c)),
    h("section", { class: "m-card m-card--actions" }, openStepsNotice(c, queued), bar, box));
  await renderActions(c, bar);
}

export function refreshCaseActions() {
  if (current && location.hash === `#case/${current}`) renderCase(current);
}

export function leaveCase() {
  current = null;
}
