// Names for codes, fetched once per page: categories, departments, regions (all levels).
import { api, uiConfig } from "../../api.js";
import { regions } from "../../map.js";

// One department list for the whole console (work views and management alike).
export { departments as allDepartments, forgetDepartments } from "./work-common.js";

let categories = null;
let regionNames = null;

/** Every category (the admin list when allowed, else the public active ones). */
export function allCategories() {
  categories ??= api.get("/api/v1/admin/categories").catch(() => api.get("/api/v1/categories")).catch((err) => {
    categories = null;
    throw err;
  });
  return categories;
}

export function forgetCategories() {
  categories = null;
}

/** code → {name, level, parent} for city, districts, streets, communities and grid cells. */
export function regionIndex() {
  regionNames ??= Promise.all([uiConfig(),
    ...["district", "street", "community", "grid"].map((l) => regions(l))]).then(([config, ...levels]) => {
    const index = new Map();
    if (config.city) index.set(config.city.code, { code: config.city.code, name: config.city.name, level: "city", parent: null });
    for (const fc of levels) for (const f of fc.features) index.set(f.properties.code, { ...f.properties, feature: f });
    return index;
  }).catch((err) => {
    regionNames = null;
    throw err;
  });
  return regionNames;
}

/** "滨江区 › 外滩湾街道" for a code, from the index. */
export function regionPath(index, code) {
  const parts = [];
  let r = index.get(code);
  while (r && r.level !== "city") {
    parts.unshift(r.name);
    r = index.get(r.parent);
  }
  if (!parts.length && index.get(code)) return index.get(code).name;
  return parts.join(" › ") || code;
}
