// The phone's own storage (IndexedDB): the outbox of submissions with their photos as Blobs,
// and the photos of the form being filled in. Survives reloads, restarts and lost signal.
const DB_NAME = "cityops-mobile";
const VERSION = 1;
let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
      if (!db.objectStoreNames.contains("drafts")) db.createObjectStore("drafts", { keyPath: "key" });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => {
      opening = null;
      reject(req.error);
    };
  });
  return opening;
}

async function run(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = fn(tx.objectStore(store));
    tx.oncomplete = () => resolve(req?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const idb = {
  all: (store) => run(store, "readonly", (s) => s.getAll()),
  get: (store, key) => run(store, "readonly", (s) => s.get(key)),
  put: (store, value) => run(store, "readwrite", (s) => s.put(value)),
  delete: (store, key) => run(store, "readwrite", (s) => s.delete(key)),
};
