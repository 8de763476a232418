// Case detail (#/case/<id>): header with state, deadline clock, urgency and level; the action
// bar with exactly the caller's allowed_actions; what was reported, the classification and
// routing explanations, reporters, notifications; a map of the point and its grid cell; the
// timeline with photos.
import * as L from "leaflet";
import { api } from "../../api.js";
import { fmtNumber, fmtPercent, localized, t, tOr } from "../../i18n.js";
import { createMap, drawRegions } from "../../map.js";
import { h } from "../../ui.js";
import { ensureCss as lifelineCss, fmtReading, levelBadge, metricName, planBlock, typeName } from "./lifeline-common.js";
import { DANGER, PRIMARY, actionForm } from "./work-actions.js";
import { channelName, clockChip, errorState, fmtFull, fmtWhen, kv, stateBadge, urgencyBadge, fill,
} from "./work-common.js";

const MEDIA = /^media:\/\/([A-Za-z0-9_-]+)$/;

/** Who did it: the platform itself (actor "system") reads 系统 / System; others by name. */
function actorName(actor) {
  return actor === "system" ? t("console.role.system") : actor;
}

function card(titleKey, ...body) {
  return h("section", { class: "card" }, h("h2", { class: "card__title" }, t(titleKey)), ...body);
}

/** Photos: media://<id> → thumbnail linking to the original; anything else is text. */
export function mediaList(refs) {
  if (!refs?.length) return null;
  return h("div", { class: "media" }, refs.map((ref) => {
    const m = MEDIA.exec(ref);
    if (!m) return h("span", { class: "media__text" }, ref);
    return h("a", { href: `/api/v1/media/${m[1]}`, target: "_blank", rel: "noopener", class: "media__thumb" },
      h("img", { src: `/api/v1/media/${m[1]}/thumb`, alt: t("console.case.photo"), loading: "lazy" }));
  }));
}

function classificationCard(c) {
  const cl = c.classification;
  if (!cl) return null;
  const sugg = cl.suggestions || [];
  return card("console.case.classification",
    kv([
      [t("console.case.category"), c.category ? `${c.category} ${c.category_name || ""}` : t("console.uncategorised")],
      [t("console.case.model"), cl.model || "—"],
      [t("console.case.decision"), cl.auto ? t("console.case.auto") : t("console.case.manual")],
      [t("console.case.confidence"), cl.confidence != null ? fmtPercent(cl.confidence) : null],
    ], { hideEmpty: true }),
    cl.reason ? h("p", { class: "explain" }, localized(cl.reason)) : null,
    sugg.length ? h("ol", { class: "sugg" }, sugg.map((s) => h("li", {},
      h("span", {}, `${s.category} ${s.name}`), h("span", { class: "bar" }, h("i", { style: { width: `${Math.round(s.confidence * 100)}%` } })),
      h("b", {}, fmtPercent(s.confidence))))) : null,
    cl.explanation?.length ? h("p", { class: "terms" }, h("span", { class: "muted" }, t("console.case.terms")),
      cl.explanation.map((e) => h("span", { class: "term", title: String(e.weight) }, e.term))) : null);
}

function routingCard(c) {
  const dispatches = c.timeline.filter((e) => (e.action === "dispatch" || e.action === "redispatch") && e.data);
  const last = dispatches[dispatches.length - 1];
  if (!c.routing && !last) return null;
  return card("console.case.routing",
    c.routing ? kv([
      [t("console.case.suggestedDept"), c.routing.department_name],
      [t("console.case.rule"), c.routing.rule_id != null ? `#${c.routing.rule_id} · ${c.routing.ruleset || ""}` : null],
    ], { hideEmpty: true }) : null,
    c.routing?.explanation ? h("p", { class: "explain" }, localized(c.routing.explanation)) : null,
    last ? h("div", { class: "why" }, h("h3", {}, t("console.case.why", { dept: last.department || "—" })),
      last.data.why && last.data.why === c.routing?.explanation
        ? h("p", { class: "muted" }, t("console.case.followed", { who: actorName(last.actor), at: fmtWhen(last.at) }))
        : h("p", { class: "explain" }, last.data.why ? localized(last.data.why) : (last.note || t("console.case.noWhy"))),
      last.note && last.data.why ? h("p", { class: "tl__note" }, last.note) : null,
      last.data.routing_followed === false ? h("p", { class: "warn" }, t("console.case.overridden")) : null) : null);
}

