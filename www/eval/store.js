// Evaluation state kept in IndexedDB: progress, so that a run resumes after a reload (store
// 'runs': one record per (model SHA-256, task items SHA-256, subset), holding the items scored so
// far in order), and every finished result for the comparison chart (store 'results': the same
// key, the result's summary without its items).

const DB_NAME = 'verbatim-eval';
const STORE = 'runs';
const RESULTS = 'results';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 2);
    req.onupgradeneeded = () => {
      for (const name of [STORE, RESULTS]) {
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn, store = STORE) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(store, mode);
      const req = fn(t.objectStore(store));
      t.oncomplete = () => resolve(req?.result);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export const runKey = (modelSha, taskSha, limit) => `${modelSha}:${taskSha}:${limit ?? 'all'}`;

/** The items saved for a run, or []. */
export async function loadItems(key) {
  try {
    return (await tx('readonly', (s) => s.get(key))) ?? [];
  } catch {
    return [];
  }
}

export async function saveItems(key, items) {
  try {
    await tx('readwrite', (s) => s.put(items, key));
  } catch {
    // No IndexedDB (private mode): the run works, it just does not resume.
  }
}

export async function clearItems(key) {
  try {
    await tx('readwrite', (s) => s.delete(key));
  } catch {
    // as above
  }
}

/**
 * Keeps a finished result for the comparison (one per model, task and subset: a new run of the
 * same replaces it): {key, model_id, model_name, model_sha256, task, task_sha256, output_type,
 * limit, n, metrics, items_hash, executor}.
 */
export async function saveResult(record) {
  try {
    await tx('readwrite', (s) => s.put(record, record.key), RESULTS);
  } catch {
    // No IndexedDB: the comparison shows this page's results only until a reload.
  }
}

/** Every kept result, oldest key first. */
export async function loadResults() {
  try {
    return (await tx('readonly', (s) => s.getAll(), RESULTS)) ?? [];
  } catch {
    return [];
  }
}

/** Removes one kept result (`key`), or all of them (no key). */
export async function removeResults(key) {
  try {
    await tx('readwrite', (s) => (key === undefined ? s.clear() : s.delete(key)), RESULTS);
  } catch {
    // as above
  }
}
