// 我要反映: category first, then the pin (with "me too": open cases of that kind nearby), then
// photos and words. Everything typed goes to the draft at once; the submission's idempotency
// key is the draft's, so a double tap or a retry after a lost answer opens one case.
import * as L from "leaflet";
import { api, request } from "../../api.js";
import { currentLang, t } from "../../i18n.js";
import { createMap } from "../../map.js";
import { $, h } from "../../ui.js";
import { clearDraft, loadDraft, remember, saveDraft } from "./store.js";

const PUBLIC = { auth: false };
const MAX_PHOTOS = 3;
let draft = loadDraft();
let groups = [];
let mapState = null; // {map, pin}
let mapPending = null; // the one createMap in flight (a second call must not build a second map on #cz-map)
let nearbySeq = 0;
let ctx = null;

const save = () => saveDraft(draft);

export function trackLink(caseNo, code) {
  return `${location.origin}/citizen#track/${encodeURIComponent(caseNo)}${code ? `/${code}` : ""}`;
}

export function ago(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(currentLang(), { numeric: "auto" });
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return rtf.format(0, "minute");
}

// -- steps ------------------------------------------------------------------------------------

function setStep(step) {
  if (step >= 2 && !draft.category) step = 1;
  if (step >= 3 && draft.lat == null) step = 2;
  draft.step = step;
  save();
  for (const n of [1, 2, 3]) $(`#step-${n}`).hidden = n !== step;
  $("#step-done").hidden = true;
  $("#cz-steps").hidden = false;
  document.querySelectorAll("#cz-steps li").forEach((li) => {
    const n = Number(li.dataset.step);
    li.classList.toggle("is-current", n === step);
    li.classList.toggle("is-done", n < step);
  });
  if (step === 2) showMap();
  if (step === 3) renderSummary();
  scrollTo({ top: 0, behavior: "instant" });
}

// -- 1. category ------------------------------------------------------------------------------

function matches(item, group, words) {
  if (!words) return true;
  const hay = [item.name, group.name, item.hint, ...item.keywords].join(" ").toLowerCase();
  return words.split(/\s+/).every((w) => hay.includes(w));
}

function renderCategories() {
  const words = $("#cat-search").value.trim().toLowerCase();
  const list = $("#cat-list");
  list.replaceChildren();
  let shown = 0;
  for (const group of groups) {
    const items = group.items.filter((i) => matches(i, group, words));
    if (!items.length) continue;
    shown += items.length;
    list.append(h("section", { class: "cz-cat-group" },
      h("h3", {}, group.name, h("small", {}, t(`citizen.kind.${group.kind === "component" ? "component" : "event"}`))),
      h("div", { class: "cz-cat-items" }, items.map((item) => h("button", {
        type: "button",
        class: `cz-cat${draft.category === item.code ? " is-selected" : ""}`,
        dataset: { code: item.code },
        onclick: () => chooseCategory(item),
      }, h("strong", {}, item.name),
      item.keywords.length ? h("span", {}, item.keywords.slice(0, 4).join(" · ")) : null)))));
  }
  if (!shown) list.append(h("p", { class: "cz-empty" }, t("citizen.category.none")));
}

function chooseCategory(item) {
  if (draft.category !== item.code) draft.joining = null;
  draft.category = item.code;
  draft.categoryName = item.name;
  setStep(2);
  renderChosen();
  if (draft.lat != null) loadNearby();
}

function renderChosen() {
  const chip = h("button", { type: "button", class: "cz-chip", onclick: () => setStep(1) },
    h("span", {}, t("citizen.category.chosen")), h("strong", {}, draft.categoryName || ""), h("em", {}, t("citizen.change")));
  $("#chosen-cat").replaceChildren(chip);
}

// -- 2. place and "me too" -------------------------------------------------------------------

const pinIcon = () => L.divIcon({ className: "cz-pin", html: "<span></span>", iconSize: [30, 42], iconAnchor: [15, 40] });

