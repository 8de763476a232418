// The city map (Leaflet): base tiles when /api/v1/ui/config names a tile URL, otherwise the
// district and grid polygons alone on a plain background — city intranets have no public tiles.
import * as L from "leaflet";
import { api, uiConfig } from "./api.js";

const geometry = new Map(); // "level|within" -> Promise<GeoJSON>

/** The regions of one level as GeoJSON, fetched once per page (the server sends an ETag). */
export function regions(level, within) {
  const key = `${level}|${within || ""}`;
  if (!geometry.has(key)) geometry.set(key, api.get("/api/v1/geo/regions", { level, within }));
  return geometry.get(key);
}

/**
 * createMap(element, {interactive, fit}) → {map, config, plain}. Fits the city's bounds
 * (fit: Leaflet's fitBounds options, e.g. paddingBottomRight to leave room for an overlay).
 * Large grids (thousands of cells) draw faster on canvas: pass {canvas: true}.
 */
export async function createMap(el, { interactive = true, canvas = false, fit = {} } = {}) {
  const config = await uiConfig();
  const map = L.map(el, {
    zoomControl: interactive,
    attributionControl: Boolean(config.map.tile_url),
    dragging: interactive,
    scrollWheelZoom: interactive,
    doubleClickZoom: interactive,
    boxZoom: interactive,
    keyboard: interactive,
    zoomSnap: 0.1,
    preferCanvas: canvas,
  });
  // Leaflet sizes its panes (and the canvas) from the container when it is made; a container
  // laid out later — a stylesheet still loading, a tab shown afterwards — would keep a 0-px
  // canvas. Follow the container's size instead, as the charts do.
  const sizing = new ResizeObserver(() => map.invalidateSize());
  sizing.observe(el);
  map.on("unload", () => sizing.disconnect()); // map.remove(): the panes are gone
  const plain = !config.map.tile_url;
  if (plain) {
    el.classList.add("map-plain");
  } else {
    L.tileLayer(config.map.tile_url, {
      maxZoom: config.map.max_zoom,
      attribution: config.map.attribution,
    }).addTo(map);
  }
  if (config.bounds) {
    const [w, s, e, n] = config.bounds;
    map.fitBounds([[s, w], [n, e]], { padding: [12, 12], ...fit });
  } else {
    map.setView([31.2, 121.5], 11);
  }
  return { map, config, plain };
}

/** Draw one level's polygons; style(feature) as in L.geoJSON. Returns the layer. */
export async function drawRegions(map, level, style, { within, onEach, interactive = false } = {}) {
  const data = await regions(level, within);
  const layer = L.geoJSON(data, { style, interactive, onEachFeature: onEach });
  layer.addTo(map);
  return layer;
}

/** Grid cells coloured by their open and overdue cases: setCounts([{code, open, overdue}]). */
export async function gridLoadLayer(map, { colour, tooltip } = {}) {
  const layers = new Map(); // code -> path
  const layer = await drawRegions(map, "grid", () => colour({ open: 0, overdue: 0 }), {
    interactive: Boolean(tooltip),
    onEach: (feature, path) => {
      layers.set(feature.properties.code, path);
      path.feature.counts = { open: 0, overdue: 0 };
      if (tooltip) path.bindTooltip(() => tooltip(feature.properties, path.feature.counts), { sticky: true });
    },
  });
  return {
    layer,
    size: layers.size,
    fitTo(code) {
      const path = layers.get(code);
      if (path) map.flyToBounds(path.getBounds(), { maxZoom: 15, duration: 0.8 });
    },
    setCounts(cells) {
      const counts = new Map(cells.map((c) => [c.code, c]));
      for (const [code, path] of layers) {
        const c = counts.get(code) || { open: 0, overdue: 0 };
        path.feature.counts = c;
        path.setStyle(colour(c));
      }
    },
  };
}

/** Case markers keyed by case id: upsert(brief), remove(id), flash(id) for a new one. */
export function caseMarkers(map, { style, popup } = {}) {
  const group = L.layerGroup().addTo(map);
  const markers = new Map();
  const pulses = L.layerGroup().addTo(map);
  return {
    group,
    get size() {
      return markers.size;
    },
    upsert(c) {
      if (c.lon == null || c.lat == null) return;
      let m = markers.get(c.id);
      if (!m) {
        m = L.circleMarker([c.lat, c.lon], style(c)).addTo(group);
        markers.set(c.id, m);
      } else {
        m.setLatLng([c.lat, c.lon]);
        m.setStyle(style(c));
      }
      if (popup) m.bindTooltip(() => popup(c));
    },
    remove(id) {
      const m = markers.get(id);
      if (m) {
        group.removeLayer(m);
        markers.delete(id);
      }
    },
    replaceAll(cases) {
      const keep = new Set(cases.map((c) => c.id));
      for (const id of [...markers.keys()]) if (!keep.has(id)) this.remove(id);
      cases.forEach((c) => this.upsert(c));
    },
    flash(c, className = "map-pulse") {
      if (c.lon == null || c.lat == null) return;
      const icon = L.divIcon({ className, iconSize: [36, 36] });
      const m = L.marker([c.lat, c.lon], { icon, interactive: false, keyboard: false }).addTo(pulses);
      setTimeout(() => pulses.removeLayer(m), 12000);
    },
  };
}
