// The engine's web worker: fetches, verifies and caches model files, loads them into the wasm
// engine and runs generations, so that the page stays responsive.
//
// Messages from the page, each {type, ...}:
//   {type: 'load-model', model: {id, name, file, size, sha256}, engine}  from the cache, else
//                                                               downloaded; engine: 'exact' | 'float'
//   {type: 'load-file', file: File, engine}                     a GGUF file the user opened
//   {type: 'load-url', url, sha256, name, engine}                 a file named by a link, fetched only
//                                                               after the user agreed
//   {type: 'generate', run}                                     run: the engine's begin() options
//   {type: 'link-encode', id, view} / {type: 'link-decode', id, text}   answered at once with
//                                                               reply {id, result} or {id, error}
//   {type: 'abort'}                                             stops a download or a generation
// Messages to the page, each {status, ...}:
//   ready     {version, spec}
//   progress  {phase: 'download' | 'read' | 'verify', loaded, total, bytes_per_s}
//   parsing   {}
//   loaded    {info, sha256, source: 'network' | 'cache' | 'file', label, bytes, cache_error}
//   begun     {prompt_tokens}
//   token     {token_id, text, n, elapsed_ms}
//   done      {reason: 'eos' | 'max_tokens' | 'stop_string' | 'context_full' | 'aborted', text,
//              token_ids, tokens_hash, prompt_tokens, first_token_ms, elapsed_ms, decode_tokens_per_s}
//   reply     {id, result} | {id, error}
//   error     {phase: 'init' | 'load' | 'generate', code, message, retry}

import { deleteModel, readModel, storeModel } from './model-cache.js';

const PROGRESS_INTERVAL_MS = 100;
const HASH_SLICE = 8 << 20;
// wasm32 has 4 GiB of memory; the file is held once in JS and once in the engine.
const MAX_FILE_BYTES = 2 ** 31;

/** A failure the user can act on: `message` is shown as it is. */
class UserError extends Error {
  constructor(code, message, retry = true) {
    super(message);
    this.code = code;
    this.retry = retry;
  }
}

let wasm = null; // the wasm module's exports, once initialised
let model = null; // the loaded WasmModel
let busy = false;
let abortController = null; // set while a load or a generation runs

const post = (status, fields = {}) => self.postMessage({ status, ...fields });

const engineReady = (async () => {
  try {
    const module = await import('./pkg/verbatim.js');
    await module.default();
    wasm = module;
    post('ready', { version: module.version(), spec: module.spec_version() });
  } catch (error) {
    post('error', {
      phase: 'init',
      code: 'engine-missing',
      message:
        `The engine could not be started (${describe(error)}). ` +
        'From a source checkout, build it with `make wasm`.',
      retry: false,
    });
  }
})();

self.onmessage = async ({ data }) => {
  if (data.type === 'abort') {
    abortController?.abort();
    return;
  }
  await engineReady;
  if (wasm === null) return; // the init error was reported
  if (data.type === 'link-encode' || data.type === 'link-decode') {
    // Small and synchronous: answered even while a generation runs.
    try {
      const result = data.type === 'link-encode' ? wasm.link_encode(data.view) : deepPlain(wasm.link_decode(data.text));
      post('reply', { id: data.id, result });
    } catch (error) {
      post('reply', { id: data.id, error: describe(error) });
    }
    return;
  }
  if (busy) {
    post('error', { phase: 'generate', code: 'busy', message: 'The engine is busy.', retry: false });
    return;
  }
  busy = true;
  abortController = new AbortController();
  const { signal } = abortController;
  const phase = data.type === 'generate' ? 'generate' : 'load';
  try {
    if (data.type === 'load-model') await loadFromManifest(data.model, data.engine, signal);
    else if (data.type === 'load-file') await loadFromFile(data.file, data.engine, signal);
    else if (data.type === 'load-url') await loadFromUrl(data, signal);
    else if (data.type === 'generate') await generate(data, signal);
    else throw new Error(`unknown message type ${JSON.stringify(data.type)}`);
  } catch (error) {
    if (signal.aborted && phase === 'load') {
      post('error', { phase, code: 'aborted', message: 'Loading was cancelled; nothing was saved.', retry: true });
    } else if (error instanceof UserError) {
      post('error', { phase, code: error.code, message: error.message, retry: error.retry });
    } else {
      post('error', { phase, code: 'internal', message: sentence(`The engine failed: ${describe(error)}`), retry: true });
    }
  } finally {
    busy = false;
    abortController = null;
  }
};

async function loadFromManifest(entry, engine, signal) {
  unloadModel();
  let bytes = await readModel(entry.sha256);
  let source = 'cache';
  if (bytes !== null) {
    const digest = hashBytes(bytes, 'verify');
    if (bytes.length !== entry.size || digest !== entry.sha256) {
      await deleteModel(entry.sha256); // damaged in storage: fetch it again
      bytes = null;
    }
  }
  let cacheError = null;
  if (bytes === null) {
    source = 'network';
    bytes = await download(entry, signal);
    try {
      await storeModel(entry.sha256, bytes);
    } catch (error) {
      cacheError = `The model could not be saved for next time (${describe(error)}).`;
    }
  }
  loadModel(bytes, engine, { sha256: entry.sha256, source, label: entry.name, cache_error: cacheError });
}

