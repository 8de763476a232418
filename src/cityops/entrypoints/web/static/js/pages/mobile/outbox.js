// The outbox (待发送): every report and every action goes into IndexedDB first, with a
// client-made idempotency key, and is sent from there — when online, on app start, on the
// `online` event and by a retry timer with backoff. Photos are uploaded first and their
// media:// refs written back into the item, so a retry never uploads or submits twice; the
// API answers a repeated key with the first result. A 4xx (the API refused the content) marks
// the item failed with the API's reason, to edit or resend; no network, a time-out or a 5xx
// leaves it waiting. Items belong to the user who made them and are sent with their token only.
import { ApiError, currentUser, newIdempotencyKey, request } from "../../api.js";
import { idb } from "./db.js";

const STORE = "outbox";
const SENT_KEY = "cityops.m.sent";
const SENT_MAX = 30;
const BACKOFF_MS = [5000, 15000, 30000, 60000, 120000, 300000];
const RETRYABLE = new Set([0, 408, 425, 429]);

const listeners = new Set();
let flushing = false;
let needsLogin = false;
let timer = null;

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(sent = null) {
  listeners.forEach((fn) => fn(sent));
}

export async function items() {
  const all = (await idb.all(STORE)) || [];
  return all.sort((a, b) => a.created - b.created);
}

export async function pendingFor(caseId) {
  return (await items()).filter((i) => i.kind === "action" && i.caseId === caseId && i.state !== "sent");
}

/** Emergency plan steps marked done on this phone and not yet sent, by step number. */
export async function pendingSteps(caseId) {
  // A failed step is not on its way: it counts as open (处置完成 asks for the reason).
  const queued = (await items()).filter((i) => i.kind === "plan_step" && i.caseId === caseId && !["sent", "failed"].includes(i.state));
  return new Map(queued.map((i) => [i.step, i]));
}

export function sentLog() {
  try {
    return JSON.parse(localStorage.getItem(SENT_KEY) || "[]");
  } catch {
    return [];
  }
}

function logSent(item) {
  const entry = { id: item.id, kind: item.kind, title: item.title, action: item.action,
    caseId: item.caseId, result: item.result, user: item.user, sentAt: Date.now() };
  const log = [entry, ...sentLog().filter((e) => e.id !== item.id)].slice(0, SENT_MAX);
  localStorage.setItem(SENT_KEY, JSON.stringify(log));
}

export function loginNeeded() {
  return needsLogin;
}

/**
 * Queue a submission. kind "report": body is the inspector report without report_id/photos;
 * kind "action": caseId, action and body (note …) without media; kind "plan_step": caseId,
 * step (an emergency plan step marked done) and body (note). photos: Blobs.
 */
export async function enqueue({ kind, title, caseId, action, step = null, body, photos = [], id = newIdempotencyKey() }) {
  const item = {
    id, kind, title, caseId, action, step, body,
    user: currentUser()?.username || null,
    created: Date.now(),
    state: "waiting",
    error: null,
    attempts: 0,
    nextAt: 0,
    photos: photos.map((blob) => ({ blob, ref: null })),
    result: null,
  };
  await idb.put(STORE, item);
  changed();
  flush();
  return item;
}

export async function remove(id) {
  await idb.delete(STORE, id);
  changed();
}

/** Send a failed item again as it is (after the cause was fixed elsewhere). */
export async function retry(id) {
  const item = await idb.get(STORE, id);
  if (!item) return;
  Object.assign(item, { state: "waiting", error: null, nextAt: 0 });
  await idb.put(STORE, item);
  changed();
  flush();
}

/** Items left "sending" by a closed app go back to waiting (the keys make resending safe). */
export async function recover() {
  for (const item of await items()) {
    if (item.state === "sending") {
      item.state = "waiting";
      await idb.put(STORE, item);
    }
  }
  changed();
}

async function save(item) {
  await idb.put(STORE, item);
  changed();
}

