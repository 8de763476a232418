// 指挥大屏: the operations centre's 1920×1080 cockpit. Figures come from /api/v1/screen/*;
// the live stream adds feed items and markers at once and refetches the figures (throttled).
import { api, currentUser, logout, requireLogin, uiConfig } from "../api.js";
import { axes, chart, DARK, gradient, hgradient } from "../charts.js";
import { currentLang, fmtNumber, fmtPercent, fmtTime, initI18n, t, tOr } from "../i18n.js";
import { connect } from "../live.js";
import { caseMarkers, createMap, drawRegions, gridLoadLayer, regions } from "../map.js";
import { $, animateNumber, h, langButton, throttle } from "../ui.js";
import { alarmFeedItem, mountLifeline } from "./screen/lifeline.js";

const FEED_MAX = 40;
const CLOSED = new Set(["closed", "invalid", "merged"]);
const ALERTS = new Set(["CaseOverdue", "CaseEscalated", "CaseSupervised", "CaseFastTracked", "CaseReturned"]);
const state = { tz: "Asia/Shanghai", overview: null, ranking: null, feed: [], map: null, lifeline: null };
const LAYERS_KEY = "cityops.screen.layers";

// -- layout -----------------------------------------------------------------------------------

function fitToWindow() {
  const screen = $("#screen");
  const fit = () => {
    const scale = Math.min(innerWidth / 1920, innerHeight / 1080);
    screen.style.transform = `translate(-50%, -50%) scale(${scale})`;
  };
  addEventListener("resize", fit);
  fit();
}

function header() {
  $("#lang-slot").replaceWith(langButton());
  $("#logout").addEventListener("click", logout);
  $("#user").textContent = currentUser()?.username ?? "";
  const tick = () => {
    const now = new Date();
    $("#clock").textContent = fmtTime(now, state.tz);
    $("#date").textContent = fmtTime(now, state.tz, { year: "numeric", month: "long", day: "numeric", weekday: "long" });
  };
  tick();
  setInterval(tick, 1000);
}

function setLiveStatus(status) {
  const el = $("#live-status");
  el.dataset.state = status;
  el.querySelector("b").dataset.i18n = `live.${status}`;
  el.querySelector("b").textContent = t(`live.${status}`);
}

function showError(err) {
  const box = $("#screen-error") || h("div", { id: "screen-error", class: "screen-error", role: "alert" });
  box.textContent = err.status === 403 ? t("error.forbidden") : err.message;
  $("#screen").append(box);
}

// -- map ----------------------------------------------------------------------------------------

function cellColour({ open, overdue }) {
  if (overdue > 0) {
    return { color: "#ff6b6b", weight: 1, fillColor: "#ff3b4e", fillOpacity: Math.min(0.3 + overdue * 0.12, 0.75) };
  }
  if (open >= 5) return { color: "#ffc648", weight: 0.8, fillColor: "#ffb020", fillOpacity: 0.5 };
  if (open >= 3) return { color: "#35d0ff", weight: 0.8, fillColor: "#1aa7ff", fillOpacity: 0.5 };
  if (open >= 1) return { color: "#35d0ff", weight: 0.6, fillColor: "#1aa7ff", fillOpacity: 0.24 };
  return { color: "rgba(90, 160, 255, 0.28)", weight: 0.5, fillColor: "#0b2646", fillOpacity: 0.55 };
}

function markerStyle(c) {
  const colour = c.overdue ? "#ff4d5e" : c.urgency === "urgent" ? "#ff9f43" : "#5ff0ff";
  return { radius: c.overdue ? 4.5 : 3.5, color: "#02101f", weight: 1, fillColor: colour, fillOpacity: 0.95 };
}

