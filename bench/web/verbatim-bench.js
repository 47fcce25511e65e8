// Browser side of bench/speed.mjs for Verbatim's own engines (exact on the CPU, exact on WebGPU
// as 'exact-webgpu', or float).
//
// Runs as a module worker (the way the page runs the engine) and can also be imported on a
// page's main thread, where the CPU profiler of `speed.mjs --profile` can see it. Every call
// returns plain data; timings are performance.now() around the wasm calls only.
//
// Worker messages: {id, cmd, args} -> {id, result} or {id, error}; cmd is one of the exports.

let WasmModel = null; // the engine build's class, once loaded
let wasm = null; // the wasm module's exports (its memory among them)
let model = null;
let run = null; // {prompt_tokens, prompt_ms} between begin() and decode()

const memoryBytes = () => wasm.memory.buffer.byteLength;

/**
 * The engine build for `threads`: the single-threaded one (pkg/), or the shared-memory one
 * (pkg-threads/, which needs a cross-origin isolated page) with threads - 1 pool workers started
 * as www/worker.js starts them. Resolves to {module, exports}.
 */
async function startEngine(threads) {
  if (threads === 1) {
    const module = await import('/www/pkg/verbatim.js');
    return { module, exports: await module.default() };
  }
  if (!self.crossOriginIsolated) throw new Error(`${threads} threads need a cross-origin isolated page`);
  const module = await import('/www/pkg-threads/verbatim.js');
  const exports = await module.default();
  const shared = module.threads_install(threads);
  await Promise.all(
    Array.from({ length: threads - 1 }, () => {
      const worker = new Worker('/www/pool-worker.js', { type: 'module' });
      return new Promise((resolve, reject) => {
        worker.onmessage = ({ data }) => (data?.status === 'started' ? resolve() : reject(new Error(`a pool worker failed: ${data?.message}`)));
        worker.onerror = (e) => reject(new Error(`a pool worker failed: ${e.message || 'script error'}`));
        worker.postMessage(shared);
      });
    }),
  );
  return { module, exports };
}

/** Instantiates the wasm (on `threads` threads), fetches the GGUF and loads it; fetch time is reported apart. */
export async function load({ modelUrl, engine, threads = 1 }) {
  const t0 = performance.now();
  const started = await startEngine(threads);
  wasm = started.exports;
  WasmModel = started.module.WasmModel;
  const t1 = performance.now();
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
  let bytes = new Uint8Array(await response.arrayBuffer());
  const t2 = performance.now();
  const memoryBefore = memoryBytes();
  model = engine === 'exact-webgpu' ? await WasmModel.load_gpu(bytes) : WasmModel.load(bytes, engine);
  const t3 = performance.now();
  const fileBytes = bytes.byteLength;
  bytes = null; // the engine holds its own copy in wasm memory
  return {
    info: model.info(),
    threads: started.module.cpu_threads(),
    file_bytes: fileBytes,
    init_ms: t1 - t0,
    fetch_ms: t2 - t1,
    load_ms: t3 - t2,
    wasm_memory_before_load: memoryBefore,
    wasm_memory: memoryBytes(),
  };
}

/**
 * The longest word prefix of `passage` (repeated as needed) that tokenizes to at most
 * `maxTokens` tokens (without BOS), so that both engines get the same text of known length.
 */
export function makePrompt({ passage, maxTokens }) {
  let text = passage;
  while (model.tokenize(text, false).length < maxTokens) text += '\n\n' + passage;
  const words = text.split(' ');
  let lo = 1;
  let hi = words.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (model.tokenize(words.slice(0, mid).join(' '), false).length <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  const prompt = words.slice(0, lo).join(' ');
  return { prompt, tokens: model.tokenize(prompt, false).length };
}

/** Whether the model runs on WebGPU (its logits are read back asynchronously). */
const onGpu = () => String(model.info().executor).startsWith('gpu');

/** Prompt processing: begin() runs the whole prompt as one batch. */
export async function begin({ prompt, decodeTokens }) {
  const options = { prompt, chat: false, max_tokens: decodeTokens };
  const gpu = onGpu();
  const t0 = performance.now();
  const { prompt_tokens } = gpu ? await model.begin_async(options) : model.begin(options);
  const t1 = performance.now();
  run = { prompt_tokens, prompt_ms: t1 - t0 };
  return { ...run, wasm_memory: memoryBytes() };
}

/** Greedy decoding until done: each step() samples a token and runs one decode forward. */
export async function decode() {
  if (run === null) throw new Error('decode() before begin()');
  const ids = [];
  let text = '';
  let s;
  const gpu = onGpu();
  const t0 = performance.now();
  do {
    s = gpu ? await model.step_async() : model.step();
    ids.push(s.token_id);
    text += s.text;
  } while (!s.done);
  const t1 = performance.now();
  const out = {
    ...run,
    decode_ms: t1 - t0,
    decoded: ids.length,
    reason: s.reason,
    token_ids: ids,
    text,
    wasm_memory: memoryBytes(),
  };
  run = null;
  return out;
}

const COMMANDS = { load, makePrompt, begin, decode };

if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  self.onmessage = async ({ data: { id, cmd, args } }) => {
    try {
      const fn = COMMANDS[cmd];
      if (!fn) throw new Error(`unknown command ${cmd}`);
      self.postMessage({ id, result: await fn(args) });
    } catch (e) {
      self.postMessage({ id, error: String((e && e.stack) || e) });
    }
  };
}
