// Evaluation progress kept in IndexedDB, so that a run resumes after a reload: one record per
// (model SHA-256, task items SHA-256, subset), holding the items scored so far in order.

const DB_NAME = 'verbatim-eval';
const STORE = 'runs';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
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
