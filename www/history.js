// This browser's recent runs, kept in IndexedDB (database "verbatim", store "runs"): each entry is
// {id, at, kind: 'generated' | 'stopped' | 'replayed', input, model, verdict, url, run}. Nothing
// here leaves the browser. If IndexedDB is unavailable (a private window may refuse it) the list is
// simply empty.

const DB_NAME = 'verbatim';
const STORE = 'runs';
const KEEP = 50; // the most entries kept; older ones are dropped

let opening = null;

function open() {
  opening ??= new Promise((resolve) => {
    try {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(null);
      request.onblocked = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
  return opening;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** All entries, newest first. */
export async function listRuns() {
  const db = await open();
  if (db === null) return [];
  try {
    const all = await done(db.transaction(STORE).objectStore(STORE).getAll());
    return all.sort((a, b) => b.id - a.id);
  } catch {
    return [];
  }
}

/** Adds an entry (the newest); drops the oldest beyond KEEP. Resolves to its id, or null. */
export async function addRun(entry) {
  const db = await open();
  if (db === null) return null;
  try {
    const store = db.transaction(STORE, 'readwrite').objectStore(STORE);
    const id = await done(store.add({ ...entry, at: new Date().toISOString() }));
    const keys = await done(db.transaction(STORE).objectStore(STORE).getAllKeys());
    if (keys.length > KEEP) {
      const old = db.transaction(STORE, 'readwrite').objectStore(STORE);
      for (const key of keys.slice(0, keys.length - KEEP)) old.delete(key);
    }
    return id;
  } catch {
    return null;
  }
}

/** Deletes one entry. */
export async function deleteRun(id) {
  const db = await open();
  if (db === null) return;
  try {
    await done(db.transaction(STORE, 'readwrite').objectStore(STORE).delete(id));
  } catch {
    // already gone
  }
}
