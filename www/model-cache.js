// Verified model files kept in the Cache API, keyed by their SHA-256.
//
// Only the worker writes here, and only after the file's hash matched the manifest; the page reads
// the keys to show which models start without a download. The key URL is never fetched: it only
// names the entry (same origin, so the Cache API accepts it).

export const CACHE_NAME = 'verbatim-models-v1';

/**
 * The cache key of a model file whose SHA-256 (lowercase hex) is `sha256`: at this origin's root,
 * so that the page, its workers and every engine folder (engine/<spec>/) name a file alike
 * wherever the site is published (at the root or under a sub-path).
 */
export function cacheKey(sha256) {
  return new URL(`/model-cache/sha256-${sha256}.gguf`, globalThis.location.origin).href;
}

async function openCache() {
  if (!globalThis.caches) return null; // not a secure context, or storage disabled
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null;
  }
}

/** Whether a verified copy of the file with this hash is stored. */
export async function hasModel(sha256) {
  const cache = await openCache();
  return cache !== null && (await cache.match(cacheKey(sha256))) !== undefined;
}

/** The stored bytes of the file with this hash, or null. The caller verifies them. */
export async function readModel(sha256) {
  const cache = await openCache();
  const response = cache && (await cache.match(cacheKey(sha256)));
  return response ? new Uint8Array(await response.arrayBuffer()) : null;
}

/** Stores a file whose hash has been checked. Throws if storage is unavailable or full. */
export async function storeModel(sha256, bytes) {
  const cache = await openCache();
  if (cache === null) throw new Error('this browser gives the page no Cache Storage');
  const headers = { 'Content-Type': 'application/octet-stream' };
  await cache.put(cacheKey(sha256), new Response(bytes, { headers }));
}

/** Drops the stored copy of a file (used when a stored copy fails its check). */
export async function deleteModel(sha256) {
  const cache = await openCache();
  if (cache !== null) await cache.delete(cacheKey(sha256));
}
