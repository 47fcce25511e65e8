// The evaluation worker: loads the exact engine with a model and a task, on the executor the page
// chose (the wasm CPU executor, or WebGPU: the same bits), and scores items one by one so the page
// can show progress, cancel between items and resume.
//
// Messages from the page, each {type, ...}:
//   {type: 'load', model: {id, name, file, size, sha256, download}, origins, task: {bytes},
//        executor: 'cpu' | 'gpu'}   model from the Cache API (as Generate stores it; its size and
//        SHA-256 checked again), else downloaded from `download` (an absolute address: the model's
//        public source on a built site, else this server's models/cache/) with Generate's checks
//        (worker-download.js: the allowed origins, size, SHA-256; failures in words) and stored.
//        'gpu' loads on WebGPU after the self-test, else (no WebGPU, no adapter, a failed
//        self-test, a model the GPU executor does not run) on the CPU, with the reason
//   {type: 'run', start, end, done: [items...]}   scores items start..end (items already done are
//        kept, not scored again), reporting each
//   {type: 'cancel'}                               stops after the current item
//   {type: 'result', items, limit} / {type: 'link', items, limit} / {type: 'compare', link, items}
//   {type: 'item-view', index}
// Messages to the page, each {status, ...}:
//   progress {phase: 'verify' | 'download', loaded, total, bytes_per_s}   while the model is read
//   loaded {task, model_sha256, executor: "cpu" | "gpu: <adapter>", fallback: why the GPU was not
//   used or null}, item {index, item, tokens_run, elapsed_ms}, finished {cancelled},
//   answer {what, value}, error {message}

import { deleteModel, readModel, storeModel } from '../model-cache.js';
import { download, hashBytes } from '../worker-download.js';
import { adapterFacts, describe } from '../worker-util.js';

let wasm = null;
let evaluator = null;
let cancelled = false;

const post = (status, fields = {}) => self.postMessage({ status, ...fields });

async function engine() {
  if (wasm === null) {
    const module = await import('../pkg/verbatim.js');
    await module.default();
    wasm = module;
  }
  return wasm;
}

/**
 * The model's bytes: the verified copy in the Cache API, else downloaded (and stored) as Generate
 * does. `origins`: the model origins the site allows besides https: and its own (links.js).
 */
async function modelBytes(w, model, origins) {
  const io = { Hasher: w.Sha256Hasher, post };
  const cached = await readModel(model.sha256).catch(() => null);
  if (cached !== null) {
    if (cached.length === model.size && hashBytes(cached, 'verify', io) === model.sha256) return cached;
    await deleteModel(model.sha256).catch(() => {}); // damaged in storage: fetch it again
  }
  const bytes = await download(model, new AbortController().signal, io, origins);
  try {
    await storeModel(model.sha256, bytes);
  } catch (error) {
    // Scored all the same; downloaded again next time.
    console.warn(`The model could not be saved for next time (${describe(error)}).`);
  }
  return bytes;
}

/** The evaluator on WebGPU when asked and it passes the self-test, else on the CPU (with why). */
async function evaluatorFor(w, bytes, msg) {
  if (msg.executor === 'gpu') {
    try {
      return { ev: await w.WasmEvaluator.load_gpu(bytes, msg.model.id), fallback: null };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return { ev: new w.WasmEvaluator(bytes, msg.model.id), fallback: `the GPU could not be used (${why})` };
    }
  }
  return { ev: new w.WasmEvaluator(bytes, msg.model.id), fallback: null };
}

async function load(msg) {
  const w = await engine();
  const bytes = await modelBytes(w, msg.model, msg.origins ?? []);
  evaluator?.free();
  evaluator = null;
  const { ev, fallback } = await evaluatorFor(w, bytes, msg);
  if (ev.model_sha256() !== msg.model.sha256) {
    throw new Error(`The model file has SHA-256 ${ev.model_sha256()}, not ${msg.model.sha256}.`);
  }
  const task = ev.set_task(new Uint8Array(msg.task.bytes));
  evaluator = ev;
  let executor = ev.executor();
  if (executor.startsWith('gpu')) {
    // WebGPU gives the engine no adapter name: the browser's adapter info names it.
    const name = (await adapterFacts())?.name;
    if (name) executor = executor.replace(/^gpu: WebGPU adapter/, `gpu: ${name}`);
  }
  post('loaded', { task, model_sha256: ev.model_sha256(), executor, fallback });
}

async function run(msg) {
  cancelled = false;
  const t0 = performance.now();
  const tokens0 = evaluator.tokens_run();
  for (let i = msg.start; i < msg.end; i++) {
    if (cancelled) {
      post('finished', { cancelled: true });
      return;
    }
    const item = await evaluator.score_async(i);
    post('item', {
      index: i,
      item,
      tokens_run: evaluator.tokens_run() - tokens0,
      elapsed_ms: performance.now() - t0,
    });
    // Let a 'cancel' message in between items.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  post('finished', { cancelled: false });
}

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case 'load':
        await load(msg);
        break;
      case 'run':
        await run(msg);
        break;
      case 'cancel':
        cancelled = true;
        break;
      case 'result':
        post('answer', { what: 'result', value: evaluator.result(msg.items, msg.limit ?? undefined) });
        break;
      case 'link':
        post('answer', { what: 'link', value: evaluator.link(msg.items, msg.limit ?? undefined) });
        break;
      case 'compare':
        post('answer', { what: 'compare', value: evaluator.compare_link(msg.link, msg.items) });
        break;
      case 'item-view':
        post('answer', { what: 'item-view', value: evaluator.item_view(msg.index) });
        break;
      default:
        post('error', { message: `unknown request ${msg.type}` });
    }
  } catch (e) {
    post('error', { message: e instanceof Error ? e.message : String(e) });
  }
};
