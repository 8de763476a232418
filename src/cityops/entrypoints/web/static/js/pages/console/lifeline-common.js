// Shared by the console's lifeline views (城市生命线): stylesheet, level and state badges,
// durations, the light chart theme, the response target of an unacknowledged alarm, and a
// safe view of raw bytes.
import { ApiError, api } from "../../api.js";
import { fmtNumber, localized, t, tOr } from "../../i18n.js";
import { h, linkStylesheet } from "../../ui.js";

/** Link css/lifeline.css (the shell links only its own stylesheet). */
export function ensureCss() {
  linkStylesheet("/static/css/lifeline.css");
}

export const LEVELS = [4, 3, 2, 1];
export const LEVEL_COLOURS = { 1: "#2f7bf5", 2: "#e0b000", 3: "#f07a1a", 4: "#e5383b" };
export const TYPES = ["gas_leak", "gas_leak_coupled", "gas_pressure_low", "gas_pressure_high", "gas_pressure_drop",
  "water_pressure_low", "water_main_burst", "drainage_overflow", "bridge_structure", "bridge_vibration",
  "tunnel_environment", "tunnel_gas", "offline", "anomaly"];
export const KINDS = ["gas_pipe", "water_main", "heating_pipe", "drainage_node", "bridge_span", "tunnel_section",
  "manhole", "sewer_well", "cable_well"];
// Minutes to acknowledge an alarm of each level: the centre's response target (the console's
// own convention, like 红 = 5 minutes in most city emergency plans), not an API rule.
export const RESPONSE_MINUTES = { 4: 5, 3: 15, 2: 30, 1: 60 };
// Who may acknowledge and clear (the API's Operators).
export const OPERATORS = new Set(["admin", "commander", "shift_leader", "dispatcher", "handler"]);

export function levelBadge(level) {
  return h("span", { class: `lf-level lf-level--${level}`, title: tOr(`lifeline.level.${level}`, String(level)), dataset: { level } },
    tOr(`lifeline.levelShort.${level}`, String(level)));
}

export function stateBadge(state) {
  return h("span", { class: `badge lf-state lf-state--${state}`, dataset: { state } }, tOr(`lifeline.state.${state}`, state));
}

export const typeName = (type) => tOr(`lifeline.type.${type}`, type);
export const kindName = (kind) => tOr(`lifeline.kind.${kind}`, kind);
/** A metric's name in the user's language (可燃气体 / Combustible gas); unknown: its own name. */
export const metricName = (metric) => tOr(`lifeline.metric.${metric}`, metric);

// The unit codes devices declare (UCUM / SenML, domain/lifeline/units.py) as people write
// them, the same in both languages; a code not listed reads as itself (MPa, Hz, %RH).
const UNIT_LABELS = {
  "%{LEL}": "%LEL", Cel: "℃", ustrain: "με", "mm/s2": "mm/s²", "m/s2": "m/s²", m3: "m³",
  "m3/h": "m³/h", "m3/s": "m³/s", "l/s": "L/s", "l/min": "L/min", "kg/m3": "kg/m³",
  "mg/m3": "mg/m³", deg: "°", 1: "", "/": "", count: "",
};
export const unitLabel = (unit) => UNIT_LABELS[unit] ?? unit ?? "";

/** "1.25 MPa", "12 %LEL", "23.5℃": a reading with its unit as people write it. */
export function fmtReading(value, unit) {
  const label = unitLabel(unit);
  const number = fmtNumber(value, { maximumFractionDigits: 3 });
  return label === "℃" || label === "°" ? `${number}${label}` : `${number} ${label}`.trim();
}