async function upload(photo, index) {
  const form = new FormData();
  form.append("file", photo.blob, `photo-${index + 1}.jpg`);
  const [media] = await request("POST", "/api/v1/media", { body: form, timeout: 60000 });
  return media.ref;
}

async function sendOne(item) {
  for (const [i, photo] of item.photos.entries()) {
    if (photo.ref) continue;
    photo.ref = await upload(photo, i);
    photo.blob = null; // uploaded: the server holds it now, the phone needs only the ref
    await save(item);
  }
  const refs = item.photos.map((p) => p.ref);
  if (item.kind === "report") {
    const body = { ...item.body, report_id: item.id, photos: refs };
    return request("POST", "/api/v1/intake/inspector", { body });
  }
  if (item.kind === "plan_step") return sendStep(item);
  const body = { ...item.body, media: refs };
  return request("POST", `/api/v1/cases/${item.caseId}/actions/${item.action}`, {
    body,
    headers: { "Idempotency-Key": item.id },
  });
}

/** The step endpoint takes no idempotency key: a step already done (a resend whose first answer
 * was lost, or a colleague was quicker) is what was asked for, not a failure. */
async function sendStep(item) {
  try {
    return await request("POST", `/api/v1/lifeline/cases/${item.caseId}/plan-steps/${item.step}/done`, { body: item.body });
  } catch (err) {
    if (err instanceof ApiError && err.status === 409 && err.details?.done_at) return { no: item.step, done_at: err.details.done_at };
    throw err;
  }
}

function due(item, user, now) {
  return item.state === "waiting" && item.user === user && item.nextAt <= now;
}

async function flushNow() {
  const user = currentUser()?.username;
  if (!user || !navigator.onLine) return;
  // One case's items go in the order they were made (a plan step before 处置完成): while an
  // earlier one is unsent — waiting, backing off or failed — the later ones wait behind it.
  const behind = new Set();
  for (const item of await items()) {
    if (!navigator.onLine) break;
    if (item.caseId != null && behind.has(item.caseId)) continue;
    if (!due(item, user, Date.now())) {
      if (item.caseId != null && item.user === user && item.state !== "sent") behind.add(item.caseId);
      continue;
    }
    item.state = "sending";
    item.attempts += 1;
    await save(item);
    try {
      item.result = await sendOne(item);
      item.state = "sent";
      item.error = null;
      logSent(item);
      await idb.delete(STORE, item.id);
      needsLogin = false;
      changed(item);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      item.error = err.message;
      if (err.status === 401) {
        item.state = "waiting"; // keep it; it goes once the user signs in again
        needsLogin = true;
        await save(item);
        break;
      }
      if (item.caseId != null) behind.add(item.caseId);
      if (RETRYABLE.has(err.status) || err.status >= 500) {
        item.state = "waiting";
        item.nextAt = Date.now() + BACKOFF_MS[Math.min(item.attempts - 1, BACKOFF_MS.length - 1)];
        await save(item);
        if (err.status === 0) break; // no network: the rest would fail the same way
      } else {
        item.state = "failed";
        await save(item);
      }
    }
  }
}

/** Send what is due. One sender per phone, even with the app open in two tabs. */
export async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    if (navigator.locks) {
      await navigator.locks.request("cityops-m-outbox", { ifAvailable: true }, (lock) => (lock ? flushNow() : null));
    } else {
      await flushNow();
    }
  } finally {
    flushing = false;
    changed();
  }
}

/** Start sending: now, whenever the phone is back online, and every few seconds for retries. */
export function start() {
  recover().then(flush);
  addEventListener("online", () => {
    resetBackoff().then(flush);
  });
  addEventListener("offline", () => changed());
  clearInterval(timer);
  timer = setInterval(flush, 5000);
}

/** Back online: the backoff was about the network, so try everything waiting at once. */
async function resetBackoff() {
  for (const item of await items()) {
    if (item.state === "waiting" && item.nextAt) {
      item.nextAt = 0;
      await idb.put(STORE, item);
    }
  }
}
