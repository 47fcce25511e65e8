// The golden corpus of spec exact-1 (tests/golden/exact-1) and a runner that replays its cases
// inside a page with the wasm engine, on the CPU executor (sync API) or on WebGPU (async API).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './env.mjs';

const GOLDEN = join(REPO_ROOT, 'tests/golden/exact-1');
export const corpus = JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8'));
export const expected = JSON.parse(readFileSync(join(GOLDEN, 'expected.json'), 'utf8'));

/** The corpus cases named in `subset` (all of them with VERBATIM_GOLDEN_ALL=1), in corpus order. */
export function selectCases(subset) {
  if (process.env.VERBATIM_GOLDEN_ALL) return corpus.cases;
  const unknown = subset.filter((id) => !corpus.cases.some((c) => c.id === id));
  if (unknown.length > 0) throw new Error(`not in the golden corpus: ${unknown.join(', ')}`);
  return corpus.cases.filter((c) => subset.includes(c.id));
}

/** Cases grouped by model id: Map(model id -> [{id, options}]). */
export function byModel(cases) {
  const groups = new Map();
  for (const c of cases) {
    if (!groups.has(c.model)) groups.set(c.model, []);
    groups.get(c.model).push({ id: c.id, options: c.options });
  }
  return groups;
}

/**
 * Runs `runs` ([{id, options}]) on one model file inside `page` (which must be on the site that
 * serves www/ and /models/). executor 'cpu': WasmModel.load + begin/step; 'gpu': load_gpu +
 * begin_async/step_async. Resolves to {info, results: {case id -> outcome as in expected.json},
 * ms: {case id -> milliseconds}, memory: {initial, loaded, peak}} (the engine's wasm memory in
 * bytes; it only grows, so its size is the peak).
 */
export function runCasesInPage(page, modelFile, runs, executor) {
  return page.evaluate(
    async ({ modelFile, runs, executor }) => {
      const wasm = await import('./pkg/verbatim.js');
      const exports = await wasm.default();
      const memory = () => exports.memory.buffer.byteLength;
      const initial = memory();
      const bytes = new Uint8Array(await (await fetch(`models/cache/${modelFile}`)).arrayBuffer());
      const gpu = executor === 'gpu';
      const model = gpu ? await wasm.WasmModel.load_gpu(bytes) : wasm.WasmModel.load(bytes, 'exact');
      const loaded = memory();
      const plain = (v) => (v instanceof Map ? Object.fromEntries(v) : v);
      const results = {};
      const ms = {};
      try {
        for (const { id, options } of runs) {
          const started = performance.now();
          const { prompt_tokens } = plain(gpu ? await model.begin_async(options) : model.begin(options));
          const token_ids = [];
          const logits_hashes = [];
          let text = '';
          let step;
          do {
            step = plain(gpu ? await model.step_async() : model.step());
            token_ids.push(step.token_id);
            logits_hashes.push(step.logits_hash);
            text += step.text;
          } while (!step.done);
          results[id] = { prompt_tokens, token_ids, logits_hashes, tokens_hash: step.tokens_hash, stop_reason: step.reason, text };
          ms[id] = Math.round(performance.now() - started);
        }
        return { info: plain(model.info()), results, ms, memory: { initial, loaded, peak: memory() } };
      } finally {
        model.free();
      }
    },
    { modelFile, runs, executor },
  );
}