/** 45秒 / 12分钟 / 3小时20分 / 2天4小时, in the user's language. */
export function fmtSpan(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("lifeline.dur.s", { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("lifeline.dur.m", { m });
  const hours = Math.floor(m / 60);
  if (hours < 48) return t("lifeline.dur.hm", { h: hours, m: m % 60 });
  return t("lifeline.dur.d", { d: fmtNumber(Math.floor(hours / 24)), h: hours % 24 });
}

/** The response chip: how long an active alarm has waited against its level's target
 * (green under half, yellow under the target, red over); who acknowledged; how it cleared. */
export function responseChip(a, now = Date.now()) {
  if (a.state === "cleared") {
    return h("span", { class: "clock clock--paused" }, t("lifeline.response.cleared", { how: tOr(`lifeline.how.${a.cleared_how}`, a.cleared_how || "") }));
  }
  if (a.state === "acknowledged") {
    return h("span", { class: "clock clock--green", dataset: { colour: "green" } }, h("i"), t("lifeline.response.ackBy", { who: a.acknowledged_by || "—" }));
  }
  const target = (RESPONSE_MINUTES[a.level] || 60) * 60;
  const waited = (now - Date.parse(a.first_seen)) / 1000;
  const colour = waited >= target ? "red" : waited >= target / 2 ? "yellow" : "green";
  const text = waited >= target ? t("lifeline.response.late", { d: fmtSpan(waited - target) }) : t("lifeline.response.waiting", { d: fmtSpan(waited) });
  return h("span", { class: `clock clock--${colour}`, dataset: { colour }, title: t("lifeline.response.target", { m: target / 60 }) }, h("i"), text);
}

export function errorMessage(err) {
  if (err instanceof ApiError && err.status === 403) return t("lifeline.forbidden");
  return localized(err?.message ?? String(err));
}

/** The light theme for charts in the console (charts.js defaults to the big screen's dark). */
export const LIGHT = {
  text: "#33475b",
  muted: "#7a8aa0",
  line: "rgba(60, 90, 130, 0.14)",
  palette: ["#1677ff", "#e5383b", "#f07a1a", "#13a36e", "#7a5af8"],
};

// -- raw bytes, shown safely ---------------------------------------------------------------------

/** Bytes of a dead letter: UTF-8 text as it came, base64 (not UTF-8) decoded to bytes. */
export function rawBytes(item) {
  if (item.raw_encoding !== "base64") return null;
  const bin = atob(item.raw);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A hex dump (offset, 16 bytes in hex, printable ASCII) of at most `max` bytes. */
export function hexDump(bytes, max = 4096) {
  const lines = [];
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i += 16) {
    const row = bytes.slice(i, Math.min(i + 16, n));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > max) lines.push(`… ${bytes.length - max} more bytes`);
  return lines.join("\n");
}

/** Text for a UTF-8 payload: JSON pretty-printed when it parses, else as is. The caller puts
 * it in textContent, so nothing in it is ever markup. */
export function rawText(item) {
  try {
    return JSON.stringify(JSON.parse(item.raw), null, 2);
  } catch {
    return item.raw;
  }
}

/** A <pre> showing a dead letter's bytes: text (escaped by textContent) or a hex dump. */
export function rawBlock(item) {
  const bytes = rawBytes(item);
  const pre = h("pre", { class: "lf-raw", dataset: { encoding: bytes ? "hex" : "utf-8" } });
  pre.textContent = bytes ? hexDump(bytes) : rawText(item);
  return h("div", { class: "lf-raw-box" },
    h("p", { class: "muted small" }, t("lifeline.dl.bytes", { n: fmtNumber(item.raw_bytes ?? (bytes ? bytes.length : item.raw.length)),
      enc: bytes ? t("lifeline.dl.hex") : "UTF-8" })),
    pre);
}

/**
 * The emergency plan (应急预案) on a case: its name, steps with progress (a button marks a step
 * done for those who act), contacts and resources as attached. ``reload`` redraws the view.
 */
export function planBlock(plan, caseId, ctx, reload, fmtDone) {
  const canAct = ctx.me.role !== "auditor" && ctx.me.role !== "citizen";
  const step = (s) => h("li", { class: s.done_at ? "done" : null, dataset: { step: s.no } },
    h("span", { class: "lf-steps__text" }, s.text),
    s.done_at
      ? h("small", { class: "muted" }, fmtDone(s), s.note ? ` · ${s.note}` : "")
      : canAct ? h("button", { type: "button", class: "btn btn-sm", onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api.post(`/api/v1/lifeline/cases/${caseId}/plan-steps/${s.no}/done`, {});
          ctx.toast(t("lifeline.alarm.stepMarked", { n: s.no }));
          reload();
        } catch (err) {
          ctx.toast(errorMessage(err), "error");
          ev.target.disabled = false;
        }
      } }, t("lifeline.alarm.stepDone")) : null);
  const done = plan.steps.filter((s) => s.done_at).length;
  return h("div", { class: "lf-plan", dataset: { plan: plan.code } },
    h("h3", {}, t("lifeline.plan.title", { name: plan.name || plan.code }), " ",
      h("small", { class: "muted lf-plan__progress" }, t("lifeline.plan.progress", { done, total: plan.steps.length }))),
    h("ol", { class: "lf-steps" }, plan.steps.map(step)),
    plan.contacts?.length ? h("div", { class: "lf-plan__contacts" }, h("h4", {}, t("lifeline.plan.contacts")),
      h("ul", {}, plan.contacts.map((c) => h("li", {}, h("b", {}, c.name), c.role ? ` · ${c.role}` : "",
        c.phone ? h("a", { href: `tel:${c.phone}`, class: "lf-plan__phone" }, c.phone) : null)))) : null,
    plan.resources?.length ? h("div", { class: "lf-plan__resources" }, h("h4", {}, t("lifeline.plan.resources")),
      h("p", {}, plan.resources.join("；"))) : null);
}
