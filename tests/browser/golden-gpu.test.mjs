// The golden corpus of spec exact-1 on the WebGPU executor in headless Chromium (SwiftShader's
// CPU-emulated WebGPU adapter here): WasmModel.load_gpu (kernels compiled and self-tested first)
// and begin_async/step_async must give the token ids, per-step logits hashes, tokens hash, stop
// reason and text of tests/golden/exact-1/expected.json, bit for bit, exactly as the CPU executor
// does. The test fails, never falls back, if the page has no WebGPU adapter.
//
// Emulated WebGPU is slow (a few seconds to load, about a token per second), so CI runs two
// cases: a one-token raw prompt and a greedy chat answer to EOS (the sampled cases take the same
// logits through the same sampler; lavapipe replays them natively in `make test-gpu`).
// VERBATIM_GOLDEN_ALL=1 runs every case (long: the ~670-token contexts take many minutes).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { requireModel, requireWasm } from './lib/env.mjs';
import { byModel, corpus, expected, runCasesInPage, selectCases } from './lib/golden.mjs';
import { startServer } from './lib/server.mjs';

const SUBSET = ['raw-one-token', 'chat-capital'];
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

test(
  `golden corpus exact-1 on WebGPU in Chromium: ${cases.length} of ${corpus.cases.length} cases`,
  { timeout: process.env.VERBATIM_GOLDEN_ALL ? 7_200_000 : 600_000 },
  async (t) => {
    for (const [id, runs] of byModel(cases)) {
      const { entry } = requireModel(id);
      const { info, results, ms } = await runCasesInPage(page, entry.file, runs, 'gpu');
      assert.match(info.executor, /^gpu/, 'the model must run on the GPU executor');
      assert.equal(typeof info.gpu_selftest_ms, 'number');
      for (const { id: caseId } of runs) {
        const want = expected.cases[caseId];
        assert.ok(want, `${caseId} has no expected outcome`);
        assert.deepEqual(results[caseId], want, `${caseId} on ${info.executor} differs from the native CPU reference`);
      }
      t.diagnostic(`${info.executor}: self-test ${Math.round(info.gpu_selftest_ms)} ms; ${Object.entries(ms).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
    }
  },
);
