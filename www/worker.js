// The engine's web worker: fetches, verifies and caches model files (downloads and hashing:
// worker-download.js), loads them into the wasm engine and runs generations, so that the page
// stays responsive.
//
// The exact engine runs where the page asks: on the faster executor ('auto': a GPU emulated in
// software is not used, else both are timed: executor-choice.js), on WebGPU when the GPU passes
// the start-up self-test ('gpu'), or on the wasm CPU executor ('cpu'): the tokens are the same.
//
// Messages from the page, each {type, ...}:
//   {type: 'load-model', model: {id, name, file, size, sha256, download}, origins, engine,
//    executor}                                                  from the cache, else downloaded
//                                                               from `download` (an absolute
//                                                               address; origins: the site's
//                                                               model_origins, links.js);
//                                                               engine: 'exact' | 'float';
//                                                               executor: 'auto' (the faster
//                                                               one here) | 'gpu' (WebGPU if it
//                                                               works, else the CPU) | 'cpu'
//   {type: 'load-file', file: File, engine, executor}           a GGUF file the user opened
//   {type: 'load-url', url, sha256, name, origins, engine, executor}   a file named by a link,
//                                                               fetched only after the user agreed
//   {type: 'generate', run}                                     run: the engine's begin() options
//   {type: 'link-encode', id, view} / {type: 'link-decode', id, text}   answered at once with
//                                                               reply {id, result} or {id, error}
//   {type: 'abort'}                                             stops a download or a generation
//   {type: 'test-panic'} / {type: 'test-hang', ms}              only with ?test-hooks=1 in this
//   / {type: 'test-gpu-refuses'}                                worker's address (browser tests):
//                                                               a genuine Rust panic; a busy loop;
//                                                               the next GPU run refused with code
//                                                               gpu-unsupported (an op it lacks)
// Messages to the page, each {status, ...}:
//   ready     {version, spec, specs, threads: {requested, running, why}}   specs: every numeric spec
//             this engine replays (exact-1, exact-2); why: null, or why fewer threads run than
//             requested (not cross-origin isolated, no SharedArrayBuffer, no threaded build)
//   progress  {phase: 'download' | 'read' | 'verify', loaded, total, bytes_per_s}
//   parsing   {step: 'gpu' | 'timing' | 'cpu', fallback}   loading into the engine: starting WebGPU
//             (kernels and self-test), timing both executors ('auto'), or on the CPU (fallback:
//             why not on the GPU, when it was wanted)
//   loaded    {info, sha256, source: 'network' | 'cache' | 'file' | 'url', label, bytes, cache_error,
//              load_ms, executor: {kind: 'gpu' | 'cpu', requested: 'auto' | 'gpu' | 'cpu', adapter,
//              summary, compile_ms, selftest_ms, fallback, fallback_detail, fallback_code, choice},
//              wasm_memory_bytes}   fallback:
//              why the CPU runs although the GPU was wanted (no WebGPU, the self-test failed, …)
//              in a few words, else null; fallback_detail: the same with the engine's full
//              message; fallback_code: 'gpu-unsupported' when the GPU executor does not run this
//              model yet (spec exact-2's formats and ops), else null; wasm_memory_bytes: the
//              engine's wasm memory (its peak so far); choice ('auto' only, else null): {why: 'emulated'} (the adapter reports
//              isFallbackAdapter: not timed) or {why: 'measured', gpu_ms, cpu_ms} (per token)
//              threads, threads_why (CPU only, else null): the CPU executor's thread count, and why
//              it is 1 when more were asked for
//   begun     {prompt_tokens}
//   token     {token_id, text, logits_hash, n, elapsed_ms}   logits_hash: the fingerprint of the logits the
//             token was sampled from (exact engine; else null)
//   done      {reason: 'eos' | 'max_tokens' | 'stop_string' | 'context_full' | 'aborted', text,
//              token_ids, tokens_hash, prompt_tokens, first_token_ms, elapsed_ms, decode_tokens_per_s,
//              wasm_memory_bytes}
//   reply     {id, result} | {id, error}
//   error     {phase: 'init' | 'load' | 'generate', code, message, retry, cpu_retry, gpu_error, fatal}
//             cpu_retry: the GPU failed during the run (code 'gpu-failed'; gpu_error: the engine's
//             words), or does not run this model (code 'gpu-unsupported': the page runs the request
//             on the CPU at once); the model was unloaded, and it can be loaded on the CPU to run the
//             request.
//             fatal: the engine stopped (code 'panic': a Rust panic or a WebAssembly trap; message:
//             the reason; gpu: whether the GPU was in use); this worker must not be used again:
//             the page ends it and starts another.
//
// Errors from the wasm engine carry a `code` (crate/src/web.rs) that this worker switches on.

