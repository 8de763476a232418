// 综合评价: evaluation tables by department / street / grid / inspector, the composite score
// with adjustable weights, each column's formula as its tooltip, CSV export from the API; and
// the routing-quality report (分拨质量) per responsibility rule.
import { api, download, uiConfig } from "../../api.js";
import { currentLang, fmtNumber, fmtPercent, localized, offsetOf, t } from "../../i18n.js";
import { h } from "../../ui.js";
import { drafts, ensureCss, errorBox, errorText, loading, sortableTable, viewHeader } from "./admin-common.js";

const DIMENSIONS = ["department", "street", "grid", "inspector"];
const PRESETS = ["7d", "30d", "month", "lastMonth", "custom"];
const RATES = new Set(["close_rate", "on_time_close_rate", "on_time_handle_rate", "rework_rate", "return_rate", "satisfaction"]);
const LOWER_IS_BETTER = new Set(["rework_rate", "return_rate", "overdue", "returned", "reworked", "mean_handle_hours", "median_handle_hours"]);

function localDate(d, timeZone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
}

function addDays(iso, n) {
  const d = new Date(`${iso}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** [from, to] as local dates (inclusive) for a preset. */
function presetRange(preset, today) {
  if (preset === "7d") return [addDays(today, -6), today];
  if (preset === "month") return [`${today.slice(0, 8)}01`, today];
  if (preset === "lastMonth") {
    const first = `${today.slice(0, 8)}01`;
    const end = addDays(first, -1);
    return [`${end.slice(0, 8)}01`, end];
  }
  return [addDays(today, -29), today];
}

export async function mount(el, ctx) {
  ensureCss();
  const config = await uiConfig().catch(() => ({ timezone: "Asia/Shanghai" }));
  const tz = config.timezone || "Asia/Shanghai";
  const offset = offsetOf(tz);
  const today = localDate(new Date(), tz);
  const saved = drafts.get("evaluation") || {};
  const state = {
    tab: ctx.params?.[0] === "routing" ? "routing" : "table",
    dimension: DIMENSIONS.includes(saved.dimension) ? saved.dimension : "department",
    preset: PRESETS.includes(saved.preset) ? saved.preset : "30d",
    from: saved.from || null,
    to: saved.to || null,
    weights: saved.weights || null, // {metric: weight} the user set; null = the API's defaults
    result: null,
    routing: null,
  };
  if (state.preset !== "custom" || !state.from || !state.to) [state.from, state.to] = presetRange(state.preset, today);
  const persist = () => drafts.set("evaluation", { dimension: state.dimension, preset: state.preset, from: state.from, to: state.to, weights: state.weights });
  const query = () => ({ from: `${state.from}T00:00:00${offset}`, to: `${addDays(state.to, 1)}T00:00:00${offset}` });

  const body = h("div", { class: "adm-body" });
  const tabs = h("div", { class: "adm-tabs", role: "tablist" });
  const fromInput = h("input", { type: "date", value: state.from, max: today, "aria-label": t("eval.from") });
  const toInput = h("input", { type: "date", value: state.to, max: today, "aria-label": t("eval.to") });
  const presetSel = h("select", { "aria-label": t("eval.period") }, PRESETS.map((p) => h("option", { value: p, selected: p === state.preset }, t(`eval.preset.${p}`))));
  const dimSel = h("select", { "aria-label": t("eval.dimension"), class: "eval-dim" }, DIMENSIONS.map((d) => h("option", { value: d, selected: d === state.dimension }, t(`eval.dim.${d}`))));
  const csvBtn = h("button", { type: "button", class: "btn", "data-testid": "eval-csv" }, t("eval.csv"));
  const weightsBtn = h("button", { type: "button", class: "btn", "aria-expanded": "false" }, t("eval.weights"));
  const weightsPanel = h("div", { class: "eval-weights", hidden: true });
  const summary = h("p", { class: "muted eval-summary" });

  presetSel.addEventListener("change", () => {
    state.preset = presetSel.value;
    if (state.preset !== "custom") {
      [state.from, state.to] = presetRange(state.preset, today);
      fromInput.value = state.from;
      toInput.value = state.to;
    }
    persist();
    load();
  });
  for (const input of [fromInput, toInput]) {
    input.addEventListener("change", () => {
      if (!fromInput.value || !toInput.value) return;
      if (fromInput.value > toInput.value) {
        ctx.toast(t("eval.badRange"), "error");
        return;
      }
      state.preset = "custom";
      presetSel.value = "custom";
      state.from = fromInput.value;
      state.to = toInput.value;
      persist();
      load();
    });
  }
  dimSel.addEventListener("change", () => {
    state.dimension = dimSel.value;
    persist();
    load();
  });
  weightsBtn.addEventListener("click", () => {
    weightsPanel.hidden = !weightsPanel.hidden;
    weightsBtn.setAttribute("aria-expanded", String(!weightsPanel.hidden));
  });
  csvBtn.addEventListener("click", async () => {
    csvBtn.disabled = true;
    try {
      if (state.tab === "routing") {
        await download("/api/v1/reports/routing-quality", { ...query(), format: "csv" }, `routing-quality_${state.from}_${state.to}.csv`);
      } else {
        await download("/api/v1/evaluation", { ...query(), dimension: state.dimension, weights: weightsParam(), format: "csv" }, `evaluation-${state.dimension}_${state.from}_${state.to}.csv`);
      }
      ctx.toast(t("eval.csvDone"));
    } catch (err) {
      ctx.toast(errorText(err), "error");
    } finally {
      csvBtn.disabled = false;
    }
  });

  const weightsParam = () => (state.weights ? Object.entries(state.weights).map(([k, v]) => `${k}:${v}`).join(",") : undefined);

  const toolbar = h("div", { class: "adm-toolbar" },
    h("div", { class: "adm-toolbar__group" }, dimSel, presetSel, fromInput, h("span", { class: "muted" }, "—"), toInput),
    h("div", { class: "adm-toolbar__group" }, weightsBtn, csvBtn));

  el.replaceChildren(h("section", { class: "adm eval" },
    viewHeader("eval.title", "eval.subtitle"), tabs, toolbar, weightsPanel, summary, body));

  function drawTabs() {
    tabs.replaceChildren(...["table", "routing"].map((k) => h("button", {
      type: "button", role: "tab", class: `adm-tab${state.tab === k ? " is-active" : ""}`, "aria-selected": String(state.tab === k),
      onclick: () => {
        state.tab = k;
        ctx.navigate?.(k === "routing" ? "#/evaluation/routing" : "#/evaluation");
        drawTabs();
        load();
      },
    }, t(`eval.tab.${k}`))));
    dimSel.hidden = state.tab === "routing";
    weightsBtn.hidden = state.tab === "routing";
    if (state.tab === "routing") weightsPanel.hidden = true;
  }

  function label(meta) {
    return currentLang() === "en" ? meta.label_en : meta.label_zh;
  }

  function drawWeights(result) {
    const weights = result.weights;
    const inputs = {};
    weightsPanel.replaceChildren(
      h("p", { class: "muted" }, t("eval.weightsHelp")),
      h("div", { class: "eval-weights__grid" }, Object.entries(weights).map(([k, v]) => {
        inputs[k] = h("input", { type: "number", min: "0", max: "10", step: "0.05", value: String(v), "aria-label": label(result.formulas[k] || { label_zh: k, label_en: k }) });
        return h("label", { class: "adm-field" }, h("span", {}, label(result.formulas[k] || { label_zh: k, label_en: k })), inputs[k]);
      })),
      h("div", { class: "adm-row" },
        h("button", { type: "button", class: "btn btn-primary", onclick: () => {
          const next = {};
          for (const [k, input] of Object.entries(inputs)) {
            const n = Number(input.value);
            if (!Number.isFinite(n) || n < 0) {
              ctx.toast(t("eval.badWeight", { name: label(result.formulas[k]) }), "error");
              input.focus();
              return;
            }
            next[k] = n;
          }
          state.weights = next;
          persist();
          load();
        } }, t("eval.applyWeights")),
        h("button", { type: "button", class: "btn", onclick: () => {
          state.weights = null;
          persist();
          load();
        } }, t("eval.resetWeights"))));
  }

  function metricCell(key, value) {
    if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
    if (RATES.has(key)) {
      const good = LOWER_IS_BETTER.has(key) ? 1 - value : value;
      const tone = good >= 0.9 ? "good" : good >= 0.7 ? "warn" : "bad";
      return h("span", { class: `eval-rate eval-rate--${tone}` }, fmtPercent(value));
    }
    if (key.endsWith("_hours")) return fmtNumber(value, { maximumFractionDigits: 1 });
    return fmtNumber(value);
  }

  function drawTable(result) {
    const keys = Object.keys(result.formulas).filter((k) => k !== "score");
    const rows = result.rows.map((r, i) => ({ ...r, _rank: i + 1 }));
    const columns = [
      { key: "rank", label: t("eval.rank"), num: true, value: (r) => r._rank },
      { key: "name", label: t(`eval.dim.${state.dimension}`), value: (r) => r.name || r.key, render: (r) => h("span", { class: "eval-name", title: r.key }, r.name || r.key) },
      { key: "score", label: label(result.formulas.score), title: localized(result.formulas.score.formula), num: true, value: (r) => r.score,
        render: (r) => r.score === null || r.score === undefined ? h("span", { class: "muted" }, "—")
          : h("span", { class: "eval-score" }, h("span", { class: "eval-score__bar", style: { width: `${Math.max(0, Math.min(100, r.score))}%` } }), h("b", {}, fmtNumber(r.score, { maximumFractionDigits: 1 }))) },
      ...keys.map((k) => ({ key: k, label: label(result.formulas[k]), title: localized(result.formulas[k].formula), num: true, value: (r) => r.metrics[k], render: (r) => metricCell(k, r.metrics[k]) })),
    ];
    const { table } = sortableTable({ columns, rows, empty: t("eval.empty"), className: "eval-table" });
    body.replaceChildren(h("div", { class: "adm-card adm-scroll" }, table),
      h("details", { class: "adm-card eval-formulas" }, h("summary", {}, t("eval.formulas")),
        h("dl", {}, Object.entries(result.formulas).flatMap(([k, f]) => [h("dt", {}, label(f)), h("dd", {}, localized(f.formula))]))));
    summary.textContent = t("eval.summary", { n: rows.length, from: state.from, to: state.to });
  }

  function drawRouting(report) {
    const columns = [
      { key: "category", label: t("eval.rq.category"), value: (r) => r.category, render: (r) => h("span", {}, h("code", {}, r.category), " ", r.category_name || "") },
      { key: "area", label: t("eval.rq.area"), value: (r) => r.area, render: (r) => r.area_name || r.area },
      { key: "department", label: t("eval.rq.department"), value: (r) => r.department_name || r.department },
      { key: "rule", label: t("eval.rq.rule"), value: (r) => r.rule_id ?? null, render: (r) => (r.kind === "rule" ? `#${r.rule_id} · ${r.ruleset}` : t("eval.rq.owner")) },
      { key: "dispatches", label: t("eval.rq.dispatches"), num: true, value: (r) => r.dispatches },
      { key: "returned", label: t("eval.rq.returned"), num: true, value: (r) => r.returned },
      { key: "return_rate", label: t("eval.rq.returnRate"), num: true, value: (r) => r.return_rate, render: (r) => metricCell("return_rate", r.return_rate) },
      { key: "redispatched", label: t("eval.rq.redispatched"), num: true, value: (r) => r.redispatched },
      { key: "hint", label: t("eval.rq.hint"), value: (r) => r.hint?.name || null, render: (r) => (r.hint ? `${r.hint.name}（${fmtNumber(r.hint.cases)}）` : "—") },
      { key: "examples", label: t("eval.rq.examples"), sortable: false, value: () => null, render: (r) => h("span", { class: "eval-examples" }, (r.examples || []).slice(0, 3).map((id) => h("a", { href: `#/cases/${id}` }, id))) },
    ];
    const { table } = sortableTable({ columns, rows: report.rows, sort: { key: "return_rate", dir: -1 }, empty: t("eval.rq.empty"), className: "eval-table" });
    body.replaceChildren(h("p", { class: "adm-note" }, localized(report.explanation)), h("div", { class: "adm-card adm-scroll" }, table));
    summary.textContent = t("eval.rq.summary", { n: report.rows.length, from: state.from, to: state.to });
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    body.replaceChildren(loading());
    summary.textContent = "";
    try {
      if (state.tab === "routing") {
        const report = await api.get("/api/v1/reports/routing-quality", query());
        if (mine !== seq) return;
        state.routing = report;
        drawRouting(report);
      } else {
        const result = await api.get("/api/v1/evaluation", { ...query(), dimension: state.dimension, weights: weightsParam() });
        if (mine !== seq) return;
        state.result = result;
        drawWeights(result);
        drawTable(result);
      }
      el.querySelector(".eval")?.setAttribute("data-ready", "1");
    } catch (err) {
      if (mine !== seq) return;
      body.replaceChildren(errorBox(err, load));
    }
  }

  const onLang = () => {
    if (state.tab === "routing" && state.routing) drawRouting(state.routing);
    else if (state.result) {
      drawWeights(state.result);
      drawTable(state.result);
    }
  };
  window.addEventListener("langchange", onLang);
  drawTabs();
  load();
  return () => window.removeEventListener("langchange", onLang);
}