async function buildMap() {
  // Room on the right for the district figures laid over the map.
  const fit = { paddingTopLeft: [20, 20], paddingBottomRight: [300, 40] };
  const { map } = await createMap($("#map"), { interactive: true, fit });
  const grid = await gridLoadLayer(map, {
    colour: cellColour,
    tooltip: (p, c) => `${p.name}<br>${t("screen.map.open")} ${c.open} · ${t("screen.map.overdue")} ${c.overdue}`,
  });
  await drawRegions(map, "street", () => ({ color: "rgba(120, 200, 255, 0.45)", weight: 1, fill: false }));
  await drawRegions(map, "district", () => ({ color: "#59d8ff", weight: 2.4, fill: false, opacity: 0.9 }));
  const markers = caseMarkers(map, {
    style: markerStyle,
    popup: (c) => `${c.case_no ?? ""} ${c.category_name ?? ""}<br>${c.street_name ?? ""} ${c.grid_name ?? ""}`,
  });
  $("#map").dataset.cells = String(grid.size);
  const districts = (await regions("district")).features.map((f) => f.properties);
  return { map, grid, markers, districts };
}

/** Open and overdue cases per district, summed from the grid cells (codes share a prefix). */
function renderDistricts(m, cells) {
  const rows = m.districts.map((d) => {
    const mine = cells.filter((c) => c.code.startsWith(d.code));
    return { name: d.name, open: mine.reduce((s, c) => s + c.open, 0), overdue: mine.reduce((s, c) => s + c.overdue, 0) };
  });
  $("#map-districts").replaceChildren(...rows.map((r) => h("li", {},
    h("span", { class: "map-districts__name" }, r.name),
    h("span", {}, h("small", {}, t("screen.map.open")), h("b", {}, fmtNumber(r.open))),
    h("span", { class: "late" }, h("small", {}, t("screen.map.overdue")), h("b", {}, fmtNumber(r.overdue))))));
}

async function refreshMap(m, pending) {
  const view = await (pending ?? api.get("/api/v1/screen/map"));
  m.grid.setCounts(view.cells);
  m.cells = view.cells;
  renderDistricts(m, view.cells);
  m.markers.replaceAll(view.markers);
  $("#map").dataset.markers = String(m.markers.size);
}

function onCase(m, msg) {
  const c = msg.case;
  if (!c) return;
  if (CLOSED.has(c.state)) m.markers.remove(c.id);
  else m.markers.upsert(c);
  if (msg.name === "ReportSubmitted" || msg.name === "CaseFastTracked") m.markers.flash(c);
  $("#map").dataset.markers = String(m.markers.size);
}

/** The map's layers switched on and off (remembered): cases (grid load, markers) and lifeline. */
function layerToggles(m, lifeline) {
  let on = { cases: true, lifeline: true };
  try {
    on = { ...on, ...JSON.parse(localStorage.getItem(LAYERS_KEY) || "{}") };
  } catch { /* a damaged setting: the defaults */ }
  const apply = () => {
    for (const part of [m.grid.layer, m.markers.group]) {
      if (on.cases) part.addTo(m.map);
      else part.remove();
    }
    $("#map-districts").hidden = !on.cases;
    lifeline?.setVisible(on.lifeline);
    for (const b of document.querySelectorAll(".layer-toggle")) b.setAttribute("aria-pressed", String(on[b.dataset.layer]));
  };
  const button = (layer) => h("button", { type: "button", class: "layer-toggle", dataset: { layer }, "data-i18n": `screen.layer.${layer}`,
    onclick: () => {
      on[layer] = !on[layer];
      localStorage.setItem(LAYERS_KEY, JSON.stringify(on));
      apply();
    } }, t(`screen.layer.${layer}`));
  $("#map").closest(".panel").append(h("div", { class: "layer-toggles", id: "layer-toggles" },
    button("cases"), lifeline ? button("lifeline") : null));
  apply();
}

// -- charts -------------------------------------------------------------------------------------

function makeCharts() {
  return {
    channels: chart($("#chart-channels")),
    categories: chart($("#chart-categories")),
    h24: chart($("#chart-24h")),
    d30: chart($("#chart-30d")),
  };
}

function renderKpis(today) {
  for (const el of document.querySelectorAll("[data-kpi]")) {
    const key = el.dataset.kpi;
    const value = today[key];
    const format = key === "on_time_rate" ? (v) => fmtPercent(v) : (v) => fmtNumber(Math.round(v));
    animateNumber(el.querySelector(".kpi__value"), value, format);
  }
}

