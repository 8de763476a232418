// The live stream (Server-Sent Events) read with fetch, so it carries the bearer header like
// every other request and no token ends up in a URL. Reconnects by itself with backoff and
// resumes from the last id; when the server says "reset" (or a gap cannot be ruled out) the
// page is told to refetch its figures.
import { authHeaders, handleUnauthorized } from "./api.js";

const MAX_BACKOFF_MS = 30000;

/**
 * connect("/api/v1/live/stream", {onMessage(msg), onReset(reason), onStatus(state)})
 * state: "connecting" | "live" | "offline". Returns {close()}.
 */
export function connect(path, { onMessage, onReset = () => {}, onStatus = () => {}, heartbeatSeconds = 15 } = {}) {
  let closed = false;
  let lastId = null;
  let controller = null;
  let failures = 0;
  let retryMs = 3000;
  let connectedOnce = false;

  async function run() {
    while (!closed) {
      onStatus("connecting");
      controller = new AbortController();
      let watchdog = null;
      const feed = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort("silent"), heartbeatSeconds * 2500);
      };
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastId) headers["Last-Event-ID"] = lastId;
        const res = await fetch(path, { headers, cache: "no-store", signal: controller.signal });
        if (res.status === 401) {
          if (!(await handleUnauthorized())) return;
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`live stream: HTTP ${res.status}`);
        // A reconnect without a resumable id may have missed something: refetch.
        if (connectedOnce && !lastId) onReset("reconnected");
        connectedOnce = true;
        failures = 0;
        onStatus("live");
        feed();
        const began = performance.now();
        await read(res.body, feed);
        if (performance.now() - began < 1000) failures += 1; // closed at once: do not spin
      } catch (err) {
        if (closed) return;
        failures += 1;
        if (!(err && err.name === "AbortError")) console.warn(String(err));
      } finally {
        clearTimeout(watchdog);
      }
      if (closed) return;
      if (failures) {
        onStatus("offline");
        const wait = Math.min(MAX_BACKOFF_MS, retryMs * 2 ** Math.min(failures - 1, 4));
        await new Promise((r) => setTimeout(r, wait * (0.75 + Math.random() / 2)));
      }
    }
  }

  async function read(body, feed) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed();
      buffer += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (dispatch(block) === "end") {
          await reader.cancel();
          return;
        }
      }
    }
  }

  function dispatch(block) {
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue; // a heartbeat comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
      else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (!data.length) return null;
    const payload = JSON.parse(data.join("\n"));
    if (event === "reset") {
      lastId = null;
      onReset(payload.reason);
      return payload.reason === "slow" ? "end" : null;
    }
    if (event === "bye") return "end"; // the stream's lifetime is over: reconnect at once
    if (event !== "message") return null;
    if (id) lastId = id;
    onMessage(payload);
    return null;
  }

  run();
  return {
    close() {
      closed = true;
      controller?.abort("closed");
    },
  };
}
