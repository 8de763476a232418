// 事项责任清单: the responsibility list in force and its versions, a new version's import (its
// conflicts listed), and "which rule applies here?" — category + place (map click or grid
// code) + time → the rule, its department and the API's explanation.
import * as L from "leaflet";
import { api, uiConfig } from "../../api.js";
import { fmtTime, localized, offsetOf, t } from "../../i18n.js";
import { createMap, drawRegions } from "../../map.js";
import { h, saveFile } from "../../ui.js";
import { allCategories, allDepartments, regionIndex, regionPath } from "./admin-lookup.js";
import { badge, canWrite, drafts, ensureCss, errorBox, errorText, field, loading, modal, readFile, searchBox, sortableTable, stateBox, viewHeader } from "./admin-common.js";

function localInput(d, timeZone) {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
    .formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

export async function mount(el, ctx) {
  ensureCss();
  const config = await uiConfig();
  const tz = config.timezone || "Asia/Shanghai";
  const offset = offsetOf(tz);
  const writable = canWrite(ctx);
  const state = { version: ctx.params?.[0] || null, ruleset: null, versions: [], filter: "", selectedRule: null };
  let cats = [], depts = [], index = new Map();

  const versionsBox = h("div", { class: "rules-versions" });
  const tableBox = h("div", { class: "adm-card adm-scroll rules-table" }, loading());
  const meta = h("p", { class: "muted" });
  const importBtn = writable ? h("button", { type: "button", class: "btn btn-primary", onclick: () => openImport() }, t("rules.import")) : null;
  const exportBtn = h("button", { type: "button", class: "btn", onclick: () => exportJson() }, t("rules.export"));

  // the tester
  const saved = drafts.get("rules-tester") || {};
  const catInput = h("input", { list: "rules-cat-list", name: "category", placeholder: t("rules.tester.categoryHint"), value: saved.category || "", autocomplete: "off", required: true });
  const catList = h("datalist", { id: "rules-cat-list" });
  const placeInput = h("input", { name: "area", placeholder: t("rules.tester.placeHint"), value: saved.area || "", inputmode: "numeric", autocomplete: "off", required: true });
  const placeName = h("small", { class: "muted rules-place-name" });
  const atInput = h("input", { type: "datetime-local", name: "at", value: saved.at || localInput(new Date(), tz) });
  const nowBtn = h("button", { type: "button", class: "btn btn-ghost", onclick: () => { atInput.value = localInput(new Date(), tz); keep(); } }, t("rules.tester.now"));
  const answer = h("div", { class: "rules-answer", "aria-live": "polite" }, h("p", { class: "muted" }, t("rules.tester.idle")));
  const testBtn = h("button", { type: "submit", class: "btn btn-primary" }, t("rules.tester.run"));
  const form = h("form", { class: "rules-tester__form", novalidate: true },
    field("rules.tester.category", catInput, "category"),
    field("rules.tester.place", placeInput, "area"), placeName,
    h("div", { class: "adm-row" }, field("rules.tester.at", atInput, "at"), nowBtn),
    h("div", { class: "adm-row" }, testBtn, h("span", { class: "muted" }, t("rules.tester.keys"))));
  const mapEl = h("div", { class: "rules-map" });
  const keep = () => drafts.set("rules-tester", { category: catInput.value, area: placeInput.value, at: atInput.value });
  form.addEventListener("input", keep);

  el.replaceChildren(h("section", { class: "adm rules" },
    viewHeader("rules.title", "rules.subtitle", exportBtn, importBtn),
    h("div", { class: "rules-grid" },
      h("div", { class: "rules-main" }, versionsBox,
        h("div", { class: "adm-toolbar" }, searchBox("rules.filter", (v) => { state.filter = v; drawRules(); }), meta),
        tableBox),
      h("aside", { class: "adm-card rules-tester" }, h("h2", {}, t("rules.tester.title")),
        h("p", { class: "muted" }, t("rules.tester.help")), form, catList, mapEl, answer))));

  const catName = (key) => cats.find((c) => c.key === key)?.name;
  const deptName = (code) => depts.find((d) => d.code === code)?.name || code;
  const catLabel = (key) => {
    if (key === "*") return t("rules.anyCategory");
    if (key.length === 3) return `${key} ${cats.find((c) => c.major_key === key || c.key.startsWith(key))?.major || ""}`;
    return `${key} ${catName(key) || ""}`;
  };

  function drawVersions() {
    versionsBox.replaceChildren(h("div", { class: "adm-chips", role: "tablist", "aria-label": t("rules.versions") },
      state.versions.map((v) => h("button", {
        type: "button", role: "tab", class: `adm-chip${state.ruleset?.version === v.version ? " is-active" : ""}`,
        "aria-selected": String(state.ruleset?.version === v.version),
        onclick: () => { state.version = v.version; ctx.navigate?.(`#/admin-rules/${encodeURIComponent(v.version)}`); loadRules(); },
      }, h("b", {}, v.version), " ", badge(t(`rules.status.${v.status}`), v.status === "in_force" ? "good" : v.status === "scheduled" ? "warn" : ""),
      h("small", { class: "muted" }, ` ${fmtTime(v.effective_from, tz, { dateStyle: "medium" })} · ${t("rules.count", { n: v.rules })}`)))));
  }

  function drawRules() {
    const rs = state.ruleset;
    if (!rs) return;
    const q = state.filter.toLowerCase();
    const rows = rs.rules.filter((r) => !q || [r.category, catLabel(r.category), r.area, regionPath(index, r.area), r.department, deptName(r.department), String(r.id)]
      .some((s) => String(s || "").toLowerCase().includes(q)));
    const { table } = sortableTable({
      columns: [
        { key: "id", label: "#", num: true, value: (r) => r.id },
        { key: "category", label: t("rules.col.category"), value: (r) => r.category, render: (r) => h("span", {}, h("code", {}, r.category), " ", r.category === "*" ? t("rules.anyCategory") : catLabel(r.category).slice(r.category.length + 1)) },
        { key: "area", label: t("rules.col.area"), value: (r) => r.area, render: (r) => h("span", { title: r.area }, regionPath(index, r.area)) },
        { key: "department", label: t("rules.col.department"), value: (r) => deptName(r.department) },
        { key: "window", label: t("rules.col.window"), value: (r) => (r.window ? `${r.window.start}–${r.window.end}` : null), render: (r) => (r.window ? `${r.window.start}–${r.window.end}` : h("span", { class: "muted" }, t("rules.allDay"))) },
      ],
      rows, rowKey: (r) => String(r.id), selected: state.selectedRule ? String(state.selectedRule) : null, empty: t("rules.emptyFilter"),
    });
    tableBox.replaceChildren(table);
    meta.textContent = t("rules.meta", { version: rs.version, n: rows.length, total: rs.rules.length, from: fmtTime(rs.effective_from, tz, { dateStyle: "medium", timeStyle: "short" }) });
    const sel = tableBox.querySelector("tr.is-selected");
    if (sel) tableBox.scrollTop = Math.max(0, sel.offsetTop - tableBox.clientHeight / 2);
  }

  async function loadRules() {
    tableBox.replaceChildren(loading());
    try {
      state.ruleset = await api.get("/api/v1/rules", { version: state.version || undefined });
      drawVersions();
      drawRules();
    } catch (err) {
      tableBox.replaceChildren(err.status === 404 ? stateBox("empty", t("rules.none")) : errorBox(err, loadRules));
    }
  }

  function exportJson() {
    if (!state.ruleset) return;
    const rs = state.ruleset;
    const data = { version: rs.version, effective_from: rs.effective_from, rules: rs.rules.map(({ id, ...r }) => r) };
    saveFile(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }), `rules-${rs.version}.json`);
  }

  function openImport() {
    const d = drafts.get("rules-import") || {};
    const version = h("input", { name: "version", required: true, maxlength: "64", value: d.version || "" });
    const from = h("input", { type: "datetime-local", name: "effective_from", required: true, value: d.from || localInput(new Date(Date.now() + 86400000), tz) });
    const text = h("textarea", { rows: "12", class: "adm-code", placeholder: '[{"category": "C0101", "area": "319900", "department": "water", "window": null}]' }, d.text || "");
    const file = h("input", { type: "file", accept: ".json,application/json" });
    const out = h("div", { class: "adm-result" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("rules.publish"));
    const f = h("form", { class: "adm-form" },
      h("p", { class: "muted" }, t("rules.importHelp")),
      h("div", { class: "adm-row" }, field("rules.version", version, "version"), field("rules.effectiveFrom", from, "effective_from")),
      field("rules.file", file), field("rules.rulesJson", text, "rules"), out,
      h("div", { class: "adm-row adm-row--end" }, submit));
    const save = () => drafts.set("rules-import", { version: version.value, from: from.value, text: text.value });
    f.addEventListener("input", save);
    file.addEventListener("change", async () => {
      if (!file.files[0]) return;
      const raw = await readFile(file.files[0]);
      try {
        const parsed = JSON.parse(raw);
        const list = Array.isArray(parsed) ? parsed : parsed.rules;
        if (!Array.isArray(parsed) && parsed.version && !version.value) version.value = `${parsed.version}-new`;
        text.value = JSON.stringify(list, null, 1);
      } catch {
        text.value = raw;
      }
      save();
    });
    const { close } = modal("rules.import", f, { wide: true });
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      let rules;
      try {
        rules = JSON.parse(text.value);
        if (!Array.isArray(rules)) throw new Error("not a list");
      } catch {
        out.replaceChildren(stateBox("error", t("rules.badJson")));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api.post("/api/v1/admin/rules", { version: version.value.trim(), effective_from: `${from.value}:00${offset}`, rules });
        drafts.clear("rules-import");
        ctx.toast(t("rules.published", { version: version.value.trim(), n: r.created }));
        close();
        state.version = null;
        await loadAll();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    });
  }

  // map: districts and grid cells; a click locates the point and fills the place
  let marker = null;
  let map = null;
  async function drawMap() {
    const built = await createMap(mapEl, { canvas: true });
    map = built.map;
    await drawRegions(map, "grid", () => ({ color: "#9fb3c8", weight: 0.5, fillColor: "#dbe7f3", fillOpacity: 0.35 }));
    await drawRegions(map, "district", () => ({ color: "#1a8cff", weight: 1.5, fill: false }));
    map.on("click", async (e) => {
      const { lat, lng } = e.latlng;
      if (marker) marker.setLatLng(e.latlng);
      else marker = L.circleMarker(e.latlng, { radius: 7, color: "#fff", weight: 2, fillColor: "#f04848", fillOpacity: 1 }).addTo(map);
      try {
        const where = await api.get("/api/v1/map/locate", { lon: lng.toFixed(7), lat: lat.toFixed(7) });
        if (where.inside && where.grid_code) {
          placeInput.value = where.grid_code;
          keep();
          showPlace();
          if (catInput.value.trim()) run();
        } else {
          placeName.textContent = t("rules.tester.outside");
        }
      } catch (err) {
        ctx.toast(errorText(err), "error");
      }
    });
  }

  function showPlace() {
    const code = placeInput.value.trim();
    placeName.textContent = index.has(code) ? regionPath(index, code) : code ? t("rules.tester.unknownPlace") : "";
  }
  placeInput.addEventListener("input", showPlace);

  function categoryKey() {
    const v = catInput.value.trim();
    const m = v.match(/^([CE]\d{4})\b/i);
    if (m) return m[1].toUpperCase();
    return cats.find((c) => c.name === v)?.key || v;
  }

  async function run() {
    const key = categoryKey();
    const area = placeInput.value.trim();
    form.querySelectorAll(".adm-field__error").forEach((x) => (x.textContent = ""));
    if (!/^[CE]\d{4}$/.test(key)) {
      form.querySelector('[data-field="category"] .adm-field__error').textContent = t("rules.tester.needCategory");
      catInput.focus();
      return;
    }
    if (!/^\d{9,14}$/.test(area)) {
      form.querySelector('[data-field="area"] .adm-field__error').textContent = t("rules.tester.needPlace");
      placeInput.focus();
      return;
    }
    testBtn.disabled = true;
    answer.replaceChildren(loading());
    try {
      const r = await api.post("/api/v1/rules/which", { category: key, area, at: atInput.value ? `${atInput.value}:00${offset}` : undefined });
      if (r.found) {
        answer.replaceChildren(h("div", { class: "rules-answer__card is-found", "data-testid": "rule-answer" },
          h("div", { class: "rules-answer__dept" }, deptName(r.department)),
          h("div", { class: "rules-answer__meta" }, badge(t("rules.tester.rule", { id: r.rule_id }), "good"), " ", badge(r.ruleset)),
          h("p", {}, localized(r.explanation)),
          h("button", { type: "button", class: "btn btn-ghost", onclick: () => { state.selectedRule = r.rule_id; if (state.ruleset?.version !== r.ruleset) { state.version = r.ruleset; loadRules(); } else drawRules(); } }, t("rules.tester.show"))));
        state.selectedRule = r.rule_id;
        if (state.ruleset?.version === r.ruleset) drawRules();
      } else {
        answer.replaceChildren(h("div", { class: "rules-answer__card is-missing", "data-testid": "rule-answer" },
          h("div", { class: "rules-answer__dept" }, t("rules.tester.noRule")), h("p", {}, localized(r.reason))));
      }
    } catch (err) {
      answer.replaceChildren(errorBox(err));
    } finally {
      testBtn.disabled = false;
    }
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });

  async function loadAll() {
    try {
      state.versions = await api.get("/api/v1/rules/versions");
      drawVersions();
    } catch (err) {
      versionsBox.replaceChildren(errorBox(err, loadAll));
    }
    await loadRules();
  }

  const [c, d, idx] = await Promise.all([allCategories().catch(() => []), allDepartments().catch(() => []), regionIndex().catch(() => new Map())]);
  cats = c;
  depts = d;
  index = idx;
  catList.replaceChildren(...cats.filter((x) => x.active !== false).map((x) => h("option", { value: `${x.key} ${x.name}` })));
  showPlace();
  await loadAll();
  drawMap().catch((err) => mapEl.replaceChildren(errorBox(err)));
  const onLang = () => { drawVersions(); drawRules(); };
  window.addEventListener("langchange", onLang);
  return () => {
    window.removeEventListener("langchange", onLang);
    map?.remove();
  };
}
