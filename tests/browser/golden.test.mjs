// The golden corpus of spec exact-1 replayed by the wasm CPU executor in headless Chromium:
// token ids and per-step logits hashes must equal tests/golden/exact-1/expected.json (which the
// native test crate/tests/golden_exact.rs pins). CI runs a representative subset; set
// VERBATIM_GOLDEN_ALL=1 (make golden-browser-full) for every case.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { REPO_ROOT, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const GOLDEN = join(REPO_ROOT, 'tests/golden/exact-1');
const corpus = JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8'));
const expected = JSON.parse(readFileSync(join(GOLDEN, 'expected.json'), 'utf8'));

// One case of each kind: chat, raw, unicode bytes, every sampler filter, penalty, 64-bit seed,
// stop string, and a long (~670-token) context.
const SUBSET = [
  'chat-capital', 'raw-cjk', 'raw-one-token', 'sample-t13-nofilter', 'sample-topk5', 'sample-topp05',
  'sample-minp02', 'sample-penalty', 'sample-bigseed', 'stop-string', 'long-greedy',
];
const cases = process.env.VERBATIM_GOLDEN_ALL ? corpus.cases : corpus.cases.filter((c) => SUBSET.includes(c.id));

let server;
let browser;
let page;

before(async () => {
  requireWasm();
  const models = new Set(cases.map((c) => c.model));
  for (const id of models) requireModel(id);
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(server.url);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs every case of one model inside the page, on the wasm CPU executor. */
async function runInPage(modelFile, runs) {
  return page.evaluate(
    async ({ modelFile, runs }) => {
      const wasm = await import('./pkg/verbatim.js');
      await wasm.default();
      const bytes = new Uint8Array(await (await fetch(`models/cache/${modelFile}`)).arrayBuffer());
      const model = wasm.WasmModel.load(bytes, 'exact');
      const out = {};
      for (const { id, options } of runs) {
        const { prompt_tokens } = model.begin(options);
        const token_ids = [];
        const logits_hashes = [];
        let text = '';
        let step;
        do {
          step = model.step();
          token_ids.push(step.token_id);
          logits_hashes.push(step.logits_hash);
          text += step.text;
        } while (!step.done);
        out[id] = { prompt_tokens, token_ids, logits_hashes, tokens_hash: step.tokens_hash, stop_reason: step.reason, text };
      }
      model.free();
      return out;
    },
    { modelFile, runs },
  );
}

test(`golden corpus exact-1 in Chromium: ${cases.length} of ${corpus.cases.length} cases`, { timeout: 900_000 }, async () => {
  const byModel = new Map();
  for (const c of cases) {
    if (!byModel.has(c.model)) byModel.set(c.model, []);
    byModel.get(c.model).push({ id: c.id, options: c.options });
  }
  for (const [id, runs] of byModel) {
    const { entry } = requireModel(id);
    const got = await runInPage(entry.file, runs);
    for (const { id: caseId } of runs) {
      const want = expected.cases[caseId];
      assert.ok(want, `${caseId} has no expected outcome`);
      assert.deepEqual(got[caseId], want, `${caseId} differs from the native reference`);
    }
  }
});