function duplicateCard(c, ctx) {
  const d = c.duplicate_suggestion || c.merged_into;
  if (!d) return null;
  const link = h("a", { href: `#/case/${d.case_id}` }, d.case_no || `#${d.case_id}`);
  if (c.merged_into) return card("console.case.mergedInto", h("p", {}, link, " ", d.state ? stateBadge(d.state) : null));
  const scores = Object.entries(d).filter(([k, v]) => typeof v === "number" && !["case_id"].includes(k));
  return card("console.case.duplicate", h("p", {}, t("console.case.duplicateOf"), " ", link, " ", d.state ? stateBadge(d.state) : null),
    scores.length ? h("p", { class: "muted" }, scores.map(([k, v]) => `${k} ${v < 1.0001 && v > 0 && !Number.isInteger(v) ? fmtPercent(v) : fmtNumber(v)}`).join(" · ")) : null,
    h("a", { class: "btn btn-sm", href: `#/triage/suggested?case=${c.id}` }, t("console.case.compare")));
}

/** The asset an alarm is about, by name and code ("asset:SJ-GP-0065" is the rule engine's key). */
function alarmSubject(a) {
  if (a.asset) return [a.asset.name, " ", h("small", {}, a.asset.code)];
  return a.subject.replace(/^[a-z]+:/, "");
}

/** What the sensor read when it raised: 可燃气体 12 %LEL. */
function alarmReading(r) {
  if (!r || r.value == null) return null;
  return h("span", { class: "lf-case__reading" }, `${metricName(r.metric)} ${fmtReading(r.value, r.unit)}`);
}

/** A case opened by lifeline alarms (告警转工单): the alarms, and the emergency plan's steps. */
function lifelineCard(c, ctx, reload) {
  const part = c.lifeline;
  if (!part?.alarms?.length) return null;
  lifelineCss();
  return h("section", { class: "card lf-case", id: "case-lifeline" },
    h("h2", { class: "card__title" }, t("lifeline.case.title")),
    h("ul", { class: "lf-case__alarms" }, part.alarms.map((a) => h("li", {},
      levelBadge(a.level), " ", h("a", { href: `#/lifeline-alarm/${a.id}` }, typeName(a.type)), " ",
      h("span", { class: "muted lf-case__asset" }, alarmSubject(a)), " ", alarmReading(a.reading), " ",
      h("small", { class: "muted" }, tOr(`lifeline.state.${a.state}`, a.state))))),
    part.plan ? planBlock(part.plan, c.id, ctx, reload, (s) => t("lifeline.alarm.stepDoneBy", { who: s.done_by ? actorName(s.done_by) : "—", at: fmtWhen(s.done_at) })) : null);
}

function reportCard(c) {
  return card("console.case.report",
    h("h3", { class: "case-title" }, c.title || "—"),
    c.description && c.description !== c.title ? h("p", { class: "desc" }, c.description) : null,
    kv([
      [t("console.case.address"), c.address],
      [t("console.case.grid"), c.grid_name ? `${c.grid_name} (${c.grid_code})` : c.grid_code],
      [t("console.case.component"), c.component_code],
      [t("console.case.department"), c.department_name],
      [t("console.case.channel"), channelName(c.channel)],
      [t("console.case.created"), fmtFull(c.created_at)],
      [t("console.case.reporter"), [c.reporter_name, c.reporter_phone].filter(Boolean).join(" ") || null],
      [t("console.case.reportCount"), c.report_count > 1 ? t("console.case.reportCountN", { n: c.report_count }) : null],
      [t("console.case.rating"), c.rating ? "★".repeat(c.rating) : null],
      [t("console.case.warnings"), c.warnings?.length ? c.warnings.map((w) => localized(String(w))).join("；") : null],
    ], { hideEmpty: true }),
    c.extension ? h("div", { class: "notice" }, h("b", {}, t("console.case.extension", { limit: tOr(`console.limit.${c.extension.limit}`, c.extension.limit) })),
      c.extension.note ? h("p", {}, c.extension.note) : null) : null,
    c.reports?.length > 1 ? h("details", {}, h("summary", {}, t("console.case.reports", { n: c.reports.length })),
      h("ul", { class: "reports" }, c.reports.map((r) => h("li", {}, `${fmtWhen(r.received_at)} · ${channelName(r.channel)} · ${r.source_id || ""}`)))) : null);
}