async function showMap() {
  renderChosen();
  if (mapState) {
    mapState.map.invalidateSize();
    return;
  }
  if (mapPending) {
    await mapPending;
    return;
  }
  mapPending = createMap($("#cz-map")).catch((err) => {
    mapPending = null; // let the next visit try again
    throw err;
  });
  const { map } = await mapPending;
  mapState = { map, pin: null, cases: L.layerGroup().addTo(map) };
  map.on("click", (e) => placePin(e.latlng.lat, e.latlng.lng, true));
  api.get("/api/v1/portal/regions", { level: "street" }, PUBLIC).then((geo) => {
    L.geoJSON(geo, {
      interactive: false,
      style: (f) => ({ color: "#5f9e93", weight: 1.5, fillColor: ["#e2efe9", "#eef3e4", "#e6eef4", "#f3ece0"][(f.properties.code || "").slice(-1) % 4 || 0], fillOpacity: 0.9 }),
      onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { permanent: true, direction: "center", className: "cz-map-label" }),
    }).addTo(map).bringToBack();
    return api.get("/api/v1/portal/regions", { level: "community" }, PUBLIC);
  }).then((geo) => {
    L.geoJSON(geo, { interactive: false, style: { color: "#9dbdb5", weight: 0.8, dashArray: "4 3", fill: false } }).addTo(map);
  }).catch((err) => ctx.showError(err));
  if (draft.lat != null) placePin(draft.lat, draft.lon, false);
  renderWhere();
}

function placePin(lat, lon, fresh = true) {
  if (fresh) {
    draft.lat = lat;
    draft.lon = lon;
    draft.place = null;
    draft.inside = null;
    save();
  }
  const { map } = mapState || {};
  if (map) {
    if (!mapState.pin) {
      mapState.pin = L.marker([lat, lon], { icon: pinIcon(), draggable: true, keyboard: true }).addTo(map);
      mapState.pin.on("dragend", () => {
        const p = mapState.pin.getLatLng();
        placePin(p.lat, p.lng, true);
      });
    } else {
      mapState.pin.setLatLng([lat, lon]);
    }
    if (fresh || !map.getBounds().contains([lat, lon])) map.setView([lat, lon], Math.max(map.getZoom(), 14));
  }
  if (fresh) lookUpPlace();
  loadNearby();
}

async function lookUpPlace() {
  renderWhere();
  try {
    const where = await api.get("/api/v1/portal/where", { lon: draft.lon, lat: draft.lat }, PUBLIC);
    draft.inside = where.inside;
    draft.place = where.place;
    save();
  } catch (err) {
    ctx.showError(err);
  }
  renderWhere();
}

function renderWhere() {
  const el = $("#pin-where");
  el.className = "cz-where";
  if (draft.lat == null) {
    el.textContent = t("citizen.place.none");
  } else if (draft.inside === false) {
    el.classList.add("is-bad");
    el.textContent = t("citizen.place.outside");
  } else {
    el.textContent = draft.place ? t("citizen.place.at", { place: draft.place }) : t("common.loading");
  }
  $("#to-step-3").disabled = draft.lat == null || draft.inside === false;
}

function useMyLocation() {
  const button = $("#use-location");
  if (!navigator.geolocation) {
    ctx.showError(t("citizen.place.noGeo"));
    return;
  }
  button.disabled = true;
  button.textContent = t("citizen.place.locating");
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      button.disabled = false;
      button.textContent = t("citizen.place.useLocation");
      placePin(pos.coords.latitude, pos.coords.longitude, true);
    },
    () => {
      button.disabled = false;
      button.textContent = t("citizen.place.useLocation");
      ctx.showError(t("citizen.place.geoDenied"));
    },
    { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 },
  );
}

let searchTimer = null;
function searchPlaces() {
  clearTimeout(searchTimer);
  const q = $("#place-search").value.trim();
  const list = $("#place-results");
  if (!q) {
    list.hidden = true;
    return;
  }
  searchTimer = setTimeout(async () => {
    try {
      const { items } = await api.get("/api/v1/portal/places", { q }, PUBLIC);
      list.replaceChildren(...(items.length ? items.map((p) => h("li", {},
        h("button", { type: "button", role: "option", onclick: () => {
          list.hidden = true;
          $("#place-search").value = p.name;
          if (!draft.address) {
            draft.address = p.name;
            $("#address").value = p.name;
          }
          placePin(p.lat, p.lon, true);
        } }, h("strong", {}, p.name), h("span", {}, [p.district, p.street].filter(Boolean).join(" ")))))
        : [h("li", { class: "cz-empty" }, t("citizen.place.noMatch"))]));
      list.hidden = false;
    } catch (err) {
      ctx.showError(err);
    }
  }, 250);
}

async function loadNearby() {
  const box = $("#metoo");
  if (!draft.category || draft.lat == null || draft.inside === false) {
    box.replaceChildren();
    mapState?.cases.clearLayers();
    return;
  }
  const seq = ++nearbySeq;
  box.replaceChildren(h("p", { class: "muted" }, t("citizen.metoo.loading")));
  try {
    const answer = await api.get("/api/v1/portal/nearby", { category: draft.category, lon: draft.lon, lat: draft.lat, radius: 500 }, PUBLIC);
    if (seq !== nearbySeq) return;
    renderNearby(answer);
  } catch (err) {
    if (seq !== nearbySeq) return;
    if (err.details?.reason === "outside_jurisdiction") {
      draft.inside = false;
      renderWhere();
      box.replaceChildren();
      return;
    }
    box.replaceChildren(h("p", { class: "form-error" }, err.message));
  }
}

