// 区域网格: the region tree city › district › street › community › grid with search, the grid
// on a map coloured per street, region import (GeoJSON or CSV, with its CRS) showing the
// validation report cell by cell, and the other grid layers (多格合一): list, preview, import,
// delete.
import * as L from "leaflet";
import { api, request } from "../../api.js";
import { fmtNumber, fmtTime, t } from "../../i18n.js";
import { createMap, regions } from "../../map.js";
import { h } from "../../ui.js";
import { regionIndex } from "./admin-lookup.js";
import { badge, canWrite, confirmAction, drafts, ensureCss, errorBox, errorText, field, loading, modal, readFile, searchBox, stateBox, viewHeader } from "./admin-common.js";

const PALETTE = ["#1a8cff", "#17b877", "#f5a623", "#a855f7", "#ef5da8", "#14b8a6", "#f97316", "#6366f1", "#84cc16", "#06b6d4", "#e11d48", "#8b5cf6"];
const CRS = ["wgs84", "gcj02", "bd09", "cgcs2000"];
const LEVELS = ["city", "district", "street", "community", "grid"];

export async function mount(el, ctx) {
  ensureCss();
  const writable = canWrite(ctx);
  const state = { filter: "", selected: ctx.params?.[0] || null, open: new Set(), layers: [], preview: null };
  const treeBox = h("div", { class: "reg-tree", role: "tree", "aria-label": t("reg.tree") }, loading());
  const mapEl = h("div", { class: "reg-map" });
  const detail = h("div", { class: "adm-card reg-detail" }, h("span", { class: "muted" }, t("reg.pick")));
  const layersBox = h("div", { class: "reg-layers" }, loading());
  const counts = h("span", { class: "muted" });
  el.replaceChildren(h("section", { class: "adm reg" },
    viewHeader("reg.title", "reg.subtitle",
      writable ? h("button", { type: "button", class: "btn btn-primary", onclick: () => openImport("regions") }, t("reg.import")) : null),
    h("div", { class: "reg-grid" },
      h("div", { class: "reg-side" },
        h("div", { class: "adm-card adm-split__side" },
          h("div", { class: "adm-toolbar" }, searchBox("reg.search", (v) => { state.filter = v; drawTree(); }), counts),
          treeBox),
      ),
      h("div", { class: "reg-main adm-split__side" },
        mapEl,
        h("div", { class: "reg-bottom" }, detail,
          h("div", { class: "adm-card" },
            h("div", { class: "adm-toolbar" }, h("h2", { class: "adm-h2" }, t("reg.layers")),
              writable ? h("button", { type: "button", class: "btn btn-sm", onclick: () => openImport("layer") }, t("reg.layerImport")) : null),
            layersBox))))));

  let index = new Map();
  let children = new Map();
  let map = null;
  let gridLayer = null;
  let highlight = null;
  let previewLayer = null;
  const streetColour = new Map();

  function buildChildren() {
    children = new Map();
    for (const r of index.values()) {
      if (!r.parent) continue;
      if (!children.has(r.parent)) children.set(r.parent, []);
      children.get(r.parent).push(r);
    }
    for (const list of children.values()) list.sort((a, b) => a.code.localeCompare(b.code));
    [...index.values()].filter((r) => r.level === "street").sort((a, b) => a.code.localeCompare(b.code))
      .forEach((s, i) => streetColour.set(s.code, PALETTE[i % PALETTE.length]));
    const byLevel = Object.fromEntries(LEVELS.map((l) => [l, 0]));
    for (const r of index.values()) byLevel[r.level] = (byLevel[r.level] || 0) + 1;
    counts.textContent = t("reg.counts", { d: byLevel.district, s: byLevel.street, c: byLevel.community, g: byLevel.grid });
  }

  const streetOf = (code) => {
    let r = index.get(code);
    while (r && r.level !== "street") r = index.get(r.parent);
    return r?.code;
  };

  function matches(r, q) {
    return r.name.toLowerCase().includes(q) || r.code.startsWith(q);
  }

  function drawTree() {
    const q = state.filter.toLowerCase();
    const root = [...index.values()].find((r) => r.level === "city") || null;
    const roots = root ? [root] : [...index.values()].filter((r) => r.level === "district");
    // with a filter: show the matches and their ancestors, opened
    let keep = null;
    if (q) {
      keep = new Set();
      let shown = 0;
      for (const r of index.values()) {
        if (!matches(r, q) || shown > 400) continue;
        shown++;
        for (let x = r; x; x = index.get(x.parent)) keep.add(x.code);
      }
    }
    const node = (r) => {
      const kids = children.get(r.code) || [];
      const visibleKids = keep ? kids.filter((k) => keep.has(k.code)) : kids;
      const open = keep ? true : state.open.has(r.code) || r.level === "city";
      const colour = r.level === "street" ? streetColour.get(r.code) : null;
      return h("li", { role: "treeitem", "aria-expanded": kids.length ? String(open) : null },
        h("div", { class: "reg-node" },
          h("button", { type: "button", class: "reg-toggle", tabindex: "-1", "aria-hidden": "true", onclick: () => toggle(r.code) }, kids.length ? (open ? "▾" : "▸") : ""),
          colour ? h("span", { class: "reg-swatch", style: { background: colour } }) : null,
          h("button", { type: "button", class: `reg-name${state.selected === r.code ? " is-selected" : ""}`, dataset: { code: r.code },
            onclick: () => select(r.code), onkeydown: (e) => keys(e, r, kids) }, r.name),
          h("small", {}, r.code),
          kids.length && r.level !== "community" ? h("small", {}, ` · ${fmtNumber(kids.length)}`) : null),
        open && visibleKids.length ? h("ul", { role: "group" }, visibleKids.slice(0, 300).map(node)) : null);
    };
    if (keep && !keep.size) {
      treeBox.replaceChildren(stateBox("empty", t("reg.noMatch")));
      return;
    }
    treeBox.replaceChildren(h("ul", {}, roots.map(node)));
  }

  function keys(e, r, kids) {
    if (e.key === "ArrowRight" && kids.length) { state.open.add(r.code); drawTree(); focusCode(r.code); }
    else if (e.key === "ArrowLeft") { if (state.open.has(r.code)) { state.open.delete(r.code); drawTree(); focusCode(r.code); } else if (r.parent) focusCode(r.parent); }
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const all = [...treeBox.querySelectorAll(".reg-name")];
      const i = all.indexOf(e.target);
      all[i + (e.key === "ArrowDown" ? 1 : -1)]?.focus();
    } else return;
    e.preventDefault();
  }

  function focusCode(code) {
    treeBox.querySelector(`.reg-name[data-code="${code}"]`)?.focus();
  }

  function toggle(code) {
    if (state.open.has(code)) state.open.delete(code);
    else state.open.add(code);
    drawTree();
  }

  function select(code) {
    state.selected = code;
    for (let x = index.get(code); x; x = index.get(x.parent)) if (x.code !== code) state.open.add(x.code);
    state.open.add(code);
    ctx.navigate?.(`#/admin-regions/${code}`);
    drawTree();
    focusCode(code);
    drawDetail();
    showOnMap(code);
  }

  function drawDetail() {
    const r = index.get(state.selected);
    if (!r) {
      detail.replaceChildren(h("span", { class: "muted" }, t("reg.pick")));
      return;
    }
    const path = [];
    for (let x = index.get(r.parent); x; x = index.get(x.parent)) path.unshift(x.name);
    const kids = children.get(r.code) || [];
    const grids = [...index.values()].filter((x) => x.level === "grid" && x.code.startsWith(r.code)).length;
    detail.replaceChildren(
      h("div", { class: "adm-row" }, h("b", {}, r.name), badge(t(`reg.level.${r.level}`), "info")),
      h("span", { class: "muted" }, path.join(" › ") || "—"),
      h("span", {}, t("reg.code"), " ", h("code", {}, r.code)),
      r.level !== "grid" ? h("span", {}, t("reg.children", { n: fmtNumber(kids.length), g: fmtNumber(grids) })) : null);
  }

  function showOnMap(code) {
    if (!map) return;
    const r = index.get(code);
    if (highlight) map.removeLayer(highlight);
    highlight = null;
    if (r?.feature?.geometry) {
      highlight = L.geoJSON(r.feature, { style: { color: "#f04848", weight: 3, fill: false }, interactive: false }).addTo(map);
      map.flyToBounds(highlight.getBounds(), { maxZoom: 16, duration: 0.6, padding: [30, 30] });
    } else if (r?.level === "city") {
      const layer = L.geoJSON([...index.values()].filter((x) => x.level === "district").map((x) => x.feature));
      map.flyToBounds(layer.getBounds(), { duration: 0.6 });
    }
  }

  async function drawMap() {
    const built = await createMap(mapEl, { canvas: true });
    map = built.map;
    const grid = await regions("grid");
    gridLayer = L.geoJSON(grid, {
      style: (f) => {
        const c = streetColour.get(streetOf(f.properties.code)) || "#98a2b3";
        return { color: c, weight: 0.6, fillColor: c, fillOpacity: 0.28 };
      },
      onEachFeature: (f, layer) => {
        layer.bindTooltip(() => `${f.properties.name} · ${f.properties.code}`, { sticky: true });
        layer.on("click", () => select(f.properties.code));
      },
    }).addTo(map);
    const streets = await regions("street");
    L.geoJSON(streets, { style: { color: "#1d2939", weight: 1.2, fill: false }, interactive: false }).addTo(map);
    const districts = await regions("district");
    L.geoJSON(districts, { style: { color: "#1d2939", weight: 2.4, fill: false }, interactive: false }).addTo(map);
    mapEl.dataset.cells = String(grid.features.length);
    if (state.selected) showOnMap(state.selected);
  }

  // -- layers (多格合一) ------------------------------------------------------------------------
  function drawLayers() {
    if (!state.layers.length) {
      layersBox.replaceChildren(stateBox("empty", t("reg.noLayers")));
      return;
    }
    layersBox.replaceChildren(...state.layers.map((l) => h("div", { class: `reg-layer${state.preview === l.code ? " is-previewed" : ""}` },
      h("div", {}, h("b", {}, l.name || l.code), " ", h("small", { class: "muted" }, `${l.code} · ${t("reg.cells", { n: fmtNumber(l.cells) })} · ${l.source_crs?.toUpperCase() || ""} · ${fmtTime(l.created_at, undefined, { dateStyle: "medium" })}`)),
      h("div", { class: "reg-layer__actions" },
        h("button", { type: "button", class: "btn btn-sm", "aria-pressed": String(state.preview === l.code), onclick: () => preview(l.code) }, state.preview === l.code ? t("reg.hide") : t("reg.preview")),
        writable ? h("button", { type: "button", class: "btn btn-sm", onclick: () => removeLayer(l) }, t("reg.delete")) : null))));
  }

  async function loadLayers() {
    try {
      state.layers = await api.get("/api/v1/admin/layers");
      drawLayers();
    } catch (err) {
      layersBox.replaceChildren(errorBox(err, loadLayers));
    }
  }

  async function preview(code) {
    if (previewLayer) map.removeLayer(previewLayer);
    previewLayer = null;
    if (state.preview === code) {
      state.preview = null;
      drawLayers();
      return;
    }
    try {
      const data = await api.get(`/api/v1/admin/layers/${encodeURIComponent(code)}`);
      previewLayer = L.geoJSON(data, { style: { color: "#7a3ff2", weight: 2, dashArray: "5 4", fillColor: "#7a3ff2", fillOpacity: 0.08 },
        onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties?.name || ""} ${f.properties?.code || f.id || ""}`, { sticky: true }) }).addTo(map);
      state.preview = code;
      if (previewLayer.getBounds().isValid()) map.flyToBounds(previewLayer.getBounds(), { duration: 0.6 });
      drawLayers();
    } catch (err) {
      ctx.toast(errorText(err), "error");
    }
  }

  async function removeLayer(l) {
    if (!(await confirmAction(t("reg.deleteConfirm", { name: l.name || l.code, n: fmtNumber(l.cells) }), "reg.delete"))) return;
    try {
      await api.delete(`/api/v1/admin/layers/${encodeURIComponent(l.code)}`);
      ctx.toast(t("reg.deleted", { name: l.name || l.code }));
      if (state.preview === l.code) await preview(l.code);
      await loadLayers();
    } catch (err) {
      ctx.toast(errorText(err), "error");
    }
  }

  // -- imports --------------------------------------------------------------------------------
  function openImport(kind) {
    const d = drafts.get(`import-${kind}`) || {};
    const file = h("input", { type: "file", accept: kind === "layer" ? ".geojson,.json" : ".geojson,.json,.csv" });
    const crs = h("select", { name: "crs" }, CRS.map((c) => h("option", { value: c, selected: (d.crs || "wgs84") === c }, t(`reg.crs.${c}`))));
    const code = h("input", { name: "code", value: d.code || "", pattern: "[a-z0-9][a-z0-9\\-]*", placeholder: "police" });
    const name = h("input", { name: "name", value: d.name || "", placeholder: t("reg.layerNameHint") });
    const out = h("div", { class: "adm-result" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("reg.importRun"));
    const form = h("form", { class: "adm-form" },
      h("p", { class: "muted" }, t(kind === "layer" ? "reg.layerHelp" : "reg.importHelp")),
      kind === "layer" ? h("div", { class: "adm-row" }, field("reg.layerCode", code, "code"), field("reg.layerName", name, "name")) : null,
      h("div", { class: "adm-row" }, field("admin.file", file, "file"), field("reg.crs", crs, "crs")),
      out, h("div", { class: "adm-row adm-row--end" }, submit));
    form.addEventListener("input", () => drafts.set(`import-${kind}`, { crs: crs.value, code: code.value, name: name.value }));
    modal(kind === "layer" ? "reg.layerImport" : "reg.import", form, { wide: true });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = file.files[0];
      if (!f) {
        out.replaceChildren(stateBox("error", t("reg.needFile")));
        return;
      }
      if (kind === "layer" && !/^[a-z0-9][a-z0-9-]*$/.test(code.value.trim())) {
        out.replaceChildren(stateBox("error", t("reg.needCode")));
        return;
      }
      submit.disabled = true;
      out.replaceChildren(loading());
      try {
        const text = await readFile(f);
        const csv = /\.csv$/i.test(f.name);
        let r;
        if (kind === "layer") {
          r = await request("PUT", `/api/v1/admin/layers/${encodeURIComponent(code.value.trim())}`, { body: text, contentType: "application/json",
            query: { crs: crs.value, name: name.value.trim() || undefined }, timeout: null });
        } else {
          r = await request("POST", "/api/v1/admin/regions", { body: text, contentType: csv ? "text/csv; charset=utf-8" : "application/geo+json",
            query: { crs: crs.value }, timeout: null });
        }
        drafts.clear(`import-${kind}`);
        out.replaceChildren(h("p", { class: "adm-ok" }, kind === "layer"
          ? t("reg.layerDone", { code: code.value.trim(), n: fmtNumber(r.cells ?? r.created ?? 0) })
          : t("admin.importResult", { created: fmtNumber(r.created), updated: fmtNumber(r.updated) })));
        ctx.toast(out.textContent);
        if (kind === "layer") await loadLayers();
        else ctx.refresh?.();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    });
  }

  try {
    index = await regionIndex();
  } catch (err) {
    treeBox.replaceChildren(errorBox(err, () => ctx.refresh?.()));
    return undefined;
  }
  buildChildren();
  if (state.selected) for (let x = index.get(state.selected); x; x = index.get(x.parent)) state.open.add(x.code);
  else for (const r of index.values()) if (r.level === "district") state.open.add(r.code); // streets in sight
  drawTree();
  drawDetail();
  loadLayers();
  drawMap().catch((err) => mapEl.replaceChildren(errorBox(err)));
  return () => map?.remove();
}