async function loadFromFile(file, engine, signal) {
  unloadModel();
  if (file.size > MAX_FILE_BYTES) {
    throw new UserError(
      'too-large',
      `${file.name} is ${formatMB(file.size)}; the browser engine opens files up to ${formatMB(MAX_FILE_BYTES)}.`,
      false,
    );
  }
  const { bytes, digest } = await readStream(file.stream(), file.size, 'read', signal);
  loadModel(bytes, engine, { sha256: digest, source: 'file', label: file.name, cache_error: null });
}

/** Fetches a file from the address a link names (the user agreed), checking it against the link's hash. */
async function loadFromUrl({ url, sha256, name, engine }, signal) {
  unloadModel();
  let response;
  try {
    response = await fetch(url, { signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new UserError('network', `The download from ${url} failed before it started (${describe(error)}).`);
  }
  if (!response.ok) throw new UserError('http', `The download from ${url} failed: HTTP ${response.status}.`);
  const size = Number(response.headers.get('Content-Length'));
  if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_FILE_BYTES) {
    response.body?.cancel();
    throw new UserError('size', `The server at ${url} does not state a usable file size; nothing was loaded.`, false);
  }
  const { bytes, digest } = await readStream(response.body, size, 'download', signal);
  if (digest !== sha256) {
    throw new UserError(
      'checksum',
      `Checksum mismatch: the file from ${url} has SHA-256 ${digest}, the link expects ${sha256}. It was not loaded.`,
      false,
    );
  }
  loadModel(bytes, engine, { sha256, source: 'url', label: name, cache_error: null });
}

/** Downloads a manifest entry's file from this site, hashing it as it arrives. */
async function download(entry, signal) {
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
  const { bytes, digest } = await readStream(response.body, entry.size, 'download', signal);
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
async function readStream(stream, expected, phase, signal) {
  const bytes = new Uint8Array(expected);
  const hasher = new wasm.Sha256Hasher();
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
function hashBytes(bytes, phase) {
  const hasher = new wasm.Sha256Hasher();
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

function loadModel(bytes, engine, details) {
  post('parsing');
  const started = performance.now();
  try {
    model = wasm.WasmModel.load(bytes, engine);
  } catch (error) {
    throw new UserError('bad-model', sentence(`The model could not be loaded: ${describe(error)}`), false);
  }
  const info = toPlain(model.info());
  post('loaded', { info, bytes: bytes.length, load_ms: performance.now() - started, ...details });
}

function unloadModel() {
  model?.free();
  model = null;
}

async function generate({ run, expect }, signal) {
  if (model === null) throw new UserError('no-model', 'Load a model first.', false);
  const started = performance.now();
  let begun;
  try {
    begun = toPlain(model.begin(run));
  } catch (error) {
    throw new UserError('bad-request', describe(error), false);
  }
  post('begun', { prompt_tokens: begun.prompt_tokens });

  const tokenIds = [];
  let text = '';
  let reason = 'aborted';
  let tokensHash = null; // SHA-256 of the token ids, given with the last step
  let firstTokenAt = null;
  while (!signal.aborted) {
    const step = toPlain(model.step());
    const now = performance.now();
    firstTokenAt ??= now;
    tokenIds.push(step.token_id);
    text += step.text;
    post('token', { token_id: step.token_id, text: step.text, n: tokenIds.length, elapsed_ms: now - started });
    if (step.done) {
      reason = step.reason;
      tokensHash = step.tokens_hash ?? null;
      break;
    }
    await nextTask(); // lets an 'abort' message in between two steps
  }
  // For a replay: the text of the expected token at the first divergence, if any.
  let divergence = null;
  if (Array.isArray(expect)) {
    let k = 0;
    while (k < expect.length && k < tokenIds.length && expect[k] === tokenIds[k]) k += 1;
    if (k < expect.length && (k < tokenIds.length || reason !== 'aborted')) {
      divergence = { index: k, expected_text: model.token_text(expect[k]) };
    }
  }
  const finished = performance.now();
  const decodeSeconds = (finished - (firstTokenAt ?? finished)) / 1000;
  post('done', {
    reason,
    text,
    token_ids: tokenIds,
    tokens_hash: tokensHash,
    divergence,
    prompt_tokens: begun.prompt_tokens,
    first_token_ms: firstTokenAt === null ? null : firstTokenAt - started,
    elapsed_ms: finished - started,
    decode_tokens_per_s: tokenIds.length > 1 && decodeSeconds > 0 ? (tokenIds.length - 1) / decodeSeconds : null,
  });
}

/** Resolves after pending messages have been handled (a macrotask, without timer clamping). */
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });
}

/** The engine returns plain objects or Maps (serde-wasm-bindgen); the page wants plain objects. */
function toPlain(value) {
  return value instanceof Map ? Object.fromEntries(value) : value;
}

/** A decoded link as plain objects and arrays all the way down. */
function deepPlain(value) {
  if (value instanceof Map) value = Object.fromEntries(value);
  if (Array.isArray(value)) return value.map(deepPlain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepPlain(v)]));
  }
  return value;
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/** `text` ending with a full stop (messages from the engine may or may not have one). */
function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