function renderNearby(answer) {
  const box = $("#metoo");
  mapState?.cases.clearLayers();
  if (!answer.items.length) {
    box.replaceChildren(h("p", { class: "cz-metoo__none" }, t("citizen.metoo.none")));
    return;
  }
  for (const c of answer.items) {
    mapState && L.circleMarker([c.lat, c.lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#f5a623", fillOpacity: 1 })
      .bindTooltip(`${c.category_name} · ${c.case_no}`).addTo(mapState.cases);
  }
  box.replaceChildren(
    h("h3", {}, t("citizen.metoo.heading", { count: answer.count })),
    h("p", { class: "muted cz-help" }, t("citizen.metoo.help")),
    h("ul", { class: "cz-metoo__list" }, answer.items.map((c) => h("li", { class: `cz-metoo__item${draft.joining === c.case_no ? " is-joined" : ""}`, dataset: { caseNo: c.case_no } },
      h("div", { class: "cz-metoo__head" },
        h("strong", {}, c.category_name),
        h("span", { class: "cz-state" }, t(`state.${c.state}`))),
      h("div", { class: "cz-metoo__meta" },
        h("span", {}, t("citizen.metoo.distance", { m: c.distance_m })),
        h("span", {}, ago(c.created_at)),
        h("span", {}, t("citizen.metoo.reports", { n: c.report_count })),
        h("span", { class: "cz-mono" }, c.case_no)),
      h("div", { class: "cz-metoo__actions" },
        h("button", { type: "button", class: "btn btn-primary cz-join", onclick: () => join(c) }, t("citizen.metoo.join")),
        h("button", { type: "button", class: "btn cz-follow", onclick: () => follow(c) }, t("citizen.metoo.follow")))))),
  );
}

function join(c) {
  draft.joining = c.case_no;
  placePin(c.lat, c.lon, true);
  setStep(3);
}

function follow(c) {
  remember({ case_no: c.case_no, category_name: c.category_name, at: new Date().toISOString(), followed: true });
  location.hash = `#track/${c.case_no}`;
}

// -- 3. photos, words, submit ----------------------------------------------------------------

function renderSummary() {
  $("#chosen-summary").replaceChildren(
    h("button", { type: "button", class: "cz-chip", onclick: () => setStep(1) }, h("span", {}, t("citizen.category.chosen")), h("strong", {}, draft.categoryName || ""), h("em", {}, t("citizen.change"))),
    h("button", { type: "button", class: "cz-chip", onclick: () => setStep(2) }, h("span", {}, t("citizen.place.chosen")), h("strong", {}, draft.place || t("citizen.place.pinned")), h("em", {}, t("citizen.change"))),
  );
  const joining = $("#joining");
  joining.hidden = !draft.joining;
  if (draft.joining) {
    joining.replaceChildren(h("span", {}, t("citizen.metoo.joining", { no: draft.joining })),
      h("button", { type: "button", class: "btn btn-ghost", onclick: () => { draft.joining = null; save(); renderSummary(); } }, t("citizen.metoo.unjoin")));
  }
  renderPhotos();
}

function renderPhotos() {
  const box = $("#photos");
  const tiles = draft.photos.map((p, i) => h("figure", { class: "cz-photo" },
    h("img", { src: p.thumb_url, alt: t("citizen.details.photoAlt", { n: i + 1 }) }),
    h("button", { type: "button", class: "cz-photo__remove", "aria-label": t("citizen.details.removePhoto"), title: t("citizen.details.removePhoto"),
      onclick: () => { draft.photos.splice(i, 1); save(); renderPhotos(); } }, "×")));
  if (draft.photos.length < MAX_PHOTOS) {
    tiles.push(h("button", { type: "button", class: "cz-photo cz-photo--add", id: "add-photo", onclick: () => $("#photo-input").click() },
      h("span", { class: "cz-photo__plus" }, "+"), h("span", {}, t("citizen.details.addPhoto"))));
  }
  box.replaceChildren(...tiles);
}

async function uploadPhotos(files) {
  const room = MAX_PHOTOS - draft.photos.length;
  const picked = [...files].slice(0, room);
  if (!picked.length) return;
  const error = $("#submit-error");
  error.textContent = "";
  const add = $("#add-photo");
  if (add) {
    add.disabled = true;
    add.lastChild.textContent = t("citizen.details.uploading");
  }
  const form = new FormData();
  picked.forEach((f) => form.append("file", f, f.name));
  try {
    const stored = await request("POST", "/api/v1/media", { body: form, auth: false, timeout: 60000 });
    draft.photos.push(...stored.map((m) => ({ ref: m.ref, thumb_url: m.thumb_url })));
    save();
  } catch (err) {
    error.textContent = err.message;
  }
  renderPhotos();
}

function bindFields() {
  for (const id of ["description", "address", "name", "phone"]) {
    const el = $(`#${id}`);
    el.value = draft[id] || "";
    el.addEventListener("input", () => {
      draft[id] = el.value;
      save();
    });
  }
}

async function submit(e) {
  e.preventDefault();
  const error = $("#submit-error");
  error.textContent = "";
  const description = (draft.description || "").trim();
  if (!description) {
    error.textContent = t("citizen.details.needDescription");
    $("#description").focus();
    return;
  }
  const phone = (draft.phone || "").trim();
  if (phone && !/^[0-9+\- ]{5,20}$/.test(phone)) {
    error.textContent = t("citizen.details.badPhone");
    $("#phone").focus();
    return;
  }
  const button = $("#submit");
  button.disabled = true;
  button.textContent = t("citizen.submitting");
  const body = {
    category: draft.category, description, lon: draft.lon, lat: draft.lat,
    address: (draft.address || "").trim() || null, photos: draft.photos.map((p) => p.ref),
    name: (draft.name || "").trim() || null, phone: phone || null,
  };
  try {
    const out = await request("POST", "/api/v1/portal/reports", { body, auth: false, headers: { "Idempotency-Key": draft.key } });
    remember({ case_no: out.case_no, code: out.tracking_code, category_name: draft.categoryName, at: new Date().toISOString() });
    clearDraft();
    showDone(out);
    draft = loadDraft();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
    button.textContent = t("citizen.submit");
  }
}

function showDone(out) {
  for (const n of [1, 2, 3]) $(`#step-${n}`).hidden = true;
  $("#cz-steps").hidden = true;
  $("#step-done").hidden = false;
  $("#done-title").textContent = t(out.merged ? "citizen.done.mergedTitle" : "citizen.done.title");
  $("#done-text").textContent = t(out.merged ? "citizen.done.mergedText" : "citizen.done.text", { no: out.case_no });
  $("#done-no").textContent = out.case_no;
  $("#done-code").textContent = out.tracking_code;
  const link = trackLink(out.case_no, out.tracking_code);
  $("#done-track").href = `#track/${out.case_no}/${out.tracking_code}`;
  $("#copy-link").onclick = async () => {
    try {
      await navigator.clipboard.writeText(link);
      $("#copy-link").textContent = t("citizen.done.copied");
    } catch {
      prompt(t("citizen.done.copy"), link);
    }
  };
  scrollTo({ top: 0 });
}

function reset() {
  draft = loadDraft();
  bindFields();
  renderCategories();
  $("#copy-link").textContent = t("citizen.done.copy");
  setStep(1);
}

// -- set-up -----------------------------------------------------------------------------------

export async function initReport(context) {
  ctx = context;
  bindFields();
  $("#cat-search").addEventListener("input", renderCategories);
  $("#cat-search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      $("#cat-list .cz-cat")?.click();
    }
  });
  $("#use-location").addEventListener("click", useMyLocation);
  $("#place-search").addEventListener("input", searchPlaces);
  $("#to-step-3").addEventListener("click", () => setStep(3));
  document.querySelectorAll("[data-go]").forEach((b) => b.addEventListener("click", () => setStep(Number(b.dataset.go))));
  $("#photo-input").addEventListener("change", (e) => {
    uploadPhotos(e.target.files);
    e.target.value = "";
  });
  $("#step-3").addEventListener("submit", submit);
  $("#new-report").addEventListener("click", reset);
  window.addEventListener("langchange", () => {
    renderCategories();
    if (draft.step === 2) renderWhere();
    if (draft.step === 3) renderSummary();
    if (draft.step >= 2) loadNearby();
  });
  await loadCategories();
}

async function loadCategories() {
  $("#cat-list").replaceChildren(h("p", { class: "muted" }, t("common.loading")));
  try {
    groups = await api.get("/api/v1/portal/categories", null, PUBLIC);
  } catch (err) {
    $("#cat-list").replaceChildren();
    ctx.showError(err, loadCategories);
    return;
  }
  renderCategories();
  setStep(draft.step);
}

export function showReport() {
  if (!$("#step-done").hidden) return;
  setStep(draft.step);
}
