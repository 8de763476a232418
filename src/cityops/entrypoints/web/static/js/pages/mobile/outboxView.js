// 待发送: what is on the phone and not yet with the API — waiting, sending, or refused with
// the API's reason (edit or resend) — and the last things sent with what the API answered.
import { currentUser } from "../../api.js";
import { t } from "../../i18n.js";
import { $, h } from "../../ui.js";
import { actionName, confirmSheet, empty, fill, toast, when } from "./common.js";
import { flush, items, loginNeeded, remove, retry, sentLog } from "./outbox.js";
import { blobImage, refThumb } from "./photos.js";
import { editReport } from "./report.js";

function thumbs(item) {
  if (!item.photos.length) return null;
  return h("div", { class: "m-photos m-photos--small" }, item.photos.map((p) => h("figure", { class: "m-photo" },
    p.blob ? blobImage(p.blob) : h("img", { src: refThumb(p.ref), alt: "" }))));
}

function stateText(item, me) {
  if (item.user !== me) return t("mobile.outbox.otherUser", { user: item.user || "?" });
  if (item.state === "waiting" && !navigator.onLine) return t("mobile.outbox.waitingOffline");
  if (item.state === "waiting" && loginNeeded()) return t("mobile.outbox.needLogin");
  return t(`mobile.outbox.state.${item.state}`);
}

function row(item, me) {
  const buttons = [];
  if (item.state === "failed") {
    if (item.kind === "report") {
      buttons.push(h("button", { type: "button", class: "btn m-btn", onclick: async () => {
        await editReport(item);
        await remove(item.id);
        location.hash = "#report";
      } }, t("mobile.outbox.edit")));
    }
    buttons.push(h("button", { type: "button", class: "btn m-btn btn-primary", onclick: () => retry(item.id) }, t("mobile.outbox.resend")));
  }
  if (item.state !== "sending") {
    buttons.push(h("button", { type: "button", class: "btn m-btn m-btn-danger-ghost", onclick: async () => {
      if (await confirmSheet(t("mobile.outbox.discardAsk"), t("mobile.outbox.discard"), { danger: true })) {
        await remove(item.id);
        toast(t("mobile.outbox.discarded"));
      }
    } }, t("mobile.outbox.discard")));
  }
  const kind = item.kind === "report" ? t("mobile.outbox.report") : actionName(item.action);
  return h("li", { class: "m-out", dataset: { id: item.id, state: item.state, kind: item.kind } },
    h("div", { class: "m-out__top" }, h("b", {}, kind), h("span", { class: "m-chip", dataset: { state: item.state } }, stateText(item, me))),
    h("p", { class: "m-out__title" }, item.title),
    h("p", { class: "muted m-out__meta" }, t("mobile.outbox.made", { at: when(item.created) }),
      item.attempts ? ` · ${t("mobile.outbox.tries", { n: item.attempts })}` : ""),
    item.error && h("p", { class: item.state === "failed" ? "m-out__error" : "m-out__note" }, item.error),
    thumbs(item),
    buttons.length ? h("div", { class: "m-row m-row--end" }, buttons) : null);
}

function sentRow(e) {
  const what = e.kind === "report" ? t("mobile.outbox.report") : actionName(e.action);
  const answer = e.kind === "report"
    ? t(e.result?.merged ? "mobile.outbox.merged" : "mobile.outbox.created", { no: e.result?.case_no || "" })
    : e.kind === "plan_step" ? t("mobile.plan.stepSent", { n: e.result?.no ?? "" })
      : t("mobile.outbox.done", { state: t(`state.${e.result?.to_state}`) });
  return h("li", { class: "m-sent", dataset: { id: e.id } },
    h("span", { class: "m-sent__tick", "aria-hidden": "true" }),
    h("span", {}, h("b", {}, `${what} · ${e.title}`), h("small", { class: "muted" }, `${answer} · ${when(e.sentAt)}`)));
}

export async function renderOutbox() {
  const me = currentUser()?.username;
  const list = await items();
  const sent = sentLog().filter((e) => e.user === me).slice(0, 10);
  const root = $("#outbox-body");
  const waiting = list.filter((i) => i.state !== "failed").length;
  // offline, the banner above says it all
  const head = navigator.onLine && h("div", { class: "m-out-head" },
    h("p", {}, waiting ? t("mobile.outbox.sendingHint") : t("mobile.outbox.allSent")),
    waiting ? h("button", { type: "button", class: "btn m-btn", onclick: () => flush() }, t("mobile.outbox.sendNow")) : null);
  fill(root, head,
    list.length ? h("ul", { class: "m-outbox", id: "outbox-list" }, list.map((i) => row(i, me))) : empty(t("mobile.outbox.empty")),
    sent.length ? h("h3", { class: "m-subhead" }, t("mobile.outbox.recent")) : null,
    sent.length ? h("ul", { class: "m-sentlog" }, sent.map(sentRow)) : null);
  const badge = $("#m-badge");
  badge.textContent = list.length ? String(list.length) : "";
  badge.dataset.failed = String(list.some((i) => i.state === "failed"));
}