async function notificationsCard(c, slot) {
  try {
    const n = await api.get(`/api/v1/cases/${c.id}/notifications`);
    const items = n.items || [];
    slot.replaceWith(card("console.case.notifications",
      items.length
        ? h("ul", { class: "notes" }, items.map((i) => h("li", { dataset: { status: i.status } },
          h("div", { class: "notes__head" },
            h("span", { class: `badge ${i.status === "failed" ? "badge--bad" : i.status === "sent" ? "badge--good" : ""}` },
              tOr(`console.notify.${i.status}`, i.status)),
            h("span", {}, tOr(`console.notify.channel.${i.channel}`, i.channel), " ", i.recipient || ""),
            h("time", { class: "muted" }, fmtWhen(i.sent_at || i.created_at))),
          i.body ? h("p", {}, i.body) : null,
          i.last_error ? h("p", { class: "warn" }, i.last_error) : null)))
        : h("p", { class: "muted" }, t("console.case.noNotifications"))));
  } catch (err) {
    slot.replaceWith(card("console.case.notifications", h("p", { class: "muted" }, err.message)));
  }
}

/** A timeline entry's name in the UI language: a workflow action (console.action.*) or a
 * lifeline log entry (event.*: 告警解除, 启动应急预案, …); the server's Chinese label last. */
function entryLabel(e) {
  return tOr(`console.action.${e.action}`, tOr(`event.${e.action}`, e.label));
}

function timeline(c) {
  return card("console.case.timeline", h("ol", { class: "timeline" }, [...c.timeline].reverse().map((e) => h("li", {
    class: `tl tl--${e.action}`, dataset: { seq: e.seq } },
  h("div", { class: "tl__head" },
    h("b", {}, entryLabel(e)),
    e.to_state && e.from_state !== e.to_state ? stateBadge(e.to_state) : null,
    h("time", { datetime: e.at }, fmtWhen(e.at, true))),
  h("div", { class: "tl__who muted" }, actorName(e.actor),
    e.actor === "system" ? "" : [" · ", tOr(`console.role.${e.actor_role}`, e.actor_role)],
    e.department ? ` · ${e.department}` : ""),
  e.note ? h("p", { class: "tl__note" }, localized(e.note)) : null,
  e.data?.limit ? h("p", { class: "muted" }, t("console.case.limit", { limit: tOr(`console.limit.${e.data.limit}`, e.data.limit) })) : null,
  e.data?.category ? h("p", { class: "muted" }, t("console.case.amendedCategory", { from: e.data.old_category || "—", to: e.data.category })) : null,
  e.data?.into ? h("p", { class: "muted" }, t("console.case.mergedIntoNo", { no: e.data.into })) : null,
  mediaList(e.media)))));
}

async function drawMap(el, c) {
  if (c.lon == null || c.lat == null) {
    el.replaceWith(h("p", { class: "muted map-none" }, t("console.case.noPoint")));
    return null;
  }
  const { map } = await createMap(el, { interactive: true });
  if (c.street_code) {
    await drawRegions(map, "grid", (f) => f.properties.code === c.grid_code
      ? { color: "#1a8cff", weight: 2, fillColor: "#1a8cff", fillOpacity: 0.16 }
      : { color: "#98a2b3", weight: 0.6, fill: false }, { within: c.street_code });
  }
  L.circleMarker([c.lat, c.lon], { radius: 8, color: "#fff", weight: 2, fillColor: c.overdue ? "#f04848" : "#f5a623", fillOpacity: 1 })
    .addTo(map).bindTooltip(c.address || c.case_no);
  map.setView([c.lat, c.lon], 15);
  return map;
}

