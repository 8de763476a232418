// The re-login dialog api.js opens on a 401: sign in again without leaving the page, so a
// half-filled form survives an expired token. Resolves true when signed in, false if cancelled.
import { currentUser, login, logout } from "./api.js";
import { t } from "./i18n.js";
import { h } from "./ui.js";

export function relogin() {
  return new Promise((resolve) => {
    const user = h("input", { name: "username", autocomplete: "username", required: true,
      value: currentUser()?.username || "" });
    const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("login.submit"));
    const cancel = h("button", { type: "button", class: "btn" }, t("common.cancel"));
    const form = h("form", { class: "relogin", method: "dialog" },
      h("h2", {}, t("login.expired")),
      h("p", { class: "muted" }, t("login.relogin")),
      h("label", {}, t("login.username"), user),
      h("label", {}, t("login.password"), pass),
      error,
      h("div", { class: "actions" }, cancel, submit));
    const dialog = h("dialog", { class: "dialog" }, form);
    document.body.append(dialog);
    const done = (ok) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    cancel.addEventListener("click", () => {
      done(false);
      logout();
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        await login(user.value.trim(), pass.value);
        done(true);
      } catch (err) {
        error.textContent = err.message;
        submit.disabled = false;
      }
    });
    dialog.showModal();
    (user.value ? pass : user).focus();
  });
}
