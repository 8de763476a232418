// 进度查询: a case's public steps by its number (following 并案 to the case that holds it now);
// with the tracking code, the citizen's own part and, once closed, the 回访 rating (once).
import { request } from "../../api.js";
import { fmtTime, t, tOr } from "../../i18n.js";
import { $, h } from "../../ui.js";
import { codeFor, myCases, remember } from "./store.js";

let ctx = null;
let last = null; // {no, code, answer}

const when = (iso) => (iso ? fmtTime(iso, ctx.tz(), { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) : "—");

export async function track(caseNo, code) {
  const no = (caseNo || "").trim();
  const clean = (code || "").replace(/[^A-Za-z2-7]/g, "").toUpperCase();
  $("#track-no").value = no;
  $("#track-code").value = clean;
  const error = $("#track-error");
  error.textContent = "";
  if (!no) {
    error.textContent = t("citizen.track.needNo");
    return;
  }
  const button = $("#track-submit");
  button.disabled = true;
  $("#track-result").replaceChildren(h("div", { class: "cz-panel muted" }, t("common.loading")));
  try {
    const answer = await request("POST", "/api/v1/portal/track", { body: { case_no: no, tracking_code: clean || null }, auth: false });
    last = { no, code: clean, answer };
    if (clean) remember({ case_no: no, code: clean, category_name: answer.category_name, at: answer.created_at });
    render();
  } catch (err) {
    last = null;
    $("#track-result").replaceChildren();
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
  renderMine();
}

function render() {
  if (!last) return;
  const a = last.answer;
  const status = a.closed ? (a.state === "closed" ? "done" : "ended") : "open";
  const clock = a.clock;
  const card = h("article", { class: "cz-panel cz-case", dataset: { state: a.state } },
    h("header", { class: "cz-case__head" },
      h("div", {},
        h("div", { class: "cz-case__no cz-mono" }, a.case_no),
        h("h2", {}, a.category_name || "—")),
      h("span", { class: `cz-badge cz-badge--${status}` }, tOr(`state.${a.state}`, a.state_label))),
    a.merged_chain.length ? h("p", { class: "cz-merged" }, t("citizen.track.merged", { from: a.merged_chain.join(" → "), to: a.case_no })) : null,
    h("dl", { class: "cz-facts" },
      h("dt", {}, t("citizen.track.place")), h("dd", {}, a.place || "—"),
      h("dt", {}, t("citizen.track.reported")), h("dd", {}, when(a.created_at)),
      a.department ? [h("dt", {}, t("citizen.track.department")), h("dd", {}, a.department)] : null,
      a.report_count > 1 ? [h("dt", {}, t("citizen.track.reports")), h("dd", {}, t("citizen.track.reportsN", { n: a.report_count }))] : null,
      a.closed_at ? [h("dt", {}, t("citizen.track.closed")), h("dd", {}, when(a.closed_at))] : null),
    clock ? h("p", { class: `cz-clock cz-clock--${clock.colour}` },
      h("i", { "aria-hidden": "true" }),
      t(clock.colour === "red" ? "citizen.track.late" : "citizen.track.due", { at: when(clock.due_at) })) : null,
    h("h3", { class: "cz-case__sub" }, t("citizen.track.steps")),
    h("ol", { class: "cz-timeline" }, a.steps.slice().reverse().map((s, i) => h("li", { class: i === 0 ? "is-latest" : "" },
      h("div", { class: "cz-timeline__label" }, tOr(`citizen.action.${s.action}`, s.label)),
      h("time", { datetime: s.at }, when(s.at)),
      s.note ? h("p", {}, s.note) : null))),
    mine(a));
  $("#track-result").replaceChildren(card);
}

function stars(value, onPick) {
  const group = h("div", { class: "cz-stars", role: onPick ? "radiogroup" : "img", "aria-label": t("citizen.rate.stars", { n: value || 0 }) });
  for (let n = 1; n <= 5; n += 1) {
    const on = n <= (value || 0);
    group.append(onPick
      ? h("button", { type: "button", role: "radio", "aria-checked": String(n === value), class: `cz-star${on ? " is-on" : ""}`,
        title: t(`citizen.rate.level${n}`), "aria-label": t(`citizen.rate.level${n}`), dataset: { n }, onclick: () => onPick(n),
        onkeydown: (e) => {
          if (e.key === "ArrowRight" || e.key === "ArrowUp") { e.preventDefault(); onPick(Math.min(5, n + 1), true); }
          if (e.key === "ArrowLeft" || e.key === "ArrowDown") { e.preventDefault(); onPick(Math.max(1, n - 1), true); }
        } }, "★")
      : h("span", { class: `cz-star${on ? " is-on" : ""}`, "aria-hidden": "true" }, "★"));
  }
  return group;
}

function mine(a) {
  const m = a.mine;
  if (!m) {
    return h("p", { class: "muted cz-help cz-case__hint" }, t(last.code ? "citizen.track.notMine" : "citizen.track.withCode"));
  }
  const box = h("section", { class: "cz-rate" }, h("h3", { class: "cz-case__sub" }, t("citizen.rate.heading")));
  box.append(h("p", { class: "muted cz-help" }, t(m.merged ? "citizen.track.yoursMerged" : "citizen.track.yours", { at: when(m.received_at) })));
  if (m.rating) {
    box.append(stars(m.rating), h("p", { class: "cz-thanks" }, t("citizen.rate.thanks", { at: when(m.rated_at) })));
    return box;
  }
  if (!m.can_rate) {
    box.append(h("p", { class: "muted" }, t("citizen.rate.notYet")));
    return box;
  }
  let picked = 0;
  const label = h("span", { class: "cz-stars__label muted" }, t("citizen.rate.pick"));
  const holder = h("div", { class: "cz-stars__row" });
  const comment = h("textarea", { id: "rate-comment", rows: 3, maxlength: 500, placeholder: t("citizen.rate.comment") });
  const error = h("p", { class: "form-error", role: "alert", id: "rate-error" });
  const send = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "rate-submit", disabled: true }, t("citizen.rate.submit"));
  const pick = (n, focus) => {
    picked = n;
    holder.replaceChildren(stars(n, pick), label);
    label.textContent = t(`citizen.rate.level${n}`);
    send.disabled = false;
    if (focus) holder.querySelector(`[data-n="${n}"]`)?.focus();
  };
  holder.append(stars(0, pick), label);
  const form = h("form", { class: "cz-rate__form", novalidate: true }, holder, comment, error, send);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!picked) return;
    send.disabled = true;
    error.textContent = "";
    try {
      await request("POST", "/api/v1/portal/rating", { body: { case_no: last.no, tracking_code: last.code, rating: picked, comment: comment.value.trim() || null }, auth: false });
      await track(last.no, last.code);
    } catch (err) {
      error.textContent = err.message;
      send.disabled = false;
    }
  });
  box.append(form);
  return box;
}