import { checkModelUrl } from './links.js';
import { PROBE_RUN, PROBE_WARM_STEPS, executorChoice, fasterExecutor } from './executor-choice.js';
import { UserError, adapterFacts, deepPlain, describe, formatMB, gpuLoadFailure, nextTask, oneLine, sentence, toPlain } from './worker-util.js';
import { deleteModel, readModel, storeModel } from './model-cache.js';
import { download, hashBytes, readStream } from './worker-download.js';

const TEST_HOOKS = new URL(self.location.href).searchParams.get('test-hooks') === '1';

// wasm32 has 4 GiB of memory; the file is held once in JS and once in the engine.
const MAX_FILE_BYTES = 2 ** 31;

let wasm = null; // the wasm module's exports, once initialised
let wasmMemory = null; // its WebAssembly.Memory (it only grows: its size is the peak so far)
let io = null; // {Hasher, post} for worker-download.js, once initialised
let model = null; // the loaded WasmModel
let onGpu = false; // whether `model` runs on the WebGPU executor
let vocabularySize = 0; // of `model`
let busy = false;
let abortController = null; // set while a load or a generation runs
let dead = false; // the engine panicked or trapped: nothing more is said or done
let phaseNow = 'load'; // the phase of the request being handled, for a fatal report
let gpuInUse = false; // whether the GPU was being started or used when the engine stopped
let gpuRefusesNextRun = false; // test hook: the GPU executor's refusal of a run (code gpu-unsupported)

const post = (status, fields = {}) => {
  if (!dead) self.postMessage({ status, ...fields });
};

/** The engine stopped (a panic, or a trap): says so once; the page ends this worker. */
function engineStopped(reason) {
  if (dead) return;
  post('error', {
    phase: phaseNow,
    code: 'panic',
    message: sentence(`The engine stopped: ${reason}`),
    retry: true,
    fatal: true,
    gpu: onGpu || gpuInUse,
  });
  dead = true;
}

/** Whether `error` means the wasm instance is unusable (it trapped). */
function isTrap(error) {
  return error instanceof WebAssembly.RuntimeError;
}

// A trap inside a promise the engine drives (step_async on the GPU) is reported here.
self.addEventListener('unhandledrejection', (event) => {
  if (isTrap(event.reason)) {
    event.preventDefault();
    engineStopped(describe(event.reason));
  }
});
self.addEventListener('error', (event) => {
  if (isTrap(event.error)) {
    event.preventDefault();
    engineStopped(describe(event.error));
  }
});

// ---- threads: the CPU executor on several threads (begin; the engine's start) -----------------
// The page asks for a thread count in this worker's name ('verbatim-engine threads=N': engine.js,
// from the settings' Threads). More than one needs shared memory, which the browser grants only to
// a cross-origin isolated page (COOP same-origin + COEP require-corp: tools/serve.py, or sw.js on a
// static host): then the shared-memory build of the engine (pkg-threads/, `make wasm-threads`)
// starts, with N - 1 Web Workers (pool-worker.js) taking tasks of each matmul and attention; the
// bits are the same as on one thread. Otherwise the single-threaded build (pkg/) runs, and
// `threads.why` says why. A pool worker that traps (a panic) leaves the engine waiting for it: Stop
// then ends the stuck engine after a few seconds and starts a fresh one (app.js).
const MAX_THREADS = 16;
const THREADS_START_MS = 20_000;

/** The thread count asked for (1 when absent or not a number from 1 to MAX_THREADS). */
function requestedThreads() {
  const asked = /(?:^|\s)threads=(\d{1,2})$/.exec(self.name ?? '')?.[1] ?? '1';
  const n = Number(asked);
  return Number.isInteger(n) && n >= 1 && n <= MAX_THREADS ? n : 1;
}

