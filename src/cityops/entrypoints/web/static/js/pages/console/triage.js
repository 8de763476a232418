// 人工研判 (#/triage/<classify|locate|suggested>?case=<id>): the queues the machine left to a
// person. classify: the model's top-3 with confidences and the words behind them, one click
// (or 1/2/3) to choose → amend. locate: click the map (or pick a grid cell) → amend the
// location. suggested: the case and its suggested duplicate side by side → merge or reject.
import * as L from "leaflet";
import { api, newIdempotencyKey } from "../../api.js";
import { fmtNumber, fmtPercent, localized, t } from "../../i18n.js";
import { createMap, drawRegions, regions } from "../../map.js";
import { h } from "../../ui.js";
import {
  OPEN_STATES, act, categories, clockChip, emptyState, errorState, fmtWhen, outcomeText,
  stateBadge, urgencyBadge,
  fill,
} from "./work-common.js";

const TABS = {
  classify: { triage: "classify", state: OPEN_STATES },
  locate: { triage: "locate", state: OPEN_STATES },
  suggested: { suggested: true },
};

export async function mount(el, ctx) {
  const tab = TABS[ctx.params[0]] ? ctx.params[0] : "classify";
  const keys = new Map(); // "<id>.<action>" → Idempotency-Key, until the step succeeds
  let items = [];
  let selected = Number(ctx.query.get("case")) || null;
  let cleanup = null;
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const list = h("ul", { class: "triage-list", id: "triage-list" });
  const work = h("div", { class: "triage-work", id: "triage-work" });
  el.append(h("div", { class: "c-page triage", dataset: { tab } },
    h("header", { class: "page-head" }, h("h1", {}, t("console.nav.triage")),
      h("span", { class: "muted small" }, t(`console.triage.${tab}.hint`))),
    tabs, h("div", { class: "triage-body" }, h("div", { class: "triage-side" }, list), work)));

  function keyFor(id, action) {
    const k = `${id}.${action}`;
    if (!keys.has(k)) keys.set(k, newIdempotencyKey());
    return keys.get(k);
  }

  async function step(c, action, body, button) {
    if (button) button.disabled = true;
    try {
      const outcome = await act(c.id, action, body, keyFor(c.id, action));
      keys.delete(`${c.id}.${action}`);
      ctx.toast(outcomeText(outcome), "ok");
      const index = items.findIndex((x) => x.id === c.id);
      const next = items[index + 1] || items[index - 1];
      selected = next ? next.id : null;
      await reload();
      return true;
    } catch (err) {
      ctx.toast(`${c.case_no}: ${err.message}`, "error");
      if (button) button.disabled = false;
      return false;
    }
  }

  async function drawTabs() {
    const counts = await Promise.all(Object.entries(TABS).map(([, query]) =>
      api.get("/api/v1/cases", { ...query, limit: 1 }).then((p) => p.total).catch(() => null)));
    fill(tabs, ...Object.keys(TABS).map((k, i) => h("a", { href: `#/triage/${k}`, role: "tab",
      class: k === tab ? "tab active" : "tab", "aria-selected": k === tab ? "true" : "false", dataset: { tab: k } },
    t(`console.triage.${k}`), h("span", { class: "count", dataset: { count: counts[i] ?? "" } }, counts[i] == null ? "…" : fmtNumber(counts[i])))));
  }

  function drawList() {
    fill(list, ...items.map((c) => {
      const li = h("li", { tabindex: "0", class: c.id === selected ? "active" : null, dataset: { id: c.id, caseNo: c.case_no } },
        h("div", { class: "triage-list__top" }, h("b", {}, c.case_no), clockChip(c)),
        h("p", { class: "triage-list__title" }, c.title || "—"),
        h("p", { class: "muted small" }, [c.address || c.grid_name || "", " · ", fmtWhen(c.created_at)]));
      li.addEventListener("click", () => choose(c.id));
      li.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") choose(c.id);
        if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); li.nextElementSibling?.focus(); }
        if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); li.previousElementSibling?.focus(); }
      });
      return li;
    }));
  }

  async function choose(id) {
    selected = id;
    history.replaceState(null, "", `#/triage/${tab}?case=${id}`);
    list.querySelectorAll("li").forEach((li) => li.classList.toggle("active", Number(li.dataset.id) === id));
    cleanup?.();
    cleanup = null;
    fill(work, h("p", { class: "c-loading muted" }, t("common.loading")));
    try {
      const c = await api.get(`/api/v1/cases/${id}`);
      if (selected !== id) return;
      if (tab === "classify") await classify(c);
      else if (tab === "locate") await locate(c);
      else await suggested(c);
    } catch (err) {
      fill(work, errorState(err, () => choose(id)));
    }
  }

  function caseHead(c) {
    return h("div", { class: "triage-case" },
      h("div", { class: "triage-case__head" }, h("a", { href: `#/case/${c.id}`, class: "case-no" }, c.case_no), stateBadge(c.state), clockChip(c), urgencyBadge(c)),
      h("h2", {}, c.title || "—"),
      c.description && c.description !== c.title ? h("p", {}, c.description) : null,
      h("p", { class: "muted small" }, [c.address, c.grid_name, fmtWhen(c.created_at)].filter(Boolean).join(" · ")));
  }

  // -- classify --------------------------------------------------------------------------------
  async function classify(c) {
    const cl = c.classification || {};
    const sugg = cl.suggestions || [];
    const cats = await categories();
    const terms = cl.explanation || [];
    const pick = (category, button) => step(c, "amend", { category, note: t("console.triage.classifyNote") }, button);
    const buttons = sugg.map((s, i) => {
      const b = h("button", { type: "button", class: "sugg-pick", dataset: { category: s.category } },
        h("kbd", {}, String(i + 1)),
        h("span", { class: "sugg-pick__name" }, s.name, h("small", { class: "muted" }, ` ${s.category}`)),
        h("span", { class: "bar" }, h("i", { style: { width: `${Math.round(s.confidence * 100)}%` } })),
        h("b", {}, fmtPercent(s.confidence)));
      b.addEventListener("click", () => pick(s.category, b));
      return b;
    });
    const other = h("select", { "aria-label": t("console.triage.other") }, h("option", { value: "" }, t("console.triage.otherPick")),
      cats.filter((k) => /^[CE]\d{4}$/.test(k.key)).map((k) => h("option", { value: k.key }, `${k.key} ${k.major || ""}·${k.name}`)));
    const otherBtn = h("button", { type: "button", class: "btn" }, t("console.triage.otherApply"));
    otherBtn.addEventListener("click", () => other.value ? pick(other.value, otherBtn) : other.focus());
    fill(work, caseHead(c),
      h("section", { class: "card" }, h("h2", { class: "card__title" }, t("console.triage.suggestions")),
        buttons.length ? h("div", { class: "sugg-list" }, buttons) : h("p", { class: "muted" }, t("console.triage.noSuggestions")),
        terms.length ? h("p", { class: "terms" }, h("span", { class: "muted" }, t("console.case.terms")),
          terms.map((e) => h("span", { class: "term", title: String(e.weight) }, e.term))) : null,
        cl.reason ? h("p", { class: "explain" }, localized(cl.reason)) : null),
      h("section", { class: "card" }, h("h2", { class: "card__title" }, t("console.triage.other")),
        h("div", { class: "inline-form" }, other, otherBtn)));
    const onKey = (ev) => {
      if (ev.target.closest("input, textarea, select")) return;
      const n = Number(ev.key);
      if (n >= 1 && n <= buttons.length) { ev.preventDefault(); buttons[n - 1].click(); }
    };
    addEventListener("keydown", onKey);
    cleanup = () => removeEventListener("keydown", onKey);
  }

  // -- locate ----------------------------------------------------------------------------------
  async function locate(c) {
    const mapEl = h("div", { class: "triage-map", id: "triage-map" });
    const found = h("div", { class: "locate-result muted" }, t("console.triage.clickMap"));
    const confirm = h("button", { type: "button", class: "btn btn-primary", disabled: true, id: "set-location" }, t("console.triage.setLocation"));
    const gridIn = h("input", { list: "grid-names", placeholder: t("console.triage.gridSearch"), autocomplete: "off" });
    const grids = (await regions("grid")).features.map((f) => f.properties);
    const datalist = h("datalist", { id: "grid-names" }, grids.map((g) => h("option", { value: `${g.name} ${g.code}` })));
    let chosen = null;
    fill(work, caseHead(c),
      h("section", { class: "card" }, h("h2", { class: "card__title" }, t("console.triage.where")),
        h("div", { class: "inline-form" }, gridIn, datalist), mapEl, h("div", { class: "locate-bar" }, found, confirm)));
    const { map } = await createMap(mapEl, { interactive: true, canvas: true });
    await drawRegions(map, "grid", () => ({ color: "#98a2b3", weight: 0.5, fill: false }));
    await drawRegions(map, "street", () => ({ color: "#667085", weight: 1, fill: false }));
    await drawRegions(map, "district", () => ({ color: "#1a8cff", weight: 1.8, fill: false }));
    mapEl.dataset.ready = "1";
    let pin = null;
    if (c.lon != null && c.lat != null) {
      L.circleMarker([c.lat, c.lon], { radius: 6, color: "#f5a623", weight: 2, fillOpacity: 0.3 }).addTo(map).bindTooltip(t("console.triage.reported"));
    }
    const setPin = async (lat, lon) => {
      pin?.remove();
      pin = L.marker([lat, lon]).addTo(map);
      found.textContent = t("common.loading");
      try {
        const where = await api.get("/api/v1/map/locate", { lon: lon.toFixed(6), lat: lat.toFixed(6) });
        const names = (where.path || []).filter((p) => p.level !== "city").map((p) => p.name).join(" › ");
        found.textContent = where.inside ? names : t("console.triage.outside", { m: fmtNumber(Math.round(where.distance_m ?? where.distance ?? 0)) });
        chosen = where.inside ? { lon: Number(lon.toFixed(6)), lat: Number(lat.toFixed(6)) } : null;
        found.dataset.grid = where.inside ? where.grid_code : "";
        confirm.disabled = !chosen;
      } catch (err) {
        found.textContent = err.message;
      }
    };
    map.on("click", (ev) => setPin(ev.latlng.lat, ev.latlng.lng));
    gridIn.addEventListener("change", () => {
      const code = gridIn.value.trim().split(/\s+/).pop();
      const g = grids.find((x) => x.code === code);
      if (!g) return;
      chosen = { grid_code: g.code };
      found.textContent = `${g.name} (${g.code})`;
      confirm.disabled = false;
      pin?.remove();
    });
    confirm.addEventListener("click", () => chosen && step(c, "amend", { location: chosen, note: t("console.triage.locateNote") }, confirm));
    cleanup = () => map.remove();
  }

  // -- duplicates ------------------------------------------------------------------------------
  async function suggested(c) {
    const s = c.duplicate_suggestion;
    if (!s) {
      fill(work, caseHead(c), emptyState(t("console.triage.noSuggestion")));
      return;
    }
    const other = await api.get(`/api/v1/cases/${s.case_id}`).catch(() => null);
    const side = (x, titleKey) => h("div", { class: "dup-side" }, h("h3", {}, t(titleKey)),
      x ? caseHead(x) : h("p", { class: "muted" }, t("console.case.notFound")));
    const scores = Object.entries(s).filter(([k, v]) => typeof v === "number" && k !== "case_id");
    const note = h("input", { placeholder: t("console.triage.rejectNote"), maxlength: "2000" });
    const merge = h("button", { type: "button", class: "btn btn-primary", dataset: { act: "merge" } }, t("console.triage.merge", { no: s.case_no }));
    const reject = h("button", { type: "button", class: "btn btn-warn", dataset: { act: "reject_duplicate" } }, t("console.action.reject_duplicate"));
    const allowed = new Set(c.allowed_actions.map((a) => a.action));
    merge.disabled = !allowed.has("merge") || null;
    reject.disabled = !allowed.has("reject_duplicate") || null;
    merge.addEventListener("click", () => step(c, "merge", { into: s.case_no }, merge));
    reject.addEventListener("click", () => {
      if (!note.value.trim()) { note.focus(); ctx.toast(t("console.form.needNote"), "warn"); return; }
      step(c, "reject_duplicate", { note: note.value.trim() }, reject);
    });
    fill(work, 
      h("div", { class: "dup" }, side(c, "console.triage.thisCase"), side(other, "console.triage.suggestedCase")),
      scores.length ? h("p", { class: "muted small" }, t("console.triage.scores"), " ", scores.map(([k, v]) => `${k} ${Number.isInteger(v) ? fmtNumber(v) : fmtNumber(v, { maximumFractionDigits: 2 })}`).join(" · ")) : null,
      h("div", { class: "locate-bar" }, merge, note, reject));
  }

  async function reload() {
    drawTabs();
    try {
      const page = await api.get("/api/v1/cases", { ...TABS[tab], limit: 200 });
      items = page.items.sort((a, b) => a.id - b.id);
    } catch (err) {
      fill(list, );
      fill(work, errorState(err, reload));
      return;
    }
    drawList();
    if (!items.length) {
      cleanup?.();
      cleanup = null;
      fill(work, emptyState(t("console.triage.empty"), t(`console.triage.${tab}.hint`)));
      return;
    }
    if (!items.some((c) => c.id === selected)) selected = items[0].id;
    await choose(selected);
  }

  await reload();
  return () => cleanup?.();
}
