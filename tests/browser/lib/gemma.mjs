// The golden corpus of spec exact-2 (tests/golden/exact-2: Gemma 3 270M, a base model under the
// Gemma Terms of Use) for the browser tests, and a runner that replays its cases inside a page with
// the wasm engine and reports the engine's wasm memory (which only grows: its size is the peak).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './env.mjs';

export const GEMMA_ID = 'gemma-3-270m-q4_k_m';
const GOLDEN = join(REPO_ROOT, 'tests/golden/exact-2');
export const corpus2 = JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8'));
export const expected2 = JSON.parse(readFileSync(join(GOLDEN, 'expected.json'), 'utf8'));

/** The exact-2 cases named in `subset` (every case with VERBATIM_GOLDEN_ALL=1), in corpus order. */
export function selectExact2Cases(subset) {
  if (process.env.VERBATIM_GOLDEN_ALL) return corpus2.cases;
  const unknown = subset.filter((id) => !corpus2.cases.some((c) => c.id === id));
  if (unknown.length > 0) throw new Error(`not in the exact-2 golden corpus: ${unknown.join(', ')}`);
  return corpus2.cases.filter((c) => subset.includes(c.id));
}

/**
 * Runs `runs` ([{id, options}]) on one model file inside `page` (on the site that serves www/ and
 * /models/): executor 'cpu' (WasmModel.load + begin/step) or 'gpu' (load_gpu + the async API).
 * Resolves to {info, results: {case id -> outcome as in expected.json}, ms, memory: {initial,
 * loaded, peak}} (wasm memory in bytes).
 */
export function runExact2InPage(page, modelFile, runs, executor) {
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

/** Accepts Gemma's terms in every page of `context` before it starts (as a person did earlier). */
export function acceptGemmaTerms(context) {
  return context.addInitScript((id) => {
    try {
      const key = 'verbatim.terms-accepted';
      const stored = JSON.parse(localStorage.getItem(key) ?? '{}');
      if (!(id in stored)) localStorage.setItem(key, JSON.stringify({ ...stored, [id]: 'https://ai.google.dev/gemma/terms' }));
    } catch {
      // a document without storage (about:blank)
    }
  }, GEMMA_ID);
}
