// The one way pages talk to the API: bearer token from the login, the API's one error body
// ({"error": {code, message, details}}) turned into ApiError, and re-login on 401 that keeps
// the page (and what was typed in it) where it is.
import { localized, t } from "./i18n.js";
import { saveFile } from "./ui.js";

const TOKEN_KEY = "cityops.token";
const USER_KEY = "cityops.user";
const TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function currentUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(answer) {
  localStorage.setItem(TOKEN_KEY, answer.access_token);
  localStorage.setItem(USER_KEY, JSON.stringify({ username: answer.username, role: answer.role }));
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

export function loginUrl(next = location.pathname + location.search + location.hash) {
  return `/login?next=${encodeURIComponent(next)}`;
}

/** Staff pages call this first: without a token there is nothing to show but the login. */
export function requireLogin() {
  if (token()) return true;
  location.replace(loginUrl());
  return false;
}

export function logout() {
  clearSession();
  location.assign(loginUrl());
}

// On 401 the handler gets a new token (the default opens the re-login dialog) and resolves
// true to retry the request; pages may install their own with setUnauthorizedHandler.
let pendingLogin = null;
let unauthorized = async () => {
  const { relogin } = await import("./relogin.js");
  return relogin();
};

export function setUnauthorizedHandler(handler) {
  unauthorized = handler;
}

/** Resolves true once signed in again; concurrent 401s share one dialog. */
export function handleUnauthorized() {
  pendingLogin ??= unauthorized().finally(() => {
    pendingLogin = null;
  });
  return pendingLogin;
}

export function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, item);
  }
  return u.pathname + u.search;
}

export function authHeaders(extra = {}) {
  const tok = token();
  return tok ? { ...extra, Authorization: `Bearer ${tok}` } : { ...extra };
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: a proxy's page, say */
  }
  const e = body && body.error;
  if (e) return new ApiError(res.status, e.code, localized(e.message), e.details || {});
  return new ApiError(res.status, "http_error", t("error.server", { status: res.status }));
}

/**
 * request("GET", "/api/v1/cases", {query: {state: "opened"}}) → parsed JSON (text if the answer
 * is not JSON, null for 204). body: an object (sent as JSON), FormData (uploads), or with
 * contentType the raw text (a CSV or GeoJSON file) as it is; as: "blob" reads the answer as a
 * Blob (a file to save); timeout: milliseconds, null for none (a large import or export).
 * auth: false for the login itself.
 */
export async function request(method, path, opts = {}) {
  const { query, body, contentType, as, auth = true, timeout = TIMEOUT_MS, signal } = opts;
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  let payload = body;
  if (contentType) headers["Content-Type"] = contentType;
  else if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const abort = new AbortController();
  const timer = timeout === null ? null : setTimeout(() => abort.abort("timeout"), timeout);
  signal?.addEventListener("abort", () => abort.abort(signal.reason));
  let res;
  try {
    res = await fetch(url(path, query), {
      method,
      headers: auth ? authHeaders(headers) : headers,
      body: payload,
      signal: abort.signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    const timedOut = abort.signal.reason === "timeout";
    throw new ApiError(0, timedOut ? "timeout" : "network", t(timedOut ? "error.timeout" : "error.network"));
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 401 && auth && !opts.retried) {
    if (await handleUnauthorized()) return request(method, path, { ...opts, retried: true });
  }
  if (!res.ok) throw await errorOf(res);
  if (as === "blob") return res.blob();
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  return type.includes("json") ? res.json() : res.text();
}

/** Fetch a file the API makes (a CSV export) and save it as `filename`; the token goes in a
 * header, never in a URL. Resolves to its size in bytes. */
export async function download(path, query, filename, accept = "text/csv") {
  const blob = await request("GET", path, { query, as: "blob", timeout: null, headers: { Accept: accept } });
  saveFile(blob, filename);
  return blob.size;
}

export const api = {
  get: (path, query, opts = {}) => request("GET", path, { ...opts, query }),
  post: (path, body, opts = {}) => request("POST", path, { ...opts, body }),
  put: (path, body, opts = {}) => request("PUT", path, { ...opts, body }),
  patch: (path, body, opts = {}) => request("PATCH", path, { ...opts, body }),
  delete: (path, opts = {}) => request("DELETE", path, opts),
};

export async function login(username, password) {
  const answer = await request("POST", "/api/v1/auth/token", {
    body: { username, password },
    auth: false,
  });
  saveSession(answer);
  return answer;
}

/** A fresh Idempotency-Key: one per form or queued item, kept until the API has answered, so a
 * double click or a retry acts once (crypto.randomUUID needs a secure context; an intranet or
 * a phone on the LAN may be plain http). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let configPromise = null;
/** /api/v1/ui/config, fetched once per page: city, map tiles, time zone. */
export function uiConfig() {
  configPromise ??= request("GET", "/api/v1/ui/config", { auth: false }).catch((err) => {
    configPromise = null; // ask again next time rather than remember a failure
    throw err;
  });
  return configPromise;
}