function renderMine() {
  const list = myCases();
  const box = $("#mine-list");
  box.hidden = !list.length;
  if (!list.length) return;
  box.replaceChildren(h("h3", {}, t("citizen.mine.heading")), h("ul", {}, list.map((c) => h("li", {},
    h("a", { href: `#track/${c.case_no}${c.code ? `/${c.code}` : ""}`, class: last?.no === c.case_no ? "is-current" : "" },
      h("span", { class: "cz-mono" }, c.case_no),
      h("span", {}, c.category_name || ""),
      h("small", {}, t(c.code ? "citizen.mine.reported" : "citizen.mine.followed")))))));
}

export function initTrack(context) {
  ctx = context;
  $("#track-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const no = $("#track-no").value;
    const code = $("#track-code").value || codeFor(no.trim());
    const target = `#track/${encodeURIComponent(no.trim())}${code ? `/${code.replace(/[^A-Za-z2-7]/g, "").toUpperCase()}` : ""}`;
    if (location.hash === target) track(no, code);
    else location.hash = target;
  });
  window.addEventListener("langchange", () => {
    render();
    renderMine();
  });
}

export function showTrack(caseNo, code) {
  renderMine();
  if (caseNo) track(decodeURIComponent(caseNo), code || codeFor(decodeURIComponent(caseNo)));
}