export async function mount(el, ctx) {
  const id = Number(ctx.params[0]);
  if (!Number.isInteger(id) || id <= 0) {
    el.append(errorState({ message: t("console.case.badId") }));
    return undefined;
  }
  let map = null;
  let openAction = null;
  let stale = false;

  async function render() {
    let c;
    try {
      c = await api.get(`/api/v1/cases/${id}`);
    } catch (err) {
      fill(el, h("div", { class: "c-page" }, backLink(), errorState(err.status === 404 ? { message: t("console.case.notFound") } : err, render)));
      return;
    }
    stale = false;
    map?.remove();
    map = null;
    const formSlot = h("div", { class: "action-slot" });
    const buttons = c.allowed_actions.map((a) => h("button", {
      type: "button", dataset: { action: a.action },
      class: `btn ${PRIMARY.has(a.action) ? "btn-primary" : ""} ${DANGER.has(a.action) ? "btn-warn" : ""}`.trim(),
      onclick: () => open(a.action),
    }, tOr(`console.action.${a.action}`, a.label)));
    async function open(action) {
      openAction = action;
      buttons.forEach((b) => b.classList.toggle("active", b.dataset.action === action));
      fill(formSlot, await actionForm(c, action, {
        toast: ctx.toast,
        onCancel: () => {
          openAction = null;
          if (stale) render(); // someone else changed the case meanwhile: show what it is now
          else { fill(formSlot); buttons.forEach((b) => b.classList.remove("active")); }
        },
        onDone: () => { openAction = null; render(); },
      }));
    }
    const bar = h("div", { class: "action-bar", id: "action-bar" },
      buttons.length ? buttons : h("span", { class: "muted" }, t("console.case.noActions")));
    const mapEl = h("div", { class: "case-map", id: "case-map" });
    const notesSlot = h("div");
    const head = h("header", { class: "case-head" },
      backLink(),
      h("div", { class: "case-head__main" },
        h("h1", {}, c.case_no || `#${c.id}`), stateBadge(c.state), clockChip(c), urgencyBadge(c),
        h("span", { class: "muted" }, c.category_name || t("console.uncategorised"))),
      h("button", { type: "button", class: "btn btn-ghost", onclick: render, title: t("console.refresh") }, "⟳"));
    fill(el, h("div", { class: "c-page case", dataset: { state: c.state, caseId: c.id } },
      head, bar, formSlot,
      h("div", { class: "case-grid" },
        h("div", { class: "case-col" }, lifelineCard(c, ctx, render), reportCard(c), classificationCard(c), routingCard(c), duplicateCard(c, ctx), notesSlot),
        h("div", { class: "case-col" }, card("console.case.map", mapEl), timeline(c)))));
    notificationsCard(c, notesSlot);
    drawMap(mapEl, c).then((m) => { map = m; }).catch((err) => mapEl.replaceWith(h("p", { class: "muted" }, err.message)));
    if (openAction && c.allowed_actions.some((a) => a.action === openAction)) open(openAction);
    else openAction = null;
  }

  function backLink() {
    return h("button", { type: "button", class: "btn btn-ghost back", onclick: () => (history.length > 1 ? history.back() : ctx.navigate("#/queue")),
      title: "Alt+←" }, "← ", t("console.back"));
  }

  await render();
  // Someone else acted on this case: say so, and refresh unless a form is open.
  const off = ctx.onLive((msg) => {
    if (msg.case?.id !== id || stale) return;
    if (openAction) {
      stale = true;
      ctx.toast(t("console.case.changed"), "warn");
    } else {
      render();
    }
  });
  return () => { off(); map?.remove(); };
}
