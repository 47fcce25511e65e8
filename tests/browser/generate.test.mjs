// Greedy generation in the browser (wasm engine in the worker) must give exactly the native CLI's
// tokens and text for the same model and prompt, raw and through the chat template. Also: Stop.
// These run on the CPU executor ("CPU" under "Executor"); executor.test.mjs covers WebGPU.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, generate, loadModel, openApp, preferCpu, waitForLoad } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, REPO_ROOT, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const MAX_TOKENS = 24;
const CASES = [
  { name: 'raw prompt', prompt: 'The capital of France is', chat: false },
  { name: 'chat template', prompt: 'What is the capital of France?', chat: true },
];

let server;
let browser;
let page;
let problems;
let native; // CASES' native results, computed while the browser starts

/** The native CLI's greedy result: {token_ids, text, ...}. */
async function nativeGenerate({ prompt, chat }) {
  const args = ['generate', '--model', DEFAULT_MODEL_ID, '--prompt', prompt, '--max-tokens', String(MAX_TOKENS), '--json'];
  if (chat) args.push('--chat');
  const { stdout } = await promisify(execFile)(requireNativeBinary(), args, { cwd: REPO_ROOT, maxBuffer: 1 << 24 });
  return JSON.parse(stdout);
}

before(async () => {
  requireWasm();
  requireModel(DEFAULT_MODEL_ID);
  requireNativeBinary();
  // One native run at a time: the machine may have few cores, and the browser needs one.
  const nativeRuns = (async () => {
    const results = [];
    for (const c of CASES) results.push(await nativeGenerate(c));
    return results;
  })();
  server = await startServer();
  browser = await launchBrowser();
  await preferCpu(browser.context);
  ({ page, problems } = await openApp(browser.context, server.url));
  await loadModel(page, DEFAULT_MODEL_ID);
  native = await nativeRuns;
});

after(async () => {
  await browser?.close();
  await server?.close();
});

for (const [i, c] of CASES.entries()) {
  test(`greedy output equals the native CLI's (${c.name})`, async () => {
    const expected = native[i];
    assert.ok(expected.token_ids.length > 0, 'the native CLI generated nothing');
    const got = await generate(page, { prompt: c.prompt, chat: c.chat, maxTokens: MAX_TOKENS });
    assert.deepEqual(got.tokenIds, expected.token_ids);
    assert.equal(got.text, expected.text);
    assert.equal(got.tokensHash, expected.tokens_hash);
    const engine = await page.textContent(byTestId('engine'));
    assert.ok(engine.startsWith(`${expected.engine} `) && engine.includes(`(${expected.spec})`), `page: ${engine}; CLI: ${expected.engine} ${expected.spec}`);
    assert.equal(await page.textContent(byTestId('executor')), 'CPU (wasm; chosen under “Executor”)');
    assert.equal(await page.textContent(byTestId('run-executor')), 'Ran on the CPU (wasm).');
    assert.match(got.stats, new RegExp(`^${expected.token_ids.length} tokens? in [\\d.]+ s · [\\d.]+ tokens/s`));
    assert.deepEqual(problems, []);
  });
}

test('Stop ends a generation between two tokens', async () => {
  await page.fill(byTestId('prompt'), 'Write a long story about a lighthouse keeper.');
  await page.setChecked(byTestId('chat-toggle'), true);
  await page.fill(byTestId('max-tokens'), '2000');
  const runs = Number((await page.getAttribute(byTestId('app'), 'data-runs')) ?? 0);
  await page.click(byTestId('generate-button'));
  await page.waitForFunction(() => document.querySelector('[data-testid="output"]').textContent.length > 0);
  await page.click(byTestId('stop-button'));
  await page.waitForFunction((before) => Number(document.querySelector('[data-testid="app"]').dataset.runs) > before, runs);
  assert.match(await page.textContent(byTestId('stats')), /; stopped\.$/);
  const ids = (await page.textContent(byTestId('token-ids'))).trim().split(' ');
  assert.ok(ids.length < 2000, `${ids.length} tokens`);
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'ready');
  assert.deepEqual(problems, []);
});

test('choosing the float engine loads the model again on it', async () => {
  await page.selectOption(byTestId('engine-select'), 'float');
  await page.waitForSelector(`${byTestId('app')}[data-state="loading"]`);
  assert.equal(await waitForLoad(page), 'cache');
  assert.equal(await page.textContent(byTestId('engine')), 'float reference (candle)');
  assert.equal(await page.textContent(byTestId('executor')), 'CPU (wasm; the float reference runs on the CPU only)');
  const got = await generate(page, { prompt: CASES[0].prompt, chat: false, maxTokens: 4 });
  assert.equal(got.tokenIds.length, 4);
  assert.deepEqual(problems, []);
});
