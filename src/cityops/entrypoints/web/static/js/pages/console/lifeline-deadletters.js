// 死信队列 (#/lifeline-deadletters?reason=…&resolved=false&group=1): what could not be ingested,
// newest first — reason, device, when, the raw bytes shown safely (text through textContent,
// hex for bytes that are not UTF-8). Identical dead letters are one row with their count.
// Admins replay (after the device or unit was fixed) and resolve; the others read.
import { api } from "../../api.js";
import { fmtNumber, t, tOr } from "../../i18n.js";
import { h, throttle } from "../../ui.js";
import { ensureCss, errorMessage, rawBlock } from "./lifeline-common.js";
import { emptyState, errorState, fmtFull, fmtWhen } from "./work-common.js";

const LIMIT = 50;
const REASONS = ["unknown_device", "unknown_metric", "bad_unit", "non_numeric", "out_of_range", "too_old",
  "future_timestamp", "malformed_json", "malformed_senml", "malformed_payload", "not_finite",
  "unsupported_version", "unsupported_type", "internal_error"];

const reasonName = (code) => tOr(`lifeline.reason.${code}`, code);

function filters(ctx) {
  const q = ctx.query;
  const reason = h("select", { name: "reason" }, h("option", { value: "" }, t("lifeline.filter.any")),
    REASONS.map((r) => h("option", { value: r }, `${reasonName(r)} (${r})`)));
  reason.value = q.get("reason") || "";
  const resolved = h("select", { name: "resolved" },
    h("option", { value: "false" }, t("lifeline.dl.open")), h("option", { value: "true" }, t("lifeline.dl.done")),
    h("option", { value: "all" }, t("lifeline.state.all")));
  resolved.value = q.get("resolved") || "false";
  const group = h("input", { type: "checkbox", name: "group", value: "1", checked: q.get("group") !== "0" || null });
  const form = h("form", { class: "filters", role: "search" },
    h("label", { class: "f" }, h("span", {}, t("lifeline.dl.reason")), reason),
    h("label", { class: "f" }, h("span", {}, t("lifeline.dl.resolved")), resolved),
    h("label", { class: "f f--check" }, group, h("span", {}, t("lifeline.dl.grouped"))));
  form.addEventListener("change", () => {
    const out = new URLSearchParams();
    if (reason.value) out.set("reason", reason.value);
    if (resolved.value !== "false") out.set("resolved", resolved.value);
    if (!group.checked) out.set("group", "0");
    ctx.navigate(`#/lifeline-deadletters?${out}`);
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());
  return form;
}

function dialog(title, body, onSubmit) {
  const error = h("p", { class: "warn", role: "alert", hidden: true });
  const form = h("form", { method: "dialog", class: "lf-dialog__form" }, body, error,
    h("div", { class: "action-form__bar" },
      h("button", { type: "submit", class: "btn btn-primary", value: "ok" }, t("lifeline.alarm.submit")),
      h("button", { type: "button", class: "btn", onclick: () => dlg.close() }, t("lifeline.alarm.cancel"))));
  const dlg = h("dialog", { class: "dialog lf-dialog" }, h("h2", {}, title), form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await onSubmit();
      dlg.close();
    } catch (err) {
      error.hidden = false;
      error.textContent = errorMessage(err);
      button.disabled = false;
    }
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

function replay(item, ctx, done) {
  const device = h("input", { name: "device", maxlength: 64, autocomplete: "off", value: item.device || "" });
  const identical = h("input", { type: "checkbox", name: "identical", checked: true });
  dialog(t("lifeline.dl.replayTitle", { id: item.id }), h("div", {},
    h("p", { class: "muted" }, t("lifeline.dl.replayHint")),
    h("label", { class: "f" }, h("span", {}, t("lifeline.dl.replayDevice")), device),
    item.count > 1 ? h("label", { class: "f f--check" }, identical, h("span", {}, t("lifeline.dl.replayIdentical"))) : null),
  async () => {
    const body = { identical: item.count > 1 ? identical.checked : true };
    if (device.value.trim()) body.device = device.value.trim();
    const r = await api.post(`/api/v1/telemetry/dead-letters/${item.id}/replay`, body);
    ctx.toast(t("lifeline.dl.replayed", { a: r.accepted, d: r.duplicates, r: r.rejected }));
    if (r.dead_letter_id) ctx.toast(t("lifeline.dl.stillFailing", { reason: reasonName(r.reason), id: r.dead_letter_id }), "warn");
    done();
  });
}

function resolve(item, ctx, done) {
  const note = h("textarea", { name: "note", rows: 3, maxlength: 2000 });
  const identical = h("input", { type: "checkbox", name: "identical", checked: true });
  dialog(t("lifeline.dl.resolveTitle", { id: item.id }), h("div", {},
    h("label", { class: "f" }, h("span", {}, t("lifeline.alarm.note")), note),
    item.count > 1 ? h("label", { class: "f f--check" }, identical, h("span", {}, t("lifeline.dl.replayIdentical"))) : null),
  async () => {
    const r = await api.post(`/api/v1/telemetry/dead-letters/${item.id}/resolve`,
      { note: note.value.trim() || null, identical: item.count > 1 && identical.checked });
    ctx.toast(t("lifeline.dl.resolvedToast", { n: r.resolved?.length ?? 1 }));
    done();
  });
}

function row(item, ctx, reload) {
  const admin = ctx.me.role === "admin" && !item.resolved;
  const raw = h("tr", { class: "lf-raw-row", hidden: true }, h("td", { colspan: 8 }));
  const toggle = h("button", { type: "button", class: "btn btn-sm lf-raw-toggle", "aria-expanded": "false", onclick: () => {
    const show = raw.hidden;
    raw.hidden = !show;
    toggle.setAttribute("aria-expanded", String(show));
    toggle.textContent = t(show ? "lifeline.dl.rawHide" : "lifeline.dl.raw");
    if (show && !raw.firstChild.firstChild) raw.firstChild.append(rawBlock(item));
  } }, t("lifeline.dl.raw"));
  const main = h("tr", { dataset: { id: item.id, reason: item.reason, count: item.count ?? 1 }, class: item.resolved ? "lf-row--cleared" : null },
    h("td", { title: fmtFull(item.received_at) }, fmtWhen(item.received_at, true),
      (item.count ?? 1) > 1 ? h("small", { class: "muted lf-first" }, t("lifeline.dl.times", { n: fmtNumber(item.count), first: fmtWhen(item.first_received_at) })) : null),
    h("td", { class: "num" }, (item.count ?? 1) > 1 ? h("span", { class: "badge lf-count" }, `×${fmtNumber(item.count)}`) : "1"),
    h("td", {}, h("span", { class: `badge lf-reason lf-reason--${item.reason}`, title: item.reason }, reasonName(item.reason))),
    h("td", { class: "lf-device" }, item.device || h("span", { class: "muted" }, "—")),
    h("td", { class: "lf-source", title: `${item.source} · ${item.content_type}` }, item.source),
    h("td", { class: "num" }, `${fmtNumber(item.points_rejected)} / ${fmtNumber(item.points_accepted)}`),
    h("td", { class: "lf-message" }, h("span", { title: item.message }, item.message),
      item.resolved ? h("small", { class: "muted" }, t("lifeline.dl.resolvedBy", { who: item.resolved_by || "—", at: fmtWhen(item.resolved_at), note: item.note || "" })) : null),
    h("td", { class: "col-act" }, toggle,
      admin ? h("button", { type: "button", class: "btn btn-sm btn-primary lf-replay", onclick: () => replay(item, ctx, reload) }, t("lifeline.dl.replay")) : null,
      admin ? h("button", { type: "button", class: "btn btn-sm lf-resolve", onclick: () => resolve(item, ctx, reload) }, t("lifeline.dl.resolve")) : null));
  return [main, raw];
}

export async function mount(el, ctx) {
  ensureCss();
  const q = ctx.query;
  const grouped = q.get("group") !== "0";
  const query = { limit: LIMIT, reason: q.get("reason") || undefined, group: grouped || undefined };
  const resolved = q.get("resolved") || "false";
  if (resolved !== "all") query.resolved = resolved;
  const results = h("div", { class: "results" }, h("p", { class: "c-loading muted" }, t("common.loading")));
  el.append(h("div", { class: "c-page lf-page lf-deadletters" },
    h("header", { class: "page-head" }, h("h1", {}, t("lifeline.dl.title")), h("p", { class: "muted" }, t("lifeline.dl.sub"))),
    filters(ctx), results));
  const cols = ["received", "count", "reason", "device", "source", "points", "message"];
  let items = [];
  let total = 0;
  async function load(more = false) {
    try {
      const page = await api.get("/api/v1/telemetry/dead-letters",
        { ...query, before_id: more && !grouped ? items[items.length - 1]?.id : undefined,
          limit: more && grouped ? items.length + LIMIT : LIMIT });
      items = more && !grouped ? [...items, ...page.items] : page.items;
      total = page.total;
      if (!items.length) {
        results.replaceChildren(emptyState(t("lifeline.dl.none"), t("lifeline.dl.noneHint")));
        return;
      }
      const body = h("tbody", {}, items.flatMap((item) => row(item, ctx, () => load())));
      results.replaceChildren(
        h("p", { class: "muted" }, t(grouped ? "lifeline.dl.total" : "lifeline.dl.totalRows", { n: fmtNumber(total) })),
        h("table", { class: "c-table lf-table", id: "lf-deadletters" },
          h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: `col-${c}` }, t(`lifeline.dl.${c}`))), h("th", { class: "col-act" }))),
          body),
        items.length < total ? h("button", { type: "button", class: "btn lf-more", onclick: () => load(true) }, t("lifeline.dl.more")) : null);
    } catch (err) {
      results.replaceChildren(errorState(errorMessage(err), () => load()));
    }
  }
  await load();
  // A new dead letter redraws the list, unless the user is reading raw bytes or in a dialog.
  const busy = () => document.querySelector(".lf-dialog") || el.querySelector(".lf-raw-row:not([hidden])");
  const reload = throttle(() => { if (!busy()) load(); }, 3000);
  return ctx.onLive((msg) => { if (msg.name === "TelemetryDeadLettered" || msg.name === "reset") reload(); });
}
