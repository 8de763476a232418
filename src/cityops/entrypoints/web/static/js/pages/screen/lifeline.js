// The big screen's city lifeline (城市生命线) layer: every asset the viewer may see on the map —
// pipes and tunnel sections as lines, wells, nodes and bridges as points — dim in their kind's
// colour while normal, bright in the level's colour while an alarm is open (pulsing until it
// is acknowledged); a panel with open alarms by level and by type. The live stream's alarm
// events restyle the map and the panel at once (throttled refetch of /screen/lifeline).
import * as L from "leaflet";
import { api } from "../../api.js";
import { axes, chart, DARK } from "../../charts.js";
import { fmtNumber, fmtTime, t, tOr } from "../../i18n.js";
import { h, linkStylesheet, throttle } from "../../ui.js";

export const LEVEL_COLOURS = { 1: "#3b8bff", 2: "#ffd43b", 3: "#ff9f43", 4: "#ff3b4e" };
const KIND_COLOURS = {
  gas_pipe: "#d9b44a", water_main: "#4da3f7", heating_pipe: "#e07a7a", drainage_node: "#4fd1a5",
  bridge_span: "#a48cf0", tunnel_section: "#5fcfe0", manhole: "#7f95b3", sewer_well: "#7f95b3", cable_well: "#7f95b3",
};
const TOP_TYPES = 6;

function style(kind, worst) {
  if (!worst) return { color: KIND_COLOURS[kind] || "#7f95b3", weight: 1.6, opacity: 0.55, fillColor: KIND_COLOURS[kind] || "#7f95b3", fillOpacity: 0.45, radius: 2.2 };
  const colour = LEVEL_COLOURS[worst.level];
  return { color: colour, weight: 4, opacity: 1, fillColor: colour, fillOpacity: 0.95, radius: 5.5 };
}

function panel() {
  const levels = [4, 3, 2, 1].map((level) => h("div", { class: `lf-screen-level lf-screen-level--${level}`, dataset: { level, count: 0 } },
    h("b", {}, "0"), h("span", { "data-i18n": `lifeline.levelShort.${level}` }, t(`lifeline.levelShort.${level}`))));
  const el = h("div", { class: "lifeline-panel", id: "lifeline-panel" },
    h("h3", {}, h("span", { "data-i18n": "screen.lifeline.panel" }, t("screen.lifeline.panel")), h("small", { id: "lifeline-open" })),
    h("div", { class: "lf-screen-levels" }, levels),
    h("div", { class: "lf-screen-sums" },
      h("span", {}, h("span", { "data-i18n": "screen.lifeline.active" }, t("screen.lifeline.active")), h("b", { id: "lifeline-active" }, "0")),
      h("span", {}, h("span", { "data-i18n": "screen.lifeline.raised24" }, t("screen.lifeline.raised24")), h("b", { id: "lifeline-raised" }, "0")),
      h("span", {}, h("span", { "data-i18n": "screen.lifeline.cleared24" }, t("screen.lifeline.cleared24")), h("b", { id: "lifeline-cleared" }, "0"))),
    h("div", { class: "lf-screen-types", id: "lifeline-types" }));
  return el;
}

function renderTypes(c, byType) {
  const rows = Object.entries(byType).map(([type, levels]) => ({ type, levels, total: Object.values(levels).reduce((s, n) => s + n, 0) }))
    .sort((a, b) => b.total - a.total).slice(0, TOP_TYPES).reverse();
  const a = axes();
  c.set({
    grid: { left: 4, right: 10, top: 4, bottom: 0, containLabel: true },
    tooltip: { ...a.tooltip, axisPointer: { type: "shadow" } },
    xAxis: { ...a.value, splitLine: { show: false }, axisLabel: { show: false } },
    yAxis: { ...a.category, data: rows.map((r) => tOr(`lifeline.type.${r.type}`, r.type)),
      axisLabel: { ...a.category.axisLabel, color: DARK.text, fontSize: 12, width: 96, overflow: "truncate" } },
    series: [1, 2, 3, 4].map((level) => ({
      name: t(`lifeline.levelShort.${level}`), type: "bar", stack: "level", barWidth: 10,
      itemStyle: { color: LEVEL_COLOURS[level] }, data: rows.map((r) => r.levels[String(level)] || 0),
    })),
    graphic: rows.length ? [] : [{ type: "text", left: "center", top: "middle",
      style: { text: t("screen.lifeline.normal"), fill: DARK.muted, fontSize: 14 } }],
  }, true);
}

/**
 * mountLifeline(map, mapPanel, mapEl) → {refresh(), onMessage(msg), setVisible(on), redraw()}.
 * Draws the layer and the panel; mapEl gets data-lifeline-assets / data-lifeline-alarms.
 */
