// The engine worker's downloads and file reads (worker.js): a manifest model (from its public
// source or this site), any byte stream of a known length, or bytes already in memory, each hashed
// with SHA-256 as it arrives and reported as progress. `io` is {Hasher: the engine's Sha256Hasher, post: the worker's
// messages to the page}. Failures are UserErrors in plain words.

import { checkModelUrl } from './links.js';
import { UserError, describe, formatMB } from './worker-util.js';

const PROGRESS_INTERVAL_MS = 100;
const HASH_SLICE = 8 << 20;

/**
 * Downloads a manifest entry's file from `entry.download` (an absolute address the page gives:
 * the model's public source on a published site, else this server's copy), following redirects,
 * hashing it as it arrives. The address, and where a redirect lands, must pass the page's policy
 * (links.js): https:, this site, or one of `origins`.
 */
export async function download(entry, signal, io, origins = []) {
  const allowed = checkModelUrl(entry.download, self.location.origin, origins);
  if (!allowed.ok) {
    throw new UserError('bad-url', `${entry.name} is not downloaded from ${entry.download}: ${allowed.why}.`, false);
  }
  const url = allowed.url;
  const remote = url.origin !== self.location.origin;
  let response;
  try {
    response = await fetch(url, { signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer', redirect: 'follow' });
  } catch (error) {
    if (signal.aborted) throw error;
    const why = remote
      ? `${url.host} could not be reached, or it does not let this page read the file (no CORS headers)`
      : 'the server could not be reached';
    throw new UserError('network', `The download of ${entry.name} failed before it started: ${why} (${describe(error)}).`);
  }
  const landed = response.url ? checkModelUrl(response.url, self.location.origin, origins) : allowed;
  if (!landed.ok) {
    response.body?.cancel();
    throw new UserError('bad-url', `The download of ${entry.name} from ${url.host} was redirected to an address that is not fetched: ${landed.why}.`, false);
  }
  if (!response.ok) {
    let what = response.status === 404 ? 'the model file is not on this server' : 'the server refused the download';
    if (remote) what = response.status === 404 ? `the model file is not at ${url.host}` : `${url.host} refused the download`;
    throw new UserError(
      'http',
      `The download of ${entry.name} failed: ${what} (HTTP ${response.status} for ${remote ? url.href : url.pathname}).`,
    );
  }
  const declared = response.headers.get('Content-Length');
  if (declared !== null && Number(declared) !== entry.size) {
    response.body?.cancel();
    throw new UserError(
      'size',
      `The server offers ${entry.file} with ${Number(declared).toLocaleString('en')} bytes, but the ` +
        `manifest expects ${entry.size.toLocaleString('en')}: it is not the published file. Nothing was saved.`,
    );
  }
  const { bytes, digest } = await readStream(response.body, entry.size, 'download', signal, io);
  if (digest !== entry.sha256) {
    throw new UserError(
      'checksum',
      `Checksum mismatch: the downloaded ${entry.file} is not the published file (its SHA-256 is ` +
        `${digest}, the manifest expects ${entry.sha256}). It was damaged on the way or changed on ` +
        'the server, and was not saved.',
    );
  }
  return bytes;
}

/**
 * Reads a byte stream of `expected` bytes into one buffer, hashing each chunk as it arrives and
 * reporting progress. Returns the bytes and their SHA-256.
 */
export async function readStream(stream, expected, phase, signal, { Hasher, post }) {
  const bytes = new Uint8Array(expected);
  const hasher = new Hasher();
  const reader = stream.getReader();
  const started = performance.now();
  let loaded = 0;
  let lastReport = -Infinity;
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    post('progress', { phase, loaded, total: expected, bytes_per_s: seconds > 0 ? loaded / seconds : 0 });
    lastReport = performance.now();
  };
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener('abort', onAbort);
  try {
    report();
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw error;
        throw new UserError(
          'network',
          `The download was interrupted after ${formatMB(loaded)} of ${formatMB(expected)} ` +
            `(${describe(error)}). Nothing was saved.`,
        );
      }
      if (signal.aborted) throw new DOMException('aborted', 'AbortError');
      if (chunk.done) break;
      const { value } = chunk;
      if (loaded + value.length > expected) {
        throw new UserError(
          'size',
          `The file is larger than the expected ${expected.toLocaleString('en')} bytes: it is not the published file. Nothing was saved.`,
        );
      }
      bytes.set(value, loaded);
      hasher.update(value);
      loaded += value.length;
      if (performance.now() - lastReport >= PROGRESS_INTERVAL_MS) report();
    }
    report();
    if (loaded !== expected) {
      throw new UserError(
        'network',
        `The download ended early: ${loaded.toLocaleString('en')} of ${expected.toLocaleString('en')} bytes arrived. Nothing was saved.`,
      );
    }
    return { bytes, digest: hasher.finalize() };
  } finally {
    signal.removeEventListener('abort', onAbort);
    hasher.free();
  }
}

/** The SHA-256 of bytes already in memory, reported as progress of `phase`. */
export function hashBytes(bytes, phase, { Hasher, post }) {
  const hasher = new Hasher();
  try {
    for (let offset = 0; offset < bytes.length; offset += HASH_SLICE) {
      hasher.update(bytes.subarray(offset, offset + HASH_SLICE));
      post('progress', { phase, loaded: Math.min(offset + HASH_SLICE, bytes.length), total: bytes.length, bytes_per_s: 0 });
    }
    return hasher.finalize();
  } finally {
    hasher.free();
  }
}

