// 上报: category (searchable), camera photos (downscaled on the phone), the place from GPS or a
// pin on the map, description and optional component code. What is typed is kept as a draft
// (localStorage; photos in IndexedDB) until it is queued; queuing never needs the network.
import * as L from "leaflet";
import { currentUser, newIdempotencyKey } from "../../api.js";
import { t } from "../../i18n.js";
import { createMap, drawRegions } from "../../map.js";
import { $, draftStore, h } from "../../ui.js";
import { app, cachedGet, toast } from "./common.js";
import { idb } from "./db.js";
import { enqueue } from "./outbox.js";
import { blobImage, downscale } from "./photos.js";

const MAX_PHOTOS = 9;
const RECENT_KEY = "cityops.m.recentCategories";
const form = { category: null, photos: [], position: null, editing: null };
let categories = null;
let map = null;
let mapBuilding = false; // createMap awaits the config: a second call meanwhile must not start another map on #r-map
let pin = null;

// The typed fields in localStorage, the photos (Blobs) in IndexedDB, under the same key.
const drafts = draftStore();
const draftKey = () => `cityops.m.draft.report.${currentUser()?.username}`;

function saveDraft() {
  const draft = {
    category: form.category, position: form.position, editing: form.editing,
    description: $("#r-description").value, address: $("#r-address").value, component: $("#r-component").value,
  };
  drafts.set(draftKey(), draft);
}

async function savePhotos() {
  await idb.put("drafts", { key: draftKey(), photos: form.photos });
}

async function loadDraft() {
  const draft = drafts.get(draftKey());
  const photos = await idb.get("drafts", draftKey()).catch(() => null);
  form.photos.splice(0, Infinity, ...(photos?.photos || []));
  if (!draft) return;
  form.category = draft.category;
  form.position = draft.position;
  form.editing = draft.editing || null;
  $("#r-description").value = draft.description || "";
  $("#r-address").value = draft.address || "";
  $("#r-component").value = draft.component || "";
}

async function clearDraft() {
  drafts.clear(draftKey());
  await idb.delete("drafts", draftKey());
  form.photos.length = 0;
  Object.assign(form, { category: null, position: null, editing: null });
  for (const id of ["#r-description", "#r-address", "#r-component"]) $(id).value = "";
}

// -- category -----------------------------------------------------------------------------------

async function loadCategories() {
  if (!categories) categories = (await cachedGet("categories", "/api/v1/categories")).data;
  return categories;
}

function renderCategory() {
  const btn = $("#r-category");
  btn.replaceChildren(form.category
    ? h("span", {}, h("b", {}, form.category.name), h("small", {}, `${form.category.major} · ${form.category.key}`))
    : h("span", { class: "muted" }, t("mobile.report.pickCategory")));
  btn.dataset.key = form.category?.key || "";
}

function recent() {
  try {
    return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
  } catch {
    return [];
  }
}

async function pickCategory() {
  let list;
  try {
    list = await loadCategories();
  } catch (err) {
    toast(err.message, "bad");
    return;
  }
  const search = h("input", { type: "search", class: "m-input", id: "cat-search", enterkeyhint: "search",
    placeholder: t("mobile.report.searchCategory"), autocomplete: "off" });
  const results = h("ul", { class: "m-cats", id: "cat-list" });
  const close = h("button", { type: "button", class: "btn m-btn" }, t("common.cancel"));
  const dialog = h("dialog", { class: "m-sheet m-sheet--full" },
    h("div", { class: "m-sheet__head" }, search, close), results);
  const choose = (c) => {
    form.category = { key: c.key, name: c.name, major: c.major };
    localStorage.setItem(RECENT_KEY, JSON.stringify([c.key, ...recent().filter((k) => k !== c.key)].slice(0, 6)));
    renderCategory();
    saveDraft();
    dialog.close();
    dialog.remove();
  };
  const row = (c) => h("li", {}, h("button", { type: "button", class: "m-cat", dataset: { key: c.key }, onclick: () => choose(c) },
    h("b", {}, c.name), h("small", {}, `${c.major} · ${c.key}`)));
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const hits = list.filter((c) => !q || `${c.name} ${c.major} ${c.key}`.toLowerCase().includes(q));
    const recents = q ? [] : recent().map((k) => list.find((c) => c.key === k)).filter(Boolean);
    const rows = [];
    if (recents.length) rows.push(h("li", { class: "m-cats__head" }, t("mobile.report.recent")), ...recents.map(row));
    let major = null;
    for (const c of hits.slice(0, 200)) {
      if (c.major !== major) rows.push(h("li", { class: "m-cats__head" }, (major = c.major)));
      rows.push(row(c));
    }
    if (!hits.length) rows.push(h("li", { class: "m-empty" }, t("mobile.report.noCategory")));
    results.replaceChildren(...rows);
  };
  search.addEventListener("input", draw);
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      const first = results.querySelector(".m-cat");
      first?.click();
    }
  });
  close.addEventListener("click", () => {
    dialog.close();
    dialog.remove();
  });
  document.body.append(dialog);
  draw();
  dialog.showModal();
  search.focus();
}

// -- photos -------------------------------------------------------------------------------------

export function photoStrip(list, onChange, { input, max = MAX_PHOTOS }) {
  const strip = h("div", { class: "m-photos" });
  const draw = () => {
    strip.replaceChildren(...list.map((blob, i) => h("figure", { class: "m-photo" }, blobImage(blob),
      h("button", { type: "button", class: "m-photo__x", "aria-label": t("mobile.photo.remove"),
        onclick: () => { list.splice(i, 1); onChange(); draw(); } }, "×"))));
    const add = input.closest("label");
    if (add) add.hidden = list.length >= max;
  };
  input.addEventListener("change", async () => {
    const files = [...input.files].slice(0, max - list.length);
    input.value = "";
    for (const file of files) list.push(await downscale(file));
    onChange();
    draw();
  });
  draw();
  return { strip, draw };
}

