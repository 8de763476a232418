// 市民随手拍 (/citizen): the public portal. No login: report a problem (category → pin with
// "me too" → photos and words), then follow it by case number and rate it once it is closed.
// Views by hash: #report (default), #track, #track/<case no>[/<tracking code>].
import { uiConfig } from "../api.js";
import { initI18n, t } from "../i18n.js";
import { $, h, langButton } from "../ui.js";
import { initReport, showReport } from "./citizen/report.js";
import { initTrack, showTrack } from "./citizen/track.js";

let tz = "Asia/Shanghai";

function showError(err, retry) {
  const banner = $("#cz-error");
  const message = typeof err === "string" ? err : err?.message || String(err);
  banner.replaceChildren(h("span", {}, message),
    retry ? h("button", { type: "button", class: "btn", onclick: () => { banner.hidden = true; retry(); } }, t("common.retry")) : null,
    h("button", { type: "button", class: "cz-banner__close", "aria-label": t("common.cancel"), onclick: () => { banner.hidden = true; } }, "×"));
  banner.hidden = false;
}

function route() {
  const [view, no, code] = location.hash.replace(/^#/, "").split("/");
  const tracking = view === "track";
  $("#view-report").hidden = tracking;
  $("#view-track").hidden = !tracking;
  $("#tab-report").classList.toggle("is-active", !tracking);
  $("#tab-track").classList.toggle("is-active", tracking);
  $("#tab-report").setAttribute("aria-selected", String(!tracking));
  $("#tab-track").setAttribute("aria-selected", String(tracking));
  $("#cz-error").hidden = true;
  if (tracking) showTrack(no, code);
  else showReport();
}

await initI18n(["citizen"]);
$("#lang-slot").replaceWith(langButton("btn btn-ghost cz-lang"));
const context = { showError, tz: () => tz };
initTrack(context);
try {
  const config = await uiConfig();
  tz = config.timezone || tz;
  $("#cz-city").textContent = config.city?.name || "";
} catch (err) {
  showError(err);
}
await initReport(context);
addEventListener("hashchange", route);
route();
document.body.dataset.ready = "1";