/** Which build to start: {path, threads: asked for, why: null | why one thread runs}. */
function threadPlan() {
  const wanted = requestedThreads();
  if (wanted === 1) return { path: './pkg/verbatim.js', threads: 1, why: null };
  if (self.crossOriginIsolated !== true) {
    return { path: './pkg/verbatim.js', threads: 1, why: 'the page is not cross-origin isolated, so it has no shared memory' };
  }
  if (typeof SharedArrayBuffer !== 'function') {
    return { path: './pkg/verbatim.js', threads: 1, why: 'this browser has no SharedArrayBuffer' };
  }
  return { path: './pkg-threads/verbatim.js', threads: wanted, why: null };
}

/** Starts the engine: the module, its thread count and, when one thread runs though more were asked for, why. */
async function startEngine() {
  const plan = threadPlan();
  if (plan.threads > 1) {
    try {
      const module = await import(plan.path);
      const exports = await module.default();
      const running = await startPoolWorkers(module, plan.threads);
      return { module, exports, threads: { requested: requestedThreads(), running, why: running < plan.threads ? 'some threads did not start' : null } };
    } catch (error) {
      plan.why = `the threaded engine did not start (${describe(error)})`;
    }
  }
  const module = await import('./pkg/verbatim.js');
  const exports = await module.default();
  return { module, exports, threads: { requested: requestedThreads(), running: 1, why: plan.why } };
}

/** Installs the pool for `n` threads and starts n - 1 pool workers; resolves to the threads running. */
async function startPoolWorkers(module, n) {
  const shared = module.threads_install(n);
  const started = await Promise.all(
    Array.from({ length: n - 1 }, (_, i) => {
      const thread = new Worker(new URL('pool-worker.js', import.meta.url), { type: 'module', name: `verbatim-cpu-${i + 1}` });
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), THREADS_START_MS);
        thread.onmessage = ({ data }) => {
          clearTimeout(timer);
          resolve(data?.status === 'started');
        };
        thread.onerror = (event) => {
          event.preventDefault();
          clearTimeout(timer);
          resolve(false);
        };
        thread.postMessage(shared);
      });
    }),
  );
  return 1 + started.filter(Boolean).length;
}
// ---- threads (end) ---------------------------------------------------------------------------

let threadsRunning = { requested: 1, running: 1, why: null };