export async function mountLifeline(map, mapPanel, mapEl) {
  linkStylesheet("/static/css/lifeline.css");
  const host = panel();
  mapPanel.append(host);
  const types = chart(host.querySelector("#lifeline-types"));
  const paths = new Map(); // code -> {layer, kind}
  const pulses = L.layerGroup();
  let summary = null;
  const collection = await api.get("/api/v1/screen/lifeline/assets");
  const layer = L.geoJSON(collection, {
    style: (f) => style(f.properties.kind, null),
    pointToLayer: (f, latlng) => L.circleMarker(latlng, style(f.properties.kind, null)),
    onEachFeature: (f, path) => {
      paths.set(f.properties.code, { layer: path, kind: f.properties.kind, name: f.properties.name });
      path.bindTooltip(() => tooltip(f.properties), { sticky: true });
    },
  });
  mapEl.dataset.lifelineAssets = String(paths.size);

  function tooltip(p) {
    const worst = summary?.assets?.[p.code];
    const head = t("screen.lifeline.tooltip", { name: p.name, code: p.code });
    const kind = tOr(`lifeline.kind.${p.kind}`, p.kind);
    if (!worst) return `${head}<br>${kind} · ${t("screen.lifeline.normal")}`;
    const what = worst.types.map((x) => tOr(`lifeline.type.${x}`, x)).join("、");
    return `${head}<br>${kind} · ${t(`lifeline.level.${worst.level}`)} · ${tOr(`lifeline.state.${worst.state}`, worst.state)}<br>${what}`;
  }

  function apply() {
    const assets = summary.assets;
    pulses.clearLayers();
    let alarmed = 0;
    for (const [code, { layer: path, kind }] of paths) {
      const worst = assets[code];
      path.setStyle(style(kind, worst));
      if (!worst) continue;
      alarmed += 1;
      path.bringToFront();
      if (worst.state === "active") {
        const at = path.getLatLng ? path.getLatLng() : path.getBounds().getCenter();
        // The ring is animated inside the icon: Leaflet positions the icon itself by transform.
        const icon = L.divIcon({ className: "lf-pulse", html: "<i></i>", iconSize: [24, 24] });
        L.marker(at, { interactive: false, keyboard: false, icon }).addTo(pulses);
      }
    }
    mapEl.dataset.lifelineAlarms = String(alarmed);
    render();
  }

  function render() {
    if (!summary) return;
    for (const tile of host.querySelectorAll(".lf-screen-level")) {
      const n = summary.by_level[tile.dataset.level] || 0;
      tile.dataset.count = String(n);
      tile.querySelector("b").textContent = fmtNumber(n);
    }
    host.querySelector("#lifeline-open").textContent = t("lifeline.openCount", { n: fmtNumber(summary.open) });
    host.querySelector("#lifeline-active").textContent = fmtNumber(summary.by_state.active || 0);
    host.querySelector("#lifeline-raised").textContent = fmtNumber(summary.raised_24h);
    host.querySelector("#lifeline-cleared").textContent = fmtNumber(summary.cleared_24h);
    host.dataset.open = String(summary.open);
    renderTypes(types, summary.by_type);
  }

  async function refresh() {
    summary = await api.get("/api/v1/screen/lifeline");
    apply();
  }

  await refresh();
  const later = throttle(() => refresh().catch(console.warn), 2000);
  return {
    refresh,
    redraw: render,
    onMessage(msg) {
      const path = paths.get(msg.payload?.asset);
      if (path && map.hasLayer(layer) && (msg.name === "LifelineAlarmRaised" || msg.name === "LifelineAlarmEscalated")) {
        map.flyTo(path.layer.getLatLng ? path.layer.getLatLng() : path.layer.getBounds().getCenter(), map.getZoom(), { duration: 0.6 });
      }
      later();
    },
    setVisible(on) {
      host.hidden = !on;
      mapPanel.classList.toggle("has-lifeline", on);
      for (const part of [layer, pulses]) {
        if (on) part.addTo(map);
        else part.remove();
      }
      mapEl.dataset.lifeline = on ? "on" : "off";
      if (on) types.instance.resize();
    },
  };
}

/** A feed line for an alarm event (the feed's other lines are case events). */
export function alarmFeedItem(msg, fresh, tz) {
  const p = msg.payload || {};
  return h("li", { class: `feed__item feed__item--lifeline${fresh ? " feed__item--fresh" : ""}`,
    dataset: { alarm: p.alarm_id, event: msg.name, level: p.level } },
  h("time", { datetime: msg.at }, fmtTime(msg.at, tz)),
  h("span", { class: "tag" }, `${t("screen.lifeline.feed")}·${t(`lifeline.levelShort.${p.level}`)}`),
  h("span", { class: "feed__what" }, h("b", {}, tOr(`lifeline.type.${p.alarm_type}`, p.alarm_type)),
    h("small", {}, `${p.asset_name ?? ""} · ${tOr(`lifeline.what.${p.what}`, p.what)}`)),
  h("span", { class: "feed__no" }, p.asset ?? ""));
}
