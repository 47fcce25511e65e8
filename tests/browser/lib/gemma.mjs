// The golden corpus of spec exact-2 (tests/golden/exact-2: Gemma 3 270M, a base model under the
// Gemma Terms of Use) for the browser tests, and a runner that replays its cases inside a page with
// the wasm engine and reports the engine's wasm memory (which only grows: its size is the peak).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './env.mjs';
import { runCasesInPage } from './golden.mjs';

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
 * Runs `runs` ([{id, options}]) on one model file inside `page`: golden.mjs's runner, which also
 * reports the engine's wasm memory ({info, results, ms, memory: {initial, loaded, peak}}, bytes).
 */
export const runExact2InPage = runCasesInPage;

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