const engineReady = (async () => {
  try {
    const { module, exports, threads } = await startEngine();
    threadsRunning = threads;
    // The panic's place without the build machine's directories: "gguf_file.rs:560:43".
    module.set_panic_listener((message) =>
      engineStopped(`it panicked (${oneLine(message).replace(/(?:[^\s:]*\/)+([^/\s:]+\.rs:)/g, '$1')})`),
    );
    wasm = module;
    wasmMemory = exports?.memory ?? null;
    io = { Hasher: module.Sha256Hasher, post };
    // specs: every spec this engine replays (an engine before exact-2 names only its own).
    post('ready', {
      version: module.version(),
      spec: module.spec_version(),
      specs: module.spec_versions?.() ?? [module.spec_version()],
      threads: threadsRunning,
    });
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
  if (dead) return;
  if (data.type === 'abort') {
    abortController?.abort();
    return;
  }
  await engineReady;
  if (wasm === null) return; // the init error was reported
  if (TEST_HOOKS && data.type === 'test-panic') {
    try {
      wasm.panic_for_test(String(data.what ?? 'test'));
    } catch (error) {
      engineStopped(describe(error)); // already reported by the panic listener
    }
    return;
  }
  if (TEST_HOOKS && data.type === 'test-gpu-refuses') {
    gpuRefusesNextRun = true; // the next run on the GPU is refused as an op it lacks would be
    return;
  }
  if (TEST_HOOKS && data.type === 'test-hang') {
    const until = performance.now() + Number(data.ms ?? 60_000);
    while (performance.now() < until) {
      // a stuck engine: this worker answers nothing meanwhile
    }
    return;
  }
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
  phaseNow = phase;
  try {
    if (data.type === 'load-model') await loadFromManifest(data.model, data.origins ?? [], data.engine, data.executor, signal);
    else if (data.type === 'load-file') await loadFromFile(data.file, data.engine, data.executor, signal);
    else if (data.type === 'load-url') await loadFromUrl(data, signal);
    else if (data.type === 'generate') await generate(data, signal);
    else throw new Error(`unknown message type ${JSON.stringify(data.type)}`);
  } catch (error) {
    if (dead) return;
    if (isTrap(error)) {
      engineStopped(describe(error));
      return;
    }
    if (signal.aborted && phase === 'load' && !(error instanceof UserError && error.code === 'aborted')) {
      post('error', { phase, code: 'aborted', message: 'Loading was cancelled; nothing was saved.', retry: true });
    } else if (error instanceof UserError) {
      const cpuRetry = error.gpuError !== null;
      post('error', { phase, code: error.code, message: error.message, retry: error.retry, cpu_retry: cpuRetry, gpu_error: error.gpuError });
    } else {
      post('error', { phase, code: 'internal', message: sentence(`The engine failed: ${describe(error)}`), retry: true });
    }
  } finally {
    busy = false;
    abortController = null;
  }
};

async function loadFromManifest(entry, origins, engine, executor, signal) {
  unloadModel();
  let bytes = await readModel(entry.sha256);
  let source = 'cache';
  if (bytes !== null) {
    const digest = hashBytes(bytes, 'verify', io);
    if (bytes.length !== entry.size || digest !== entry.sha256) {
      await deleteModel(entry.sha256); // damaged in storage: fetch it again
      bytes = null;
    }
  }
  let cacheError = null;
  if (bytes === null) {
    source = 'network';
    bytes = await download(entry, signal, io, origins);
    try {
      await storeModel(entry.sha256, bytes);
    } catch (error) {
      cacheError = `The model could not be saved for next time (${describe(error)}).`;
    }
  }
  await loadModel(bytes, engine, executor, signal, { sha256: entry.sha256, source, label: entry.name, cache_error: cacheError });
}

async function loadFromFile(file, engine, executor, signal) {
  unloadModel();
  if (file.size > MAX_FILE_BYTES) {
    throw new UserError(
      'too-large',
      `${file.name} is ${formatMB(file.size)}; the browser engine opens files up to ${formatMB(MAX_FILE_BYTES)}.`,
      false,
    );
  }
  const { bytes, digest } = await readStream(file.stream(), file.size, 'read', signal, io);
  await loadModel(bytes, engine, executor, signal, { sha256: digest, source: 'file', label: file.name, cache_error: null });
}

/** Fetches a file from the address a link names (the user agreed), checking it against the link's hash. */
async function loadFromUrl({ url, sha256, name, origins = [], engine, executor }, signal) {
  unloadModel();
  // Checked again here: only https:, this site, or the site's model origins.
  const allowed = checkModelUrl(url, self.location.origin, origins);
  if (!allowed.ok) throw new UserError('bad-url', `That address is not fetched: ${allowed.why}.`, false);
  const shown = allowed.url.href; // normalised: punycode host, percent-encoded path
  let response;
  try {
    response = await fetch(allowed.url, { signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new UserError('network', `The download from ${shown} failed before it started (${describe(error)}).`);
  }
  // A redirect must end at an address that would have been allowed itself.
  const landed = response.url ? checkModelUrl(response.url, self.location.origin, origins) : allowed;
  if (!landed.ok) {
    response.body?.cancel();
    throw new UserError('bad-url', `The address ${shown} redirected to one that is not fetched: ${landed.why}.`, false);
  }
  if (!response.ok) throw new UserError('http', `The download from ${shown} failed: HTTP ${response.status}.`);
  const size = Number(response.headers.get('Content-Length'));
  if (!Number.isSafeInteger(size) || size <= 0 || size > MAX_FILE_BYTES) {
    response.body?.cancel();
    throw new UserError('size', `The server at ${shown} does not state a usable file size; nothing was loaded.`, false);
  }
  const { bytes, digest } = await readStream(response.body, size, 'download', signal, io);
  if (digest !== sha256) {
    throw new UserError(
      'checksum',
      `Checksum mismatch: the file from ${shown} has SHA-256 ${digest}, the link expects ${sha256}. It was not loaded.`,
      false,
    );
  }
  await loadModel(bytes, engine, executor, signal, { sha256, source: 'url', label: name, cache_error: null });
}

/**
 * Loads the model on the executor the page asks for: 'cpu'; 'gpu' (WebGPU when it passes the
 * self-test, else the CPU, with the reason); 'auto' (the faster one here: executor-choice.js). The
 * GPU falls back to the CPU (with the reason) when WebGPU is missing, has no adapter, fails the
 * self-test or cannot hold the model.
 */
async function loadModel(bytes, engine, requested, signal, details) {
  requested = executorChoice(requested);
  const started = performance.now();
  let fallback = null; // {short, detail}
  let adapter = null;
  let choice = null; // 'auto' only: {why: 'emulated'} | {why: 'measured', gpu_ms, cpu_ms}
  if (engine === 'exact' && requested !== 'cpu') {
    const facts = wasm.webgpu_available() ? await adapterFacts() : null;
    if (!wasm.webgpu_available()) {
      fallback = { short: 'WebGPU unavailable: this browser has no WebGPU', detail: null };
    } else if (requested === 'auto' && facts?.fallback) {
      adapter = facts.name;
      choice = { why: 'emulated' };
    } else {
      post('parsing', { step: 'gpu', fallback: null });
      gpuInUse = true;
      try {
        model = await wasm.WasmModel.load_gpu(bytes);
        onGpu = true;
        adapter = facts?.name ?? null;
      } catch (error) {
        if (isTrap(error)) throw error;
        fallback = gpuLoadFailure(error);
      }
      gpuInUse = false;
      if (signal.aborted) {
        unloadModel();
        throw new UserError('aborted', 'Loading was cancelled before the model was ready.', true);
      }
      if (onGpu && requested === 'auto') ({ choice, fallback } = await timeBoth(bytes, engine, signal));
    }
  }
  if (model === null) {
    const why = choice?.why === 'emulated' ? 'this device’s WebGPU is emulated in software, so the CPU is faster' : fallback?.short;
    post('parsing', { step: 'cpu', fallback: why ?? null });
    model = loadOnCpu(bytes, engine);
  }
  const info = toPlain(model.info());
  vocabularySize = info.n_vocab;
  const executor = {
    kind: onGpu ? 'gpu' : 'cpu',
    requested,
    adapter,
    summary: onGpu ? String(info.executor ?? '').replace(/^gpu:\s*(WebGPU adapter)?/, '').trim() : null,
    compile_ms: info.gpu_compile_ms ?? null,
    selftest_ms: info.gpu_selftest_ms ?? null,
    fallback: fallback?.short ?? null,
    fallback_detail: fallback?.detail ?? null,
    fallback_code: fallback?.code ?? null,
    choice,
    threads: onGpu ? null : threadsRunning.running,
    threads_why: onGpu ? null : threadsRunning.why,
  };
  post('loaded', { info, executor, bytes: bytes.length, load_ms: performance.now() - started, wasm_memory_bytes: memoryBytes(), ...details });
}

/** The engine's wasm memory in bytes (its peak: wasm memory never shrinks), or null. */
function memoryBytes() {
  return wasmMemory?.buffer.byteLength ?? null;
}

/** The model on the wasm CPU executor; a file the engine refuses is the user's to fix. */
function loadOnCpu(bytes, engine) {
  try {
    return wasm.WasmModel.load(bytes, engine);
  } catch (error) {
    if (isTrap(error)) throw error;
    if (error?.code === 'unsupported-model') {
      throw new UserError('unsupported-model', sentence(`This model cannot be loaded: ${describe(error)}`), false);
    }
    throw new UserError('bad-model', sentence(`The model could not be loaded: ${describe(error)}`), false);
  }
}

/**
 * "Automatic" with the model on a GPU that passed the self-test: loads it on the CPU too, times a
 * few decode steps on each (the CPU first: the GPU stops early once it cannot win) and keeps the
 * faster one in `model`, freeing the other. Returns {choice: the measurement, fallback: null}, or
 * {choice: null, fallback: why} when the GPU failed while it was timed (the CPU then runs).
 */
async function timeBoth(bytes, engine, signal) {
  post('parsing', { step: 'timing', fallback: null });
  const onCpu = loadOnCpu(bytes, engine);
  let cpuMsPerToken;
  let gpuMsPerToken;
  let gpuError = null;
  try {
    cpuMsPerToken = await msPerToken(onCpu, Infinity);
    gpuInUse = true;
    gpuMsPerToken = await msPerToken(model, cpuMsPerToken * (PROBE_RUN.max_tokens - PROBE_WARM_STEPS));
  } catch (error) {
    if (isTrap(error) || cpuMsPerToken === undefined) {
      onCpu.free();
      throw error;
    }
    gpuError = error; // the GPU failed while it was timed: the CPU runs, and the page says why
  } finally {
    gpuInUse = false;
  }
  if (signal.aborted) {
    onCpu.free();
    unloadModel();
    throw new UserError('aborted', 'Loading was cancelled before the model was ready.', true);
  }
  const measured = { gpuMsPerToken, cpuMsPerToken };
  if (gpuError !== null || fasterExecutor(measured) === 'cpu') {
    unloadModel();
    model = onCpu;
  } else {
    onCpu.free();
  }
  if (gpuError !== null) {
    return { choice: null, fallback: { short: 'the GPU failed while it was timed', detail: `the GPU failed while it was timed: ${describe(gpuError)}` } };
  }
  return { choice: { why: 'measured', gpu_ms: gpuMsPerToken, cpu_ms: cpuMsPerToken }, fallback: null };
}

/** Mean milliseconds per decode step of PROBE_RUN on `m`, stopping once the timed steps took `limitMs`. */
async function msPerToken(m, limitMs) {
  await m.begin_async(PROBE_RUN);
  let timed = 0;
  let ms = 0;
  for (let i = 0; i < PROBE_RUN.max_tokens; i += 1) {
    const before = performance.now();
    const step = toPlain(await m.step_async());
    if (i >= PROBE_WARM_STEPS) {
      ms += performance.now() - before;
      timed += 1;
    }
    if (step.done || ms > limitMs) break;
  }
  return timed > 0 ? ms / timed : Infinity;
}

function unloadModel() {
  model?.free();
  model = null;
  onGpu = false;
}

/**
 * A failed begin/step. On the GPU, an executor failure (a lost device, a GPU error) unloads the
 * model, and the page may run the same request on the CPU. A failed begin is otherwise a bad
 * request; anything else is the engine's fault.
 */
function runFailure(error, phase) {
  if (isTrap(error)) return error;
  const message = describe(error);
  if (onGpu && error?.code === 'gpu-unsupported') {
    // The GPU executor lacks an operation this model needs: the page runs the request on the CPU.
    unloadModel();
    return new UserError('gpu-unsupported', 'The GPU executor does not run this model yet; it runs on the CPU, with the same tokens.', true, message);
  }
  if (onGpu && error?.code === 'device-lost') {
    unloadModel();
    return new UserError(
      'gpu-failed',
      `${sentence(`The GPU failed during the run: ${message}`)} The run can be retried on the CPU, which gives the same tokens.`,
      true,
      message,
    );
  }
  if (phase === 'begin') return new UserError('bad-request', message, false);
  return error;
}

async function generate({ run, expect }, signal) {
  if (model === null) throw new UserError('no-model', 'Load a model first.', false);
  const started = performance.now();
  let begun;
  try {
    if (TEST_HOOKS && gpuRefusesNextRun && onGpu) {
      gpuRefusesNextRun = false;
      throw Object.assign(new Error("this executor does not run the exact-2 operation 'scale' (gemma3) yet; use the CPU executor"), { code: 'gpu-unsupported' });
    }
    begun = toPlain(await model.begin_async(run));
  } catch (error) {
    throw runFailure(error, 'begin');
  }
  post('begun', { prompt_tokens: begun.prompt_tokens });

  const tokenIds = [];
  let text = '';
  let reason = 'aborted';
  let tokensHash = null; // SHA-256 of the token ids, given with the last step
  let firstTokenAt = null;
  while (!signal.aborted) {
    let step;
    try {
      step = toPlain(await model.step_async());
    } catch (error) {
      throw runFailure(error, 'step');
    }
    const now = performance.now();
    firstTokenAt ??= now;
    tokenIds.push(step.token_id);
    text += step.text;
    post('token', { token_id: step.token_id, text: step.text, logits_hash: step.logits_hash ?? null, n: tokenIds.length, elapsed_ms: now - started });
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
      divergence = { index: k, expected_text: tokenTextOrNull(expect[k]) };
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
    wasm_memory_bytes: memoryBytes(),
  });
}

/** The text of a token id, or null when the id is outside the vocabulary (a link may hold any id). */
function tokenTextOrNull(id) {
  if (!Number.isSafeInteger(id) || id < 0 || id >= vocabularySize) return null;
  try {
    return model.token_text(id);
  } catch (error) {
    if (isTrap(error)) throw error;
    return null;
  }
}

