// A case opened by lifeline alarms (城市生命线告警), on the phone: the alarms (level in its colour,
// type, asset, reading) and the emergency plan (应急预案) with each step's progress. A handler
// marks a step done through the outbox, so it works offline too; a step waiting there shows so.
import { fmtNumber, fmtTime, t, tOr } from "../../i18n.js";
import { h } from "../../ui.js";
import { app } from "./common.js";

const WORKING = new Set(["dispatched", "handling"]); // the handler is on the case

export const levelName = (level) => tOr(`mobile.level.${level}`, String(level));
export const alarmTypeName = (type) => tOr(`mobile.alarmType.${type}`, type);

export function levelBadge(level) {
  return h("span", { class: `m-level m-level--${level}`, dataset: { level } }, levelName(level));
}

/** The alarm that matters most: the highest level among those not cleared, else the highest. */
export function worstAlarm(c) {
  const alarms = c.lifeline?.alarms || [];
  const open = alarms.filter((a) => a.state !== "cleared");
  const pool = open.length ? open : alarms;
  return pool.reduce((worst, a) => (!worst || a.level > worst.level ? a : worst), null);
}

/** Where the case is when it has no address of its own: the alarmed asset's place. */
export function assetPlace(c) {
  const asset = c.lifeline?.incident || worstAlarm(c)?.asset; // the pipe, not a well beside it
  return asset ? asset.location || asset.name : null;
}

/** Plan steps not done and not waiting in the outbox. */
export function openSteps(c, queued = new Map()) {
  return (c.lifeline?.plan?.steps || []).filter((s) => !s.done_at && !queued.has(s.no));
}

function readingText(r) {
  const unit = (r.unit || "").replace(/[{}]/g, ""); // UCUM's %{LEL} reads %LEL
  return `${tOr(`mobile.metric.${r.metric}`, r.metric)} ${fmtNumber(r.value, { maximumFractionDigits: 3 })} ${unit}`.trim();
}

function alarmRow(a) {
  return h("li", { class: "m-alarm", dataset: { id: a.id, level: a.level, state: a.state } },
    h("div", { class: "m-alarm__top" }, levelBadge(a.level), h("b", {}, alarmTypeName(a.type)),
      h("span", { class: "m-chip", dataset: { alarm: a.state } }, tOr(`mobile.alarmState.${a.state}`, a.state))),
    a.asset && h("p", { class: "m-alarm__asset" }, a.asset.name, " ", h("small", { class: "muted" }, a.asset.code)),
    a.reading && h("p", { class: "m-alarm__reading" }, t("mobile.lifeline.reading", { reading: readingText(a.reading) })));
}

function stepRow(c, s, queued, onMark) {
  const at = (iso) => fmtTime(iso, app.tz, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const canMark = app.me?.role === "handler" && WORKING.has(c.state);
  let status;
  if (s.done_at) status = h("small", { class: "muted" }, t("mobile.plan.doneBy", { who: s.done_by || "—", at: at(s.done_at) }), s.note ? ` · ${s.note}` : "");
  else if (queued.has(s.no)) {
    const item = queued.get(s.no); // waiting or sending; failed with the API's reason in 待发送
    status = h("span", { class: "m-chip", dataset: { state: item.state } }, t(`mobile.outbox.state.${item.state}`));
  }
  else if (canMark) status = h("button", { type: "button", class: "btn m-btn m-step__mark", onclick: (ev) => onMark(s, ev.currentTarget) }, t("mobile.plan.mark"));
  else status = h("small", { class: "muted" }, t("mobile.plan.open"));
  const state = s.done_at ? "done" : queued.has(s.no) ? "queued" : "open";
  return h("li", { class: "m-step", dataset: { step: s.no, state } },
    h("span", { class: "m-step__no" }, String(s.no)), h("span", { class: "m-step__text" }, s.text), status);
}

/** The reason a handler gave for completing with steps open (kept in the complete event). */
function leftOpenReason(c) {
  const done = [...c.timeline].reverse().find((e) => e.action === "complete");
  return done?.data?.plan_note || null;
}

function planBlock(c, plan, queued, onMark) {
  const done = plan.steps.filter((s) => s.done_at).length;
  const reason = leftOpenReason(c);
  return h("div", { class: "m-plan", dataset: { plan: plan.code } },
    h("h4", {}, t("mobile.plan.title", { name: plan.name || plan.code }), " ",
      h("small", { class: "muted m-plan__progress" }, t("mobile.plan.progress", { done, total: plan.steps.length }))),
    h("ol", { class: "m-steps" }, plan.steps.map((s) => stepRow(c, s, queued, onMark))),
    reason && h("p", { class: "m-notice", id: "plan-left-open" }, t("mobile.plan.leftOpen", { reason })),
    plan.contacts?.length ? h("ul", { class: "m-plan__contacts" }, plan.contacts.map((p) => h("li", {}, h("b", {}, p.name),
      p.role ? ` · ${p.role}` : "", p.phone ? h("a", { href: `tel:${p.phone}` }, ` ${p.phone}`) : null))) : null);
}

/** The card, or null for a case no alarm opened. ``onMark(step, button)`` marks a step done. */
export function lifelineCard(c, queued, onMark) {
  const part = c.lifeline;
  if (!part?.alarms?.length) return null;
  return h("section", { class: "m-card m-lifeline", id: "case-lifeline" },
    h("h3", {}, t("mobile.lifeline.title")),
    h("ul", { class: "m-alarms" }, part.alarms.map(alarmRow)),
    part.plan ? planBlock(c, part.plan, queued, onMark) : null);
}

/** Above the action buttons (a sticky bar, so one line): how many plan steps are still open,
 * before 处置完成 and for the 核查; a tap shows them in the plan. */
export function openStepsNotice(c, queued) {
  const open = openSteps(c, queued);
  if (!open.length || !["handling", "handled"].includes(c.state)) return null;
  return h("button", { type: "button", class: "m-notice m-notice--plan", id: "plan-open", dataset: { open: open.length },
    onclick: () => document.getElementById("case-lifeline")?.scrollIntoView({ behavior: "smooth", block: "start" }) },
  h("b", {}, t("mobile.plan.openCount", { n: open.length })), " ", open.map((s) => s.no).join("、"), " ›");
}
