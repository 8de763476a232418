// 部门管理: departments with their level and region, one department's active members, import.
import { api } from "../../api.js";
import { fmtNumber, t, tOr } from "../../i18n.js";
import { h } from "../../ui.js";
import { forgetDepartments, regionIndex, regionPath } from "./admin-lookup.js";
import { badge, canWrite, drafts, ensureCss, errorBox, field, loading, modal, searchBox, sortableTable, stateBox, viewHeader } from "./admin-common.js";

export async function mount(el, ctx) {
  ensureCss();
  const writable = canWrite(ctx);
  const state = { rows: [], filter: "", selected: ctx.params?.[0] ? Number(ctx.params[0]) : null };
  const listBox = h("div", { class: "adm-card adm-scroll" }, loading());
  const detail = h("div", { class: "adm-card dept-detail" }, stateBox("empty", t("dept.pick")));
  const count = h("span", { class: "muted" });
  el.replaceChildren(h("section", { class: "adm dept" },
    viewHeader("dept.title", "dept.subtitle", writable ? h("button", { type: "button", class: "btn btn-primary", onclick: openImport }, t("dept.import")) : null),
    h("div", { class: "adm-split adm-split--wide" },
      h("div", { class: "adm-split__side" }, h("div", { class: "adm-toolbar" }, searchBox("dept.search", (v) => { state.filter = v; drawList(); }), count), listBox),
      detail)));
  let index = new Map();

  function drawList() {
    const q = state.filter.toLowerCase();
    const rows = state.rows.filter((d) => !q || `${d.code} ${d.name}`.toLowerCase().includes(q));
    count.textContent = t("dept.count", { n: rows.length });
    const { table } = sortableTable({
      columns: [
        { key: "name", label: t("dept.name"), value: (d) => d.name, render: (d) => h("span", {}, h("b", {}, d.name), " ", h("code", {}, d.code)) },
        { key: "level", label: t("dept.level"), value: (d) => d.level, render: (d) => badge(t(`dept.levels.${d.level}`), d.level === "city" ? "info" : "") },
        { key: "region", label: t("dept.region"), value: (d) => d.region_code, render: (d) => (d.region_code ? regionPath(index, d.region_code) : "—") },
      ],
      rows, rowKey: (d) => String(d.id), selected: state.selected ? String(state.selected) : null, onRow: (d) => select(d.id), empty: t("dept.none"),
    });
    listBox.replaceChildren(table);
  }

  async function select(id) {
    state.selected = id;
    ctx.navigate?.(`#/admin-departments/${id}`);
    drawList();
    detail.replaceChildren(loading());
    try {
      const d = await api.get(`/api/v1/departments/${id}`);
      detail.replaceChildren(
        h("header", { class: "tax-editor__head" }, h("div", {}, h("h2", {}, d.name), h("p", { class: "muted" }, d.code)), badge(t(`dept.levels.${d.level}`), "info")),
        h("dl", {},
          h("dt", {}, t("dept.region")), h("dd", {}, d.region_code ? `${regionPath(index, d.region_code)} (${d.region_code})` : "—"),
          h("dt", {}, t("dept.kinds")), h("dd", {}, (d.kinds || []).length ? d.kinds.join("、") : "—")),
        h("h3", { class: "adm-h2" }, t("dept.members", { n: fmtNumber(d.members.length) })),
        d.members.length ? h("ul", { class: "dept-members" }, d.members.map((m) => h("li", {},
          h("span", {}, h("b", {}, m.display_name || m.username), " ", h("code", {}, m.username)),
          badge(tOr(`console.role.${m.role}`, m.role)))))
          : stateBox("empty", t("dept.noMembers")),
        h("a", { class: "btn", href: `#/admin-users?department=${encodeURIComponent(d.code)}` }, t("dept.manageUsers")));
    } catch (err) {
      detail.replaceChildren(errorBox(err, () => select(id)));
    }
  }

  function openImport() {
    const text = h("textarea", { rows: "14", class: "adm-code", placeholder: '[{"code": "bj-roads", "name": "滨江区道路管理所", "level": "district", "region_code": "319901", "kinds": ["road"]}]' }, drafts.get("dept-import") || "");
    const out = h("div", { class: "adm-result" });
    const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("admin.import"));
    const form = h("form", { class: "adm-form" }, h("p", { class: "muted" }, t("dept.importHelp")), field("dept.importJson", text, "body"), out, h("div", { class: "adm-row adm-row--end" }, submit));
    text.addEventListener("input", () => drafts.set("dept-import", text.value));
    modal("dept.import", form, { wide: true });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      let body;
      try {
        body = JSON.parse(text.value);
        if (!Array.isArray(body)) throw new Error();
      } catch {
        out.replaceChildren(stateBox("error", t("admin.badJson")));
        return;
      }
      submit.disabled = true;
      try {
        const r = await api.post("/api/v1/admin/departments", body);
        drafts.clear("dept-import");
        const msg = t("admin.importResult", { created: fmtNumber(r.created), updated: fmtNumber(r.updated) });
        out.replaceChildren(h("p", { class: "adm-ok" }, msg));
        ctx.toast(msg);
        forgetDepartments();
        await load();
      } catch (err) {
        out.replaceChildren(errorBox(err));
      } finally {
        submit.disabled = false;
      }
    });
  }

  async function load() {
    try {
      state.rows = await api.get("/api/v1/departments");
      drawList();
    } catch (err) {
      listBox.replaceChildren(errorBox(err, load));
    }
  }
  index = await regionIndex().catch(() => new Map());
  await load();
  if (state.selected) select(state.selected);
}