function renderChannels(c, byChannel) {
  const data = Object.entries(byChannel).map(([k, v]) => ({ name: tOr(`channel.${k}`, k), value: v }));
  const total = data.reduce((s, d) => s + d.value, 0);
  c.set({
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    legend: { orient: "vertical", right: 8, top: "middle", itemWidth: 10, itemHeight: 10, itemGap: 14,
      textStyle: { color: DARK.text, fontSize: 14 } },
    title: { text: fmtNumber(total), subtext: t("screen.kpi.reported"), left: "31%", top: "38%", textAlign: "center",
      textStyle: { color: "#eaf6ff", fontSize: 30, fontWeight: 600 }, subtextStyle: { color: DARK.muted, fontSize: 13 } },
    series: [{ type: "pie", radius: ["52%", "74%"], center: ["32%", "52%"], avoidLabelOverlap: true,
      itemStyle: { borderColor: "#061327", borderWidth: 3 }, label: { show: false },
      data: data.length ? data : [{ name: t("common.none"), value: 0, itemStyle: { color: "#1b3556" } }] }],
  }, true);
}

function renderCategories(c, rows) {
  const a = axes();
  const top = [...rows].reverse();
  c.set({
    grid: { ...a.grid, top: 6, right: 40 },
    tooltip: { ...a.tooltip, axisPointer: { type: "shadow" } },
    xAxis: { ...a.value, splitLine: { show: false }, axisLabel: { show: false } },
    yAxis: { ...a.category, data: top.map((r) => r.name), axisLabel: { ...a.category.axisLabel, color: DARK.text, fontSize: 14 } },
    series: [{ type: "bar", data: top.map((r) => r.count), barWidth: 12, showBackground: true,
      backgroundStyle: { color: "rgba(53, 208, 255, 0.06)", borderRadius: 6 },
      itemStyle: { borderRadius: 6, color: hgradient("rgba(53, 208, 255, 0.25)", "#35d0ff") },
      label: { show: true, position: "right", color: "#eaf6ff", fontSize: 14 } }],
  }, true);
}

function renderTrend24(c, tr) {
  const a = axes();
  const hours = tr.hours.map((iso) => fmtTime(iso, state.tz, { hour: "2-digit", minute: "2-digit" }));
  c.set({
    grid: a.grid, tooltip: a.tooltip, legend: a.legend,
    xAxis: { ...a.category, data: hours, axisLabel: { ...a.category.axisLabel, interval: 3 } },
    yAxis: a.value,
    series: [
      { name: t("screen.series.reported"), type: "bar", data: tr.reported, barWidth: "46%",
        itemStyle: { borderRadius: [3, 3, 0, 0], color: gradient("#35d0ff", "rgba(53, 208, 255, 0.12)") } },
      { name: t("screen.series.opened"), type: "line", data: tr.opened, smooth: 0.3, smoothMonotone: "x", symbol: "none",
        lineStyle: { width: 2, color: "#ffc648" }, itemStyle: { color: "#ffc648" } },
      { name: t("screen.series.closed"), type: "line", data: tr.closed, smooth: 0.3, smoothMonotone: "x", symbol: "none",
        lineStyle: { width: 2, color: "#3ee0a8" }, itemStyle: { color: "#3ee0a8" } },
    ],
  }, true);
}

function renderTrend30(c, tr) {
  const a = axes();
  const days = tr.days.map((d) => d.slice(5));
  c.set({
    grid: a.grid, tooltip: a.tooltip, legend: a.legend,
    xAxis: { ...a.category, data: days, boundaryGap: false, axisLabel: { ...a.category.axisLabel, interval: 5 } },
    yAxis: [a.value, { ...a.value, min: 0, max: 1, splitLine: { show: false },
      axisLabel: { ...a.value.axisLabel, formatter: (v) => `${Math.round(v * 100)}%` } }],
    series: [
      { name: t("screen.series.reported"), type: "line", data: tr.reported, smooth: 0.3, smoothMonotone: "x", symbol: "none",
        lineStyle: { width: 2, color: "#35d0ff" }, itemStyle: { color: "#35d0ff" },
        areaStyle: { color: gradient("rgba(53, 208, 255, 0.35)", "rgba(53, 208, 255, 0)") } },
      { name: t("screen.series.closed"), type: "line", data: tr.closed, smooth: 0.3, smoothMonotone: "x", symbol: "none",
        lineStyle: { width: 2, color: "#3ee0a8" }, itemStyle: { color: "#3ee0a8" },
        areaStyle: { color: gradient("rgba(62, 224, 168, 0.22)", "rgba(62, 224, 168, 0)") } },
      { name: t("screen.series.onTime"), type: "line", yAxisIndex: 1, data: tr.on_time_rate, smooth: 0.3,
        symbol: "none", connectNulls: true, lineStyle: { width: 1.5, type: "dashed", color: "#ffc648" },
        itemStyle: { color: "#ffc648" } },
    ],
  }, true);
}

