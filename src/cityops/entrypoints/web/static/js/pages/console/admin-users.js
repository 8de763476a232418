// 用户管理: users with role / jurisdiction / department filters; edit role, scope, department,
// name, active flag or password; create and import (JSON); channel API keys (shown once).
import { api } from "../../api.js";
import { fmtNumber, t, tOr } from "../../i18n.js";
import { h } from "../../ui.js";
import { allDepartments, regionIndex, regionPath } from "./admin-lookup.js";
import { badge, canWrite, confirmAction, drafts, ensureCss, errorBox, errorText, field, loading, modal, searchBox, showFieldErrors, sortableTable, stateBox, viewHeader } from "./admin-common.js";

const ROLES = ["admin", "commander", "dispatcher", "acceptor", "shift_leader", "handler", "inspector", "auditor", "citizen"];
const CHANNELS = ["hotline", "inspector", "citizen", "manual", "video"];
const roleName = (r) => tOr(`console.role.${r}`, r);

export async function mount(el, ctx) {
  ensureCss();
  const writable = canWrite(ctx);
  const q0 = ctx.query || {};
  const state = { rows: [], filter: "", role: q0.role || "", scope: q0.scope || "", department: q0.department || "", active: "", selected: ctx.params?.[0] || null };
  let depts = [], index = new Map();
  const listBox = h("div", { class: "adm-card adm-scroll" }, loading());
  const editBox = h("div", { class: "adm-card users-edit" }, stateBox("empty", t("users.pick")));
  const count = h("span", { class: "muted" });
  const roleSel = h("select", { "aria-label": t("users.role") }, h("option", { value: "" }, t("users.allRoles")), ROLES.map((r) => h("option", { value: r, selected: state.role === r }, roleName(r))));
  const scopeSel = h("select", { "aria-label": t("users.scope") });
  const deptSel = h("select", { "aria-label": t("users.department") });
  const activeSel = h("select", { "aria-label": t("users.active") }, ["", "yes", "no"].map((v) => h("option", { value: v }, t(`users.activeFilter.${v || "all"}`))));
  for (const [sel, k] of [[roleSel, "role"], [scopeSel, "scope"], [deptSel, "department"], [activeSel, "active"]]) sel.addEventListener("change", () => { state[k] = sel.value; drawList(); });
  el.replaceChildren(h("section", { class: "adm users" },
    viewHeader("users.title", "users.subtitle",
      writable ? h("button", { type: "button", class: "btn", onclick: openKeys }, t("users.apiKey")) : null,
      writable ? h("button", { type: "button", class: "btn btn-primary", onclick: openImport }, t("users.create")) : null),
    h("div", { class: "adm-toolbar" }, h("div", { class: "adm-toolbar__group" }, searchBox("users.search", (v) => { state.filter = v; drawList(); }), roleSel, scopeSel, deptSel, activeSel), count),
    h("div", { class: "adm-split adm-split--right" }, listBox, editBox)));

  const deptName = (code) => depts.find((d) => d.code === code)?.name || code;
  const scopeName = (code) => (code ? regionPath(index, code) : t("users.wholeCity"));

  function drawFilters() {
    const scopes = [...index.values()].filter((r) => r.level === "district" || r.level === "street");
    scopeSel.replaceChildren(h("option", { value: "" }, t("users.allScopes")), h("option", { value: "city", selected: state.scope === "city" }, t("users.wholeCity")),
      scopes.map((r) => h("option", { value: r.code, selected: state.scope === r.code }, `${r.level === "street" ? "　" : ""}${r.name}`)));
    deptSel.replaceChildren(h("option", { value: "" }, t("users.allDepartments")), depts.map((d) => h("option", { value: d.code, selected: state.department === d.code }, d.name)));
  }

  function drawList() {
    const q = state.filter.toLowerCase();
    const rows = state.rows.filter((u) => (!q || `${u.username} ${u.display_name || ""}`.toLowerCase().includes(q))
      && (!state.role || u.role === state.role)
      && (!state.scope || (state.scope === "city" ? !u.scope || u.scope.length <= 6 && !index.get(u.scope)?.parent : (u.scope || "").startsWith(state.scope)))
      && (!state.department || u.department === state.department)
      && (!state.active || u.active === (state.active === "yes")));
    count.textContent = t("users.count", { n: fmtNumber(rows.length), total: fmtNumber(state.rows.length) });
    const { table } = sortableTable({
      columns: [
        { key: "username", label: t("users.username"), value: (u) => u.username, render: (u) => h("span", {}, h("b", {}, u.display_name || u.username), " ", h("code", {}, u.username)) },
        { key: "role", label: t("users.role"), value: (u) => roleName(u.role), render: (u) => badge(roleName(u.role), u.role === "admin" ? "bad" : "info") },
        { key: "scope", label: t("users.scope"), value: (u) => u.scope || "", render: (u) => scopeName(u.scope) },
        { key: "department", label: t("users.department"), value: (u) => u.department || "", render: (u) => (u.department ? deptName(u.department) : "—") },
        { key: "active", label: t("users.active"), value: (u) => (u.active ? 1 : 0), render: (u) => (u.active ? badge(t("users.on"), "good") : badge(t("users.off"))) },
      ],
      rows, rowKey: (u) => u.username, selected: state.selected, onRow: (u) => select(u.username), empty: t("users.none"),
    });
    listBox.replaceChildren(table);
  }

  function select(username) {
    state.selected = username;
    ctx.navigate?.(`#/admin-users/${encodeURIComponent(username)}`);
    drawList();
    drawEdit();
  }

  function drawEdit() {
    const u = state.rows.find((x) => x.username === state.selected);
    if (!u) {
      editBox.replaceChildren(stateBox("empty", t("users.pick")));
      return;
    }
    const ro = !writable;
    const d = drafts.get(`user.${u.username}`) || {};
    const v = (k, f) => (k in d ? d[k] : f);
    const display = h("input", { name: "display_name", value: v("display_name", u.display_name || ""), maxlength: "100", disabled: ro });
    const role = h("select", { name: "role", disabled: ro }, ROLES.map((r) => h("option", { value: r, selected: v("role", u.role) === r }, roleName(r))));
    const scope = h("input", { name: "scope", value: v("scope", u.scope || ""), list: "users-scope-list", placeholder: t("users.scopeHint"), inputmode: "numeric", disabled: ro });
    const scopeList = h("datalist", { id: "users-scope-list" }, [...index.values()].filter((r) => r.level !== "grid" && r.level !== "community").map((r) => h("option", { value: r.code }, regionPath(index, r.code))));
    const dept = h("select", { name: "department", disabled: ro }, h("option", { value: "" }, "—"), depts.map((x) => h("option", { value: x.code, selected: v("department", u.department || "") === x.code }, x.name)));
    const active = h("input", { type: "checkbox", name: "active", checked: v("active", u.active), disabled: ro });
    const password = h("input", { type: "password", name: "password", autocomplete: "new-password", placeholder: t("users.passwordHint"), disabled: ro });
    const out = h("div", { class: "adm-result" });
    const save = h("button", { type: "submit", class: "btn btn-primary" }, t("admin.save"));
    const form = h("form", { class: "adm-form", novalidate: true },
      h("header", { class: "tax-editor__head" }, h("div", {}, h("h2", {}, u.display_name || u.username), h("p", { class: "muted" }, u.username)), u.active ? badge(t("users.on"), "good") : badge(t("users.off"))),
      h("div", { class: "adm-row" }, field("users.displayName", display, "display_name"), field("users.role", role, "role")),
      h("div", { class: "adm-row" }, field("users.scope", scope, "scope"), field("users.department", dept, "department")), scopeList,
      h("small", { class: "muted" }, scope.value ? scopeName(scope.value) : t("users.wholeCity")),
      h("div", { class: "adm-row" }, field("users.newPassword", password, "password"),
        h("label", { class: "adm-check", dataset: { field: "active" } }, active, h("span", {}, t("users.activeLabel")), h("small", { class: "adm-field__error" }))),
      out, writable ? h("div", { class: "adm-row adm-row--end" }, save) : h("p", { class: "muted" }, t("admin.readOnly")));
    const now = () => ({ display_name: display.value.trim(), role: role.value, scope: scope.value.trim(), department: dept.value, active: active.checked });
    const before = { display_name: u.display_name || "", role: u.role, scope: u.scope || "", department: u.department || "", active: u.active };
    form.addEventListener("input", () => {
      const n = now();
      const diff = Object.fromEntries(Object.entries(n).filter(([k, x]) => x !== before[k]));
      if (Object.keys(diff).length) drafts.set(`user.${u.username}`, diff);
      else drafts.clear(`user.${u.username}`);
    });
    form.addEventListener("change", () => form.dispatchEvent(new Event("input")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const n = now();
      const patch = {};
      for (const k of Object.keys(n)) if (n[k] !== before[k]) patch[k] = (k === "scope" || k === "department") && !n[k] ? null : n[k];
      if (password.value) patch.password = password.value;
      if (!Object.keys(patch).length) {
        ctx.toast(t("tax.nothing"));
        return;
      }
      if ((patch.active === false || (patch.role && u.role === "admin")) && !(await confirmAction(t("users.confirmDemote", { name: u.username })))) return;
      save.disabled = true;
      out.replaceChildren();
      try {
        const r = await api.patch(`/api/v1/admin/users/${encodeURIComponent(u.username)}`, patch);
        Object.assign(u, r);
        drafts.clear(`user.${u.username}`);
        ctx.toast(t("users.saved", { name: u.username }));
        drawList();
        drawEdit();
      } catch (err) {
        const rest = showFieldErrors(form, err);
        out.replaceChildren(errorBox({ ...err, message: errorText(err), details: { problems: rest } }));
      } finally {
        save.disabled = false;
      }
    });
    editBox.replaceChildren(form);
  }

  function openImport() {
    const text = h("textarea", { rows: "12", class: "adm-code", placeholder: '[{"username": "inspector13", "display_name": "监督员 张伟", "role": "inspector", "scope": "319901001", "password": "至少8位密码"}]' }, drafts.get("users-import") || "");
    const out = h("div", { class: "adm-result" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("admin.import"));
    const form = h("form", { class: "adm-form" }, h("p", { class: "muted" }, t("users.importHelp")), field("users.importJson", text, "body"), out, h("div", { class: "adm-row adm-row--end" }, submit));
    text.addEventListener("input", () => drafts.set("users-import", text.value));
    modal("users.create", form, { wide: true });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let body;
      try {
        body = JSON.parse(text.value);
        if (!Array.isArray(body)) body = [body];
      } catch {
        out.replaceChildren(stateBox("error", t("admin.badJson")));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api.post("/api/v1/admin/users", body);
        drafts.clear("users-import");
        const msg = t("admin.importResult", { created: fmtNumber(r.created), updated: fmtNumber(r.updated) });
        out.replaceChildren(h("p", { class: "adm-ok" }, msg));
        ctx.toast(msg);
        await load();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    });
  }

  function openKeys() {
    const name = h("input", { name: "name", required: true, maxlength: "100", placeholder: t("users.keyNameHint") });
    const boxes = CHANNELS.map((c) => h("label", { class: "adm-check" }, h("input", { type: "checkbox", value: c }), h("span", {}, tOr(`channel.${c}`, c))));
    const out = h("div", { class: "adm-result" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("users.keyCreate"));
    const form = h("form", { class: "adm-form" }, h("p", { class: "muted" }, t("users.keyHelp")), field("users.keyName", name, "name"),
      h("fieldset", { dataset: { field: "channels" } }, h("legend", {}, t("users.keyChannels")), h("div", { class: "adm-row" }, boxes)), out, h("div", { class: "adm-row adm-row--end" }, submit));
    modal("users.apiKey", form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const channels = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      if (!name.value.trim() || !channels.length) {
        out.replaceChildren(stateBox("error", t("users.keyNeed")));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api.post("/api/v1/admin/api-keys", { name: name.value.trim(), channels });
        out.replaceChildren(h("div", { class: "adm-form" }, h("p", { class: "adm-ok" }, t("users.keyOnce")), h("div", { class: "users-key" }, r.key)));
        submit.hidden = true;
      } catch (err) {
        out.replaceChildren(errorBox(err));
        submit.disabled = false;
      }
    });
  }

  async function load() {
    try {
      state.rows = await api.get("/api/v1/admin/users");
      drawList();
      drawEdit();
    } catch (err) {
      listBox.replaceChildren(errorBox(err, load));
    }
  }
  [depts, index] = await Promise.all([allDepartments().catch(() => []), regionIndex().catch(() => new Map())]);
  drawFilters();
  await load();
}
