// The golden corpus of spec exact-1 replayed by the wasm CPU executor in headless Chromium:
// token ids and per-step logits hashes must equal tests/golden/exact-1/expected.json (which the
// native test crate/tests/golden_exact.rs pins). CI runs a representative subset; set
// VERBATIM_GOLDEN_ALL=1 (make golden-browser-full) for every case. golden-gpu.test.mjs runs the
// same corpus on the WebGPU executor.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { requireModel, requireWasm } from './lib/env.mjs';
import { byModel, corpus, expected, runCasesInPage, selectCases } from './lib/golden.mjs';
import { startServer } from './lib/server.mjs';

// One case of each kind: chat, raw, unicode bytes, every sampler filter, penalty, 64-bit seed,
// stop string, and a long (~670-token) context.
const SUBSET = [
  'chat-capital', 'raw-cjk', 'raw-one-token', 'sample-t13-nofilter', 'sample-topk5', 'sample-topp05',
  'sample-minp02', 'sample-penalty', 'sample-bigseed', 'stop-string', 'long-greedy',
];
const cases = selectCases(SUBSET);

let server;
let browser;
let page;

before(async () => {
  requireWasm();
  for (const id of byModel(cases).keys()) requireModel(id);
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(server.url);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test(`golden corpus exact-1 in Chromium: ${cases.length} of ${corpus.cases.length} cases`, { timeout: 900_000 }, async () => {
  for (const [id, runs] of byModel(cases)) {
    const { entry } = requireModel(id);
    const { info, results } = await runCasesInPage(page, entry.file, runs, 'cpu');
    assert.equal(info.executor, 'cpu');
    for (const { id: caseId } of runs) {
      const want = expected.cases[caseId];
      assert.ok(want, `${caseId} has no expected outcome`);
      assert.deepEqual(results[caseId], want, `${caseId} differs from the native reference`);
    }
  }
});