function renderHotGrids(rows) {
  const list = $("#hot-grids");
  const max = Math.max(1, ...rows.map((r) => r.count));
  list.replaceChildren(...rows.slice(0, 5).map((r, i) => h("li", { class: "hot", dataset: { grid: r.grid_code } },
    h("span", { class: `rank rank--${i + 1}` }, String(i + 1)),
    h("span", { class: "hot__name" }, r.name, h("small", {}, r.street_name ?? "")),
    h("span", { class: "hot__bar" }, h("i", { style: { width: `${(100 * r.count) / max}%` } })),
    h("span", { class: "hot__count" }, t("screen.hotGrids.count", { count: fmtNumber(r.count) })),
    h("span", { class: "hot__state" + (r.overdue ? " hot__state--late" : "") },
      t("screen.hotGrids.state", { open: r.open, overdue: r.overdue })))));
}

function renderRanking(ranking) {
  const body = $("#ranking");
  if (!ranking.rows.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("common.none"))));
    return;
  }
  body.replaceChildren(...ranking.rows.slice(0, 7).map((r) => h("tr", {},
    h("td", {}, h("span", { class: `rank rank--${r.rank}` }, String(r.rank))),
    h("td", { class: "ranking__name", title: r.name }, r.name),
    h("td", { class: "ranking__score" }, h("span", { class: "score-bar" }, h("i", { style: { width: `${r.score ?? 0}%` } })),
      h("b", {}, r.score == null ? "—" : fmtNumber(r.score, { maximumFractionDigits: 1 }))),
    h("td", {}, fmtPercent(r.metrics.on_time_handle_rate, 0)))));
}

// -- the feed -----------------------------------------------------------------------------------

function feedKind(name) {
  if (name === "ReportSubmitted" || name === "ReportMerged") return "new";
  if (name === "CaseClosed") return "closed";
  if (ALERTS.has(name)) return "alert";
  return "step";
}

function feedItem(msg, fresh) {
  if (msg.payload?.alarm_id) return alarmFeedItem(msg, fresh, state.tz);
  const c = msg.case || {};
  const where = [c.street_name, c.grid_name].filter(Boolean).join(" · ");
  return h("li", { class: `feed__item feed__item--${feedKind(msg.name)}${fresh ? " feed__item--fresh" : ""}`,
    dataset: { case: c.case_no ?? "", event: msg.name } },
    h("time", { datetime: msg.at }, fmtTime(msg.at, state.tz)),
    h("span", { class: "tag" }, tOr(`event.${msg.name}`, msg.name)),
    h("span", { class: "feed__what" }, h("b", {}, c.category_name ?? c.title ?? ""), h("small", {}, where)),
    h("span", { class: "feed__no" }, c.case_no ?? ""));
}

function feedTime(msg) {
  const at = Date.parse(msg.at);
  return Number.isNaN(at) ? Date.now() : at;
}

/** Newest first by when it happened, not when it arrived: a late message (an alarm raised
 * on the device earlier, a slow batch) goes below the newer ones; of equal times, the later
 * arrival goes first. */
