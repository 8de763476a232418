// 分类模型: the report classifier's versions with their held-out metrics, which one is active
// and which one the server has loaded; train a new version from the case log; activate one.
import { api } from "../../api.js";
import { fmtNumber, fmtPercent, fmtTime, t } from "../../i18n.js";
import { h } from "../../ui.js";
import { badge, canWrite, confirmAction, ensureCss, errorBox, errorText, field, loading, sortableTable, stateBox, viewHeader } from "./admin-common.js";

function metric(m, ...names) {
  for (const n of names) if (m && typeof m[n] === "number") return m[n];
  return null;
}

export async function mount(el, ctx) {
  ensureCss();
  const writable = canWrite(ctx);
  const listBox = h("div", { class: "adm-card adm-scroll" }, loading());
  const status = h("div", { class: "adm-chips" });
  const minPer = h("input", { type: "number", min: "2", max: "1000", value: "3", name: "min_per_class" });
  const activate = h("input", { type: "checkbox", checked: true, name: "activate" });
  const trainBtn = h("button", { type: "submit", class: "btn btn-primary" }, t("models.train"));
  const progress = h("div", { class: "adm-result", "aria-live": "polite" });
  const trainForm = writable ? h("form", { class: "adm-card adm-form" },
    h("h2", { class: "adm-h2" }, t("models.trainTitle")), h("p", { class: "muted" }, t("models.trainHelp")),
    h("div", { class: "models-train" }, field("models.minPerClass", minPer, "min_per_class"),
      h("label", { class: "adm-check" }, activate, h("span", {}, t("models.activateAfter"))), trainBtn), progress) : null;
  el.replaceChildren(h("section", { class: "adm models" }, viewHeader("models.title", "models.subtitle"), status, trainForm, listBox));

  let data = null;
  function draw() {
    status.replaceChildren(
      badge(t("models.active", { v: data.active || "—" }), data.active ? "good" : ""),
      badge(t("models.loaded", { v: data.loaded || "—" }), data.loaded && data.loaded === data.active ? "good" : "warn"));
    if (!data.versions.length) {
      listBox.replaceChildren(stateBox("empty", t("models.none")));
      return;
    }
    const { table } = sortableTable({
      columns: [
        { key: "version", label: t("models.version"), value: (v) => v.version, render: (v) => h("span", {}, h("b", {}, v.version), " ", v.version === data.active ? badge(t("models.isActive"), "good") : null, v.version === data.loaded ? badge(t("models.isLoaded"), "info") : null) },
        { key: "trained_at", label: t("models.trainedAt"), value: (v) => v.trained_at, render: (v) => (v.trained_at ? fmtTime(v.trained_at, undefined, { dateStyle: "medium", timeStyle: "short" }) : "—") },
        { key: "n", label: t("models.samples"), num: true, value: (v) => v.n_samples, render: (v) => fmtNumber(v.n_samples) },
        { key: "labels", label: t("models.labels"), num: true, value: (v) => v.labels, render: (v) => fmtNumber(v.labels) },
        { key: "acc", label: t("models.accuracy"), num: true, value: (v) => metric(v.metrics, "accuracy", "top1"), render: (v) => fmtPercent(metric(v.metrics, "accuracy", "top1")) },
        { key: "top3", label: t("models.top3"), num: true, value: (v) => metric(v.metrics, "top3", "top3_accuracy"), render: (v) => fmtPercent(metric(v.metrics, "top3", "top3_accuracy")) },
        { key: "f1", label: t("models.f1"), num: true, value: (v) => metric(v.metrics, "macro_f1", "f1_macro"), render: (v) => fmtPercent(metric(v.metrics, "macro_f1", "f1_macro")) },
        { key: "metrics", label: t("models.metrics"), sortable: false, value: () => null, render: (v) => h("span", { class: "models-metrics" }, Object.entries(v.metrics || {}).filter(([, x]) => typeof x === "number").map(([k, x]) => `${k} ${x <= 1 ? x.toFixed(3) : x}`).join(" · ")) },
        { key: "act", label: "", sortable: false, value: () => null, render: (v) => (writable && v.version !== data.active ? h("button", { type: "button", class: "btn btn-sm", onclick: () => doActivate(v.version) }, t("models.activate")) : null) },
      ],
      rows: data.versions, empty: t("models.none"),
    });
    listBox.replaceChildren(table);
  }

  async function load() {
    try {
      data = await api.get("/api/v1/admin/models");
      draw();
    } catch (err) {
      listBox.replaceChildren(errorBox(err, load));
    }
  }

  async function doActivate(version) {
    if (!(await confirmAction(t("models.confirmActivate", { v: version }), "models.activate"))) return;
    try {
      await api.post(`/api/v1/admin/models/${encodeURIComponent(version)}/activate`, {});
      ctx.toast(t("models.activated", { v: version }));
      await load();
    } catch (err) {
      ctx.toast(errorText(err), "error");
    }
  }

  trainForm?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const n = Number(minPer.value);
    if (!Number.isInteger(n) || n < 2 || n > 1000) {
      progress.replaceChildren(stateBox("error", t("models.badMin")));
      return;
    }
    trainBtn.disabled = true;
    const started = Date.now();
    const tick = h("span", {}, t("models.training", { s: 0 }));
    progress.replaceChildren(h("div", { class: "models-progress" }, tick));
    const timer = setInterval(() => { tick.textContent = t("models.training", { s: Math.round((Date.now() - started) / 1000) }); }, 1000);
    try {
      const r = await api.post("/api/v1/admin/models/train", { min_per_class: n, activate: activate.checked }, { timeout: 600000 });
      const acc = metric(r.metrics, "accuracy", "top1");
      progress.replaceChildren(h("p", { class: "adm-ok" }, t("models.trained", { v: r.version, n: fmtNumber(r.n_cases), acc: fmtPercent(acc) })));
      ctx.toast(t("models.trained", { v: r.version, n: fmtNumber(r.n_cases), acc: fmtPercent(acc) }));
      await load();
    } catch (err) {
      progress.replaceChildren(errorBox(err));
    } finally {
      clearInterval(timer);
      trainBtn.disabled = false;
    }
  });
  await load();
}
