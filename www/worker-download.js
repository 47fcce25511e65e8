// The engine worker's downloads and file reads (worker.js): a manifest model from this site, any
// byte stream of a known length, or bytes already in memory, each hashed with SHA-256 as it
// arrives and reported as progress. `io` is {Hasher: the engine's Sha256Hasher, post: the worker's
// messages to the page}. Failures are UserErrors in plain words.

import { UserError, describe, formatMB } from './worker-util.js';

const PROGRESS_INTERVAL_MS = 100;
const HASH_SLICE = 8 << 20;

/** Downloads a manifest entry's file from this site, hashing it as it arrives. */
export async function download(entry, signal, io) {
  const url = new URL(`models/cache/${encodeURIComponent(entry.file)}`, self.location.href);
  let response;
  try {
    response = await fetch(url, { signal, cache: 'no-store' });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new UserError(
      'network',
      `The download of ${entry.name} failed before it started: the server could not be reached (${describe(error)}).`,
    );
  }
  if (!response.ok) {
    const what = response.status === 404 ? 'the model file is not on this server' : 'the server refused the download';
    throw new UserError(
      'http',
      `The download of ${entry.name} failed: ${what} (HTTP ${response.status} for ${url.pathname}).`,
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

