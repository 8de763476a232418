// 告警详情 (#/lifeline-alarm/<id>): what was seen and where, the metric's readings before and
// after the alarm (ECharts, the alarm's span shaded), acknowledge / clear with a note, the case
// it opened (#/case/<id>) and its emergency plan's steps, and the alarm's log. Redrawn when a
// live event names this alarm.
import { api } from "../../api.js";
import { chart } from "../../charts.js";
import { fmtNumber, t, tOr } from "../../i18n.js";
import { h, throttle } from "../../ui.js";
import {
  LEVEL_COLOURS, LIGHT, OPERATORS, ensureCss, errorMessage, fmtReading, kindName, levelBadge, metricName, planBlock, responseChip,
  stateBadge, typeName, unitLabel,
} from "./lifeline-common.js";
import { clearDraft, errorState, fill, fmtFull, fmtWhen, kv, loadDraft, saveDraft } from "./work-common.js";

function head(a) {
  return h("header", { class: "case-head lf-head" },
    h("a", { class: "back", href: "#/lifeline-alarms" }, `← ${t("lifeline.alarm.back")}`),
    h("div", { class: "case-head__main" },
      h("h1", {}, levelBadge(a.level), " ", typeName(a.type), " ", h("small", { class: "muted" }, t("lifeline.alarm.title", { id: a.id }))),
      h("p", {}, stateBadge(a.state), " ", responseChip(a), " ",
        a.asset ? h("span", { class: "lf-asset" }, h("b", {}, a.asset.name), h("small", { class: "muted" }, ` ${a.asset.code} · ${kindName(a.asset.kind)}`)) : a.subject)));
}

/** The acknowledge / clear form: a note (required to clear), kept as a draft until sent. */
function actionForm(a, action, done) {
  const key = `lifeline.${a.id}.${action}`;
  const draft = loadDraft(key) || {};
  const note = h("textarea", { name: "note", rows: 3, maxlength: 2000, "aria-required": action === "clear" ? "true" : null,
    placeholder: t(action === "clear" ? "lifeline.alarm.clearNoteHint" : "lifeline.alarm.noteHint") });
  note.value = draft.note || "";
  note.addEventListener("input", () => saveDraft(key, { note: note.value }));
  const error = h("p", { class: "warn", role: "alert", hidden: true });
  const form = h("form", { class: "action-form lf-action", dataset: { action } },
    h("h3", {}, t(`lifeline.alarm.${action}`)),
    h("label", { class: "f" }, h("span", {}, t("lifeline.alarm.note")), note), error,
    h("div", { class: "action-form__bar" },
      h("button", { type: "submit", class: `btn ${action === "clear" ? "btn-warn" : "btn-primary"}` }, t("lifeline.alarm.submit")),
      h("button", { type: "button", class: "btn", onclick: () => form.remove() }, t("lifeline.alarm.cancel"))));
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") form.remove();
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = note.value.trim();
    if (action === "clear" && !text) {
      error.hidden = false;
      error.textContent = t("lifeline.alarm.noteRequired");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const fresh = await api.post(`/api/v1/lifeline/alarms/${a.id}/${action}`, text ? { note: text } : {});
      clearDraft(key);
      done(fresh, action);
    } catch (err) {
      error.hidden = false;
      error.textContent = errorMessage(err);
      button.disabled = false;
    }
  });
  return form;
}

// The alarm's own series; for an alarm that names none (a coupled rule's, a device's no-data)
// the series behind it, one small chart each (their units differ).
function seriesCard(a) {
  const own = a.series;
  const shown = (own ? [own] : a.related_series || []).filter((s) => s.points.length);
  const box = h("section", { class: "card lf-series" }, h("h2", { class: "card__title" },
    t(own ? "lifeline.alarm.series" : "lifeline.alarm.relatedSeries"),
    own ? h("small", { class: "muted" }, ` ${seriesLabel(own)}`) : null));
  if (!shown.length) {
    box.append(h("p", { class: "muted" }, t("lifeline.alarm.noSeries")));
    return { box, draw: () => {} };
  }
  const plots = shown.map((s, i) => {
    const plot = h("div", { class: own ? "lf-chart" : "lf-chart lf-chart--small", id: i ? null : "lf-series-chart", dataset: { points: s.points.length } });
    box.append(own ? plot : h("div", { class: "lf-related" }, h("small", { class: "muted" }, seriesLabel(s)), plot));
    return [s, plot];
  });
  const draw = () => {
    for (const [s, plot] of plots) drawSeries(plot, s, a);
  };
  return { box, draw };
}