function addFeed(msg, fresh) {
  const at = feedTime(msg);
  let index = state.feed.findIndex((m) => feedTime(m) <= at);
  if (index < 0) index = state.feed.length;
  if (index >= FEED_MAX) return; // older than everything the full feed shows
  state.feed.splice(index, 0, msg);
  state.feed.length = Math.min(state.feed.length, FEED_MAX);
  const list = $("#feed");
  list.insertBefore(feedItem(msg, fresh), list.children[index] ?? null);
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
}

function renderFeed() {
  $("#feed").replaceChildren(...state.feed.map((m) => feedItem(m, false)));
}

async function loadFeed(pending) {
  state.feed = await (pending ?? api.get("/api/v1/screen/feed", { limit: FEED_MAX }));
  renderFeed();
}

// -- data ---------------------------------------------------------------------------------------

function renderOverview(charts) {
  const o = state.overview;
  if (!o) return;
  renderKpis(o.today);
  renderChannels(charts.channels, o.today.by_channel);
  renderCategories(charts.categories, o.top_categories);
  renderTrend24(charts.h24, o.trend_24h);
  renderTrend30(charts.d30, o.trend_30d);
  renderHotGrids(o.hot_grids);
  $("#updated").textContent = t("screen.updated", { time: fmtTime(o.generated_at, state.tz) });
}

async function refreshOverview(charts, pending) {
  state.overview = await (pending ?? api.get("/api/v1/screen/overview"));
  renderOverview(charts);
}

async function refreshRanking() {
  state.ranking = await api.get("/api/v1/screen/ranking");
  renderRanking(state.ranking);
}

async function main() {
  if (!requireLogin()) return;
  await initI18n(["screen", "lifeline"]);
  fitToWindow();
  const config = await uiConfig();
  state.tz = config.timezone;
  $("#city-name").textContent = config.city?.name ?? "";
  header();
  const charts = makeCharts();
  try {
    // Ask for everything at once; the map's polygons and the figures arrive in parallel.
    ["grid", "street", "district"].forEach((level) => regions(level));
    const pending = {
      overview: api.get("/api/v1/screen/overview"),
      map: api.get("/api/v1/screen/map"),
      feed: api.get("/api/v1/screen/feed", { limit: FEED_MAX }),
    };
    const ranking = refreshRanking(); // the evaluation is the slowest read: do not wait for it
    const m = await buildMap();
    state.map = m;
    // The lifeline layer is an addition: if it cannot load, the rest of the screen still works.
    state.lifeline = await mountLifeline(m.map, $("#map").closest(".panel"), $("#map")).catch((err) => {
      console.warn("lifeline layer:", err);
      return null;
    });
    layerToggles(m, state.lifeline);
    await Promise.all([refreshOverview(charts, pending.overview), refreshMap(m, pending.map),
      loadFeed(pending.feed)]);
    ranking.catch(showError);
    const refresh = throttle(() => {
      refreshOverview(charts).catch(console.warn);
      refreshMap(m).catch(console.warn);
    }, 2000);
    connect("/api/v1/live/stream", {
      heartbeatSeconds: config.live.heartbeat_seconds,
      onStatus: setLiveStatus,
      onMessage: (msg) => {
        if (msg.payload?.alarm_id) {
          state.lifeline?.onMessage(msg);
          addFeed(msg, true);
          return;
        }
        if (msg.case) { // other events without a case (a dead letter, say) are not the feed's
          addFeed(msg, true);
          onCase(m, msg);
        }
        refresh();
      },
      onReset: () => {
        refresh();
        state.lifeline?.refresh().catch(console.warn);
        loadFeed().catch(console.warn);
      },
    });
    setInterval(refresh, 60_000); // the clock moves cases into overdue without any event
    setInterval(() => state.lifeline?.refresh().catch(console.warn), 60_000); // 24-hour sums
    setInterval(() => refreshRanking().catch(console.warn), 300_000);
  } catch (err) {
    showError(err);
    throw err;
  }
  addEventListener("langchange", () => {
    renderOverview(charts);
    if (state.map?.cells) renderDistricts(state.map, state.map.cells);
    if (state.ranking) renderRanking(state.ranking);
    state.lifeline?.redraw();
    renderFeed();
  });
  document.documentElement.dataset.lang = currentLang();
  $("#screen").dataset.ready = "1";
}

main();
