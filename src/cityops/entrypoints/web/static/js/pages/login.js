// The login shared by every staff screen: /login?next=/screen. Stores the token (api.js) and
// goes back to where the user came from (same-origin paths only).
import { login, uiConfig } from "../api.js";
import { initI18n, t } from "../i18n.js";
import { $, langButton } from "../ui.js";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function main() {
  await initI18n();
  $("#lang-slot").replaceWith(langButton());
  uiConfig().then((c) => {
    $("#city-name").textContent = c.city?.name ?? "";
  }).catch(() => {});
  const form = $("#login-form");
  const error = $("#login-error");
  const submit = $("#login-submit");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = $("#username").value.trim();
    const password = $("#password").value;
    if (!username || !password) {
      error.textContent = `${t("login.username")} / ${t("login.password")}`;
      return;
    }
    submit.disabled = true;
    submit.textContent = t("login.busy");
    error.textContent = "";
    try {
      await login(username, password);
      location.replace(nextPath());
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
      submit.textContent = t("login.submit");
    }
  });
}

main();