const seriesLabel = (s) => `${s.device} · ${metricName(s.metric)} (${unitLabel(s.unit)})`;

function drawSeries(plot, s, a) {
  const c = chart(plot, LIGHT);
  const colour = LEVEL_COLOURS[a.level];
  const end = a.cleared_at || a.last_seen;
  const marks = [{ xAxis: a.first_seen, label: { formatter: t("lifeline.alarm.seriesFirst") } }];
  if (a.cleared_at) marks.push({ xAxis: a.cleared_at, label: { formatter: t("lifeline.alarm.seriesCleared") } });
  c.set({
    grid: { left: 8, right: 24, top: 28, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", valueFormatter: (v) => fmtReading(v, s.unit) },
    // To the alarm's end at least: a silent device's alarm lies after its last reading.
    xAxis: { type: "time", max: (v) => Math.max(v.max, Date.parse(end)), axisLabel: { color: LIGHT.muted, hideOverlap: true, formatter: (v) => fmtWhen(new Date(v).toISOString()).slice(-5) } },
    yAxis: { type: "value", scale: true, name: unitLabel(s.unit), nameTextStyle: { color: LIGHT.muted }, splitLine: { lineStyle: { color: LIGHT.line } } },
    series: [{
      name: `${s.device}:${s.metric}`, type: "line", showSymbol: s.points.length < 80, symbolSize: 5,
      data: s.points.map((p) => [p.ts, p.value]), lineStyle: { width: 2, color: "#1677ff" }, itemStyle: { color: "#1677ff" },
      markArea: { silent: true, itemStyle: { color: `${colour}22` }, data: [[{ xAxis: a.first_seen }, { xAxis: end }]] },
      markLine: { symbol: "none", silent: true, lineStyle: { color: colour, type: "dashed" }, label: { color: colour }, data: marks },
    }],
  }, true);
}

function caseCard(a, ctx, reload) {
  const c = a.case;
  const box = h("section", { class: "card lf-case", id: "lf-case" }, h("h2", { class: "card__title" }, t("lifeline.alarm.case")));
  if (!c) {
    box.append(h("p", { class: "muted" }, t("lifeline.alarm.noCase")));
    return box;
  }
  box.append(h("p", {}, h("a", { href: `#/case/${c.id}`, class: "case-no", id: "lf-case-link" }, c.case_no || `#${c.id}`), " ",
    h("span", { class: `badge state state--${c.state}` }, tOr(`state.${c.state}`, c.state)), " ", h("span", {}, c.title)));
  if (c.plan) {
    box.append(planBlock(c.plan, c.id, ctx, reload, (s) => t("lifeline.alarm.stepDoneBy", { who: s.done_by || "—", at: fmtWhen(s.done_at) })));
  }
  return box;
}

function logCard(a) {
  return h("section", { class: "card" }, h("h2", { class: "card__title" }, t("lifeline.alarm.log")),
    h("ol", { class: "timeline lf-log" }, [...a.events].reverse().map((e) => h("li", { class: `tl lf-log--${e.what}` },
      h("div", { class: "tl__head" }, h("b", {}, tOr(`lifeline.what.${e.what === "case" && e.data?.joined ? "case_joined" : e.what}`, e.what)), levelBadge(e.level),
        e.by ? h("span", { class: "tl__who" }, e.by) : null, h("time", { title: fmtFull(e.at) }, fmtWhen(e.at, true))),
      e.note ? h("p", { class: "tl__note" }, e.note) : null))));
}

function facts(a) {
  const f = a.facts || {};
  const value = f.value !== undefined ? fmtReading(f.value, f.unit) : null;
  return h("section", { class: "card" }, h("h2", { class: "card__title" }, t("lifeline.alarm.facts")), kv([
    [t("lifeline.alarm.asset"), a.asset ? `${a.asset.name}（${a.asset.code}）` : a.subject],
    [t("lifeline.alarm.rule"), a.rule],
    f.device ? [t("lifeline.alarm.device"), f.device] : null,
    f.metric ? [t("lifeline.alarm.metric"), metricName(f.metric)] : null,
    value ? [t("lifeline.alarm.value"), value] : null,
    [t("lifeline.alarm.level"), t(`lifeline.level.${a.level}`)],
    [t("lifeline.alarm.current"), a.current_level ? t(`lifeline.level.${a.current_level}`) : "—"],
    [t("lifeline.alarm.count"), fmtNumber(a.count)],
    a.reraised ? [t("lifeline.alarm.reraised"), fmtNumber(a.reraised)] : null,
    [t("lifeline.alarm.firstSeen"), fmtFull(a.first_seen)],
    [t("lifeline.alarm.lastSeen"), fmtFull(a.last_seen)],
    a.acknowledged_at ? [t("lifeline.alarm.ackBy"), `${a.acknowledged_by} · ${fmtFull(a.acknowledged_at)}`] : null,
    a.cleared_at ? [t("lifeline.alarm.clearedAt"), `${tOr(`lifeline.how.${a.cleared_how}`, a.cleared_how || "")} · ${a.cleared_by || ""} · ${fmtFull(a.cleared_at)}`] : null,
  ]));
}

export async function mount(el, ctx) {
  ensureCss();
  const id = Number(ctx.params[0]);
  const page = h("div", { class: "c-page lf-page lf-alarm" });
  el.append(page);
  async function load() {
    const a = await api.get(`/api/v1/lifeline/alarms/${id}`);
    render(a);
  }
  function render(a) {
    const slot = h("div", { class: "action-slot", id: "lf-action-slot" });
    const may = OPERATORS.has(ctx.me.role);
    const open = (action) => {
      slot.replaceChildren(actionForm(a, action, (fresh, done) => {
        ctx.toast(t(done === "clear" ? "lifeline.alarm.cleared" : "lifeline.alarm.acknowledged", { id: a.id }));
        render(fresh);
      }));
      slot.querySelector("textarea").focus();
    };
    const bar = h("div", { class: "action-bar" },
      may && a.state === "active" ? h("button", { type: "button", class: "btn btn-primary", id: "lf-acknowledge", onclick: () => open("acknowledge") }, t("lifeline.alarm.acknowledge")) : null,
      may && a.state !== "cleared" ? h("button", { type: "button", class: "btn btn-warn", id: "lf-clear", onclick: () => open("clear") }, t("lifeline.alarm.clear")) : null);
    const series = seriesCard(a);
    fill(page, head(a), bar, slot,
      h("div", { class: "lf-detail" },
        h("div", { class: "lf-detail__main" }, series.box, logCard(a)),
        h("div", { class: "lf-detail__side" }, facts(a), caseCard(a, ctx, () => load().catch((e) => ctx.toast(errorMessage(e), "error"))))));
    page.dataset.state = a.state;
    page.dataset.id = String(a.id);
    series.draw();
  }
  try {
    await load();
  } catch (err) {
    page.replaceChildren(errorState(errorMessage(err), h("a", { class: "btn", href: "#/lifeline-alarms" }, t("lifeline.alarm.back"))));
    return undefined;
  }
  const reload = throttle(() => {
    if (page.querySelector(".lf-action")) { // the user is typing: say so instead of redrawing
      ctx.toast(t("lifeline.changed"), "warn");
      return;
    }
    load().catch(() => {});
  }, 2000);
  return ctx.onLive((msg) => {
    if (msg.name === "reset" || (msg.name.startsWith("LifelineAlarm") && msg.payload?.alarm_id === id)) reload();
  });
}
