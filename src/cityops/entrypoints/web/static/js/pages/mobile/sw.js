// The service worker of the mobile app, served as /m/sw.js with scope /m (web/mobile.py puts
// VERSION and SHELL above this line). The app shell and the vendor files are cached at install,
// so the app opens with no network; the reads the app needs offline (my tasks, a task, the
// categories, the map) are network-first with the last answer as fallback; photos, whose ids
// never change, cache-first. Writes are never touched: the app's outbox (IndexedDB) owns them.
/* global VERSION, SHELL */
const SHELL_CACHE = `cityops-m-shell-${VERSION}`;
const API_CACHE = "cityops-m-api";
const MEDIA_CACHE = "cityops-m-media";
const API_READS = [
  /^\/api\/v1\/cases$/, /^\/api\/v1\/cases\/\d+$/, /^\/api\/v1\/cases\/transitions$/,
  /^\/api\/v1\/auth\/me$/, /^\/api\/v1\/categories$/, /^\/api\/v1\/ui\/config$/, /^\/api\/v1\/geo\/regions$/,
];
const MEDIA = /^\/api\/v1\/media\/[\w-]+(\/thumb)?$/;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    await (await caches.open(SHELL_CACHE)).addAll(SHELL);
    // public, and read before anything else: the city's name, bounds and time zone
    await (await caches.open(API_CACHE)).add("/api/v1/ui/config").catch(() => {});
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("cityops-m-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function offlineAnswer() {
  const body = { error: { code: "offline", message: "offline and not saved on this phone / 离线，手机上没有保存此内容", details: {} } };
  return new Response(JSON.stringify(body), { status: 503, headers: { "Content-Type": "application/json" } });
}

async function networkFirst(request, cacheName, fallback) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch {
    return (await cache.match(request, { ignoreVary: true })) || (await fallback());
  }
}

async function cacheFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  const hit = await cache.match(request, { ignoreVary: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === "navigate") {
    if (path === "/m" || path === "/m/") {
      event.respondWith(networkFirst(request, SHELL_CACHE, async () => (await caches.match("/m")) || Response.error()));
    }
    return;
  }
  if (SHELL.includes(path + url.search)) {
    event.respondWith(cacheFirst(request, SHELL_CACHE));
  } else if (MEDIA.test(path)) {
    event.respondWith(cacheFirst(request, MEDIA_CACHE));
  } else if (API_READS.some((re) => re.test(path))) {
    event.respondWith(networkFirst(request, API_CACHE, async () => offlineAnswer()));
  }
});