// -- place --------------------------------------------------------------------------------------

function renderPlace(message) {
  const el = $("#r-place");
  const p = form.position;
  el.dataset.source = p?.source || "none";
  if (message) el.textContent = message;
  else if (!p) el.textContent = t("mobile.report.noPlace");
  else if (p.source === "gps") el.textContent = t("mobile.report.gps", { m: Math.round(p.accuracy || 0) });
  else el.textContent = t("mobile.report.pinned");
  if (map && p) {
    const at = [p.lat, p.lon];
    if (!pin) pin = L.circleMarker(at, { radius: 9, color: "#fff", weight: 3, fillColor: "#1a8cff", fillOpacity: 1 }).addTo(map);
    else pin.setLatLng(at);
  }
}

function locate() {
  if (!navigator.geolocation) {
    renderPlace(t("mobile.report.noGps"));
    return;
  }
  renderPlace(t("mobile.report.locating"));
  navigator.geolocation.getCurrentPosition((pos) => {
    form.position = { lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy, source: "gps" };
    renderPlace();
    map?.setView([form.position.lat, form.position.lon], Math.max(map.getZoom(), 14));
    saveDraft();
  }, (err) => {
    const reason = err.code === err.PERMISSION_DENIED ? t("mobile.report.gpsDenied") : t("mobile.report.gpsFailed");
    renderPlace(form.position ? null : reason);
    if (form.position) toast(reason, "bad");
  }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
}

async function buildMap() {
  if (map || mapBuilding) return;
  mapBuilding = true;
  try {
    ({ map } = await createMap($("#r-map"), { interactive: true }));
    map.attributionControl?.remove();
    const within = app.me?.scope_code && app.me.scope_code.length > 6 ? app.me.scope_code : undefined;
    const grid = await drawRegions(map, "grid", () => ({ color: "#1a8cff", weight: 0.6, fillOpacity: 0.04 }), { within });
    if (within && grid.getBounds().isValid()) map.fitBounds(grid.getBounds(), { padding: [8, 8] });
    map.on("click", (ev) => {
      form.position = { lon: ev.latlng.lng, lat: ev.latlng.lat, source: "pin" };
      renderPlace();
      saveDraft();
    });
    renderPlace();
    if (form.position) map.setView([form.position.lat, form.position.lon], 14);
  } catch {
    $("#r-map").replaceChildren(h("p", { class: "m-map-off muted" }, t("mobile.report.mapOffline")));
  } finally {
    mapBuilding = false;
  }
}

// -- submit -------------------------------------------------------------------------------------

async function submit(ev) {
  ev.preventDefault();
  const error = $("#r-error");
  const description = $("#r-description").value.trim();
  const component = $("#r-component").value.trim();
  const problem = !form.category ? t("mobile.report.needCategory")
    : !form.position ? t("mobile.report.needPlace")
      : !description ? t("mobile.report.needDescription")
        : component && !/^\d{16}$/.test(component) ? t("mobile.report.badComponent") : "";
  error.textContent = problem;
  if (problem) return;
  const body = {
    category: form.category.key,
    description,
    location: { lon: form.position.lon, lat: form.position.lat, crs: "wgs84", address: $("#r-address").value.trim() || null },
    component_code: component || null,
  };
  $("#r-submit").disabled = true;
  try {
    await enqueue({ kind: "report", id: form.editing || newIdempotencyKey(), title: `${form.category.name} · ${description.length > 16 ? `${description.slice(0, 16)}…` : description}`,
      body, photos: [...form.photos] });
    await clearDraft();
    renderReport();
    toast(navigator.onLine ? t("mobile.report.sending") : t("mobile.report.queuedOffline"), "good");
    location.hash = "#outbox";
  } catch (err) {
    error.textContent = err.message;
  } finally {
    $("#r-submit").disabled = false;
  }
}

/** Put a failed report back into the form to fix it; it keeps its id (nothing was created). */
export async function editReport(item) {
  await idb.put("drafts", { key: draftKey(), photos: item.photos.filter((p) => p.blob).map((p) => p.blob) });
  const cat = (await loadCategories().catch(() => [])).find((c) => c.key === item.body.category);
  drafts.set(draftKey(), {
    category: cat ? { key: cat.key, name: cat.name, major: cat.major } : null,
    position: { lon: item.body.location.lon, lat: item.body.location.lat, source: "pin" },
    description: item.body.description, address: item.body.location.address || "",
    component: item.body.component_code || "", editing: item.id,
  });
  await loadDraft();
  renderReport();
}

let photos = null;
export function renderReport() {
  renderCategory();
  photos?.draw();
  renderPlace();
}

export async function initReport() {
  await loadDraft();
  photos = photoStrip(form.photos, savePhotos, { input: $("#r-photo") });
  $("#r-photos").replaceWith(photos.strip);
  photos.strip.id = "r-photos";
  $("#r-category").addEventListener("click", pickCategory);
  $("#r-locate").addEventListener("click", locate);
  $("#report-form").addEventListener("input", saveDraft);
  $("#report-form").addEventListener("submit", submit);
  renderReport();
}

/** The view is shown: draw the map (it needs its size) and find where we are. */
export function showReport() {
  buildMap().then(() => map?.invalidateSize());
  if (!form.position || form.position.source === "gps") locate();
}
