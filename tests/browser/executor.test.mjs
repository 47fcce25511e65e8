// Which executor runs the exact engine, and that the tokens do not depend on it: the page uses
// WebGPU by default (SwiftShader's emulated adapter in this Chromium) and says so; "Use the CPU
// only" moves the loaded model to the CPU (prompt and output kept) and gives the same tokens; a
// link made on the GPU replays exactly on the CPU and back; a browser without a WebGPU adapter,
// or whose GPU fails the start-up self-test, runs on the CPU and says why; a GPU lost in the
// middle of a run is reported, and "Retry on CPU" runs the same request on the CPU.
//
// Faults are injected the way a real GPU would show them, below the engine: the test serves the
// page's worker.js with a few lines in front that wrap the browser's WebGPU objects (destroy the
// device after the second token; flip one bit of the first read-back, which the self-test sees).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, errorText, generate, loadModel, openApp, openSettings, waitForLoad } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

// Short and greedy: WebGPU on SwiftShader takes about a second per token.
const RUN = { prompt: 'The capital of France is', chat: false, maxTokens: 4 };
const CPU_SWITCH = 'CPU (wasm; “Use the CPU only” is on)';
const GPU_LABEL = /^GPU \(WebGPU adapter .+, self-test passed in [\d.]+ s\)$/;
const LOAD_TIMEOUT_MS = 180_000;

let server;
let gpuBrowser; // WebGPU enabled: the default, then the CPU switch
let gpuPage;
let gpuProblems;
let onGpu; // RUN's result on the GPU
let gpuLink; // the link that run made

before(async () => {
  requireWasm();
  requireModel(DEFAULT_MODEL_ID);
  server = await startServer();
});

after(async () => {
  await gpuBrowser?.close();
  await server?.close();
});

/** Waits until the page has made `count` links in all (data-link-made). */
async function waitForLinkMade(page, count) {
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.linkMade ?? 0) >= n, count);
}

/** Clicks Replay; resolves to the verdict line. */
async function replay(page) {
  await page.waitForSelector(`${byTestId('replay-button')}:not([disabled])`, { timeout: LOAD_TIMEOUT_MS });
  return replayAfter(page, () => page.click(byTestId('replay-button')));
}

/** Does `action`, then waits for the replay it starts to end; resolves to the verdict line. */
async function replayAfter(page, action) {
  const before = Number((await page.getAttribute(byTestId('app'), 'data-replays')) ?? 0);
  await action();
  await page.waitForFunction(
    (n) =>
      Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > n ||
      !document.querySelector('[data-testid="error"]').hidden,
    before,
    { timeout: LOAD_TIMEOUT_MS },
  );
  return page.textContent(byTestId('replay-result'));
}

/** Serves worker.js with `prelude` in front of it, for every page of `context`. */
async function injectIntoWorker(context, prelude) {
  await context.route('**/worker.js', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: `${prelude}\n${await response.text()}` });
  });
}

test('the page runs the exact engine on WebGPU by default and says so', async () => {
  gpuBrowser = await launchBrowser();
  ({ page: gpuPage, problems: gpuProblems } = await openApp(gpuBrowser.context, server.url));
  const page = gpuPage;
  assert.equal(await page.isChecked(byTestId('cpu-only')), false);
  assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
  assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
  assert.equal(await page.getAttribute(byTestId('executor'), 'data-executor'), 'gpu');
  assert.match(await page.textContent(byTestId('info-executor')), /^GPU via WebGPU: .+ self-test passed in [\d.]+ s\.$/);
  onGpu = await generate(page, RUN);
  assert.equal(onGpu.tokenIds.length, RUN.maxTokens);
  assert.match(await page.textContent(byTestId('run-executor')), /^Ran on the GPU \(WebGPU adapter .+\)\.$/);
  await waitForLinkMade(page, 1);
  gpuLink = await page.inputValue(byTestId('link-text'));
  assert.deepEqual(gpuProblems, []);
});

test('“Use the CPU only” reloads the model on the CPU, keeps the prompt and output, and gives the same tokens', async () => {
  assert.ok(onGpu, 'needs the first test');
  const page = gpuPage;
  await page.fill(byTestId('prompt'), 'my own prompt');
  const output = await page.textContent(byTestId('output'));
  await page.check(byTestId('cpu-only'));
  await page.waitForSelector(`${byTestId('app')}[data-state="loading"]`);
  assert.equal(await waitForLoad(page), 'cache');
  assert.equal(await page.textContent(byTestId('executor')), CPU_SWITCH);
  assert.equal(await page.inputValue(byTestId('prompt')), 'my own prompt');
  assert.equal(await page.textContent(byTestId('output')), output);
  assert.equal(await page.evaluate(() => localStorage.getItem('verbatim.executor')), 'cpu');

  const onCpu = await generate(page, RUN);
  assert.deepEqual(onCpu.tokenIds, onGpu.tokenIds);
  assert.equal(onCpu.text, onGpu.text);
  assert.equal(onCpu.tokensHash, onGpu.tokensHash);
  assert.equal(await page.textContent(byTestId('run-executor')), 'Ran on the CPU (wasm).');

  // The link made on the GPU, opened afresh: the switch is remembered, and the run replays exactly.
  await page.goto('about:blank'); // the address may hold this very link: make the next load a new one
  await page.goto(gpuLink);
  await waitForLoad(page, LOAD_TIMEOUT_MS);
  assert.equal(await page.isChecked(byTestId('cpu-only')), true);
  assert.equal(await page.textContent(byTestId('executor')), CPU_SWITCH);
  const n = onGpu.tokenIds.length;
  const verdict = `Reproduced exactly: ${n}/${n} tokens (sha256 ${onGpu.tokensHash.slice(0, 16)})`;
  assert.equal(await replay(page), `${verdict} on the CPU`);
  assert.equal(await page.textContent(byTestId('replay-executor')), `Executor: ${CPU_SWITCH}`);

  // Switched off again: back on the GPU, where the same link replays with the verdict naming it.
  await page.uncheck(byTestId('cpu-only'));
  await page.waitForSelector(`${byTestId('app')}[data-state="loading"]`);
  await waitForLoad(page, LOAD_TIMEOUT_MS);
  assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
  assert.equal(await page.evaluate(() => localStorage.getItem('verbatim.executor')), null);
  assert.equal(await replay(page), `${verdict} on the GPU`);
  assert.match(await page.textContent(byTestId('replay-executor')), /^Executor: GPU \(WebGPU adapter /);
  assert.deepEqual(gpuProblems, []);
});

test('without a WebGPU adapter the page runs on the CPU, says why, and gives the same tokens', async () => {
  assert.ok(onGpu, 'needs the first test');
  const browser = await launchBrowser({ webgpu: false });
  try {
    const { page, problems } = await openApp(browser.context, server.url);
    assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
    assert.equal(await page.textContent(byTestId('executor')), 'CPU (no usable GPU here)');
    assert.equal(await page.textContent(byTestId('info-executor-short')), 'CPU (no usable GPU here)');
    assert.match(await page.textContent(byTestId('info-executor')), /^CPU \(wasm\): WebGPU unavailable: .+\. The tokens are the same as on a GPU\.$/);
    const got = await generate(page, RUN);
    assert.deepEqual(got.tokenIds, onGpu.tokenIds);
    assert.equal(got.tokensHash, onGpu.tokensHash);
    assert.equal(await page.textContent(byTestId('run-executor')), 'Ran on the CPU (wasm).');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a GPU that fails the start-up self-test is not used: the CPU runs, and the page says why', async () => {
  assert.ok(onGpu, 'needs the first test');
  const browser = await launchBrowser();
  try {
    // The first buffer read back from the GPU (a self-test kernel's output) gets one bit flipped.
    await injectIntoWorker(
      browser.context,
      `{
        const getMappedRange = GPUBuffer.prototype.getMappedRange;
        let flipped = false;
        GPUBuffer.prototype.getMappedRange = function (...args) {
          const range = getMappedRange.apply(this, args);
          if (!flipped && this.usage & GPUBufferUsage.MAP_READ) {
            flipped = true;
            new Uint8Array(range)[0] ^= 1;
          }
          return range;
        };
      }`,
    );
    const { page, problems } = await openApp(browser.context, server.url);
    assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
    assert.equal(await page.textContent(byTestId('executor')), 'CPU (no usable GPU here)');
    assert.match(await page.textContent(byTestId('info-executor')), /^CPU \(wasm\): GPU failed the self-test: .*got [0-9a-f]+, want [0-9a-f]+.*\. The tokens are the same as on a GPU\.$/);
    const got = await generate(page, RUN);
    assert.deepEqual(got.tokenIds, onGpu.tokenIds);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a GPU lost during a run or a replay is reported, and “Retry on CPU” runs the same request on the CPU', async () => {
  assert.ok(onGpu, 'needs the first test');
  const browser = await launchBrowser();
  try {
    // The device is destroyed (as when a driver resets) right after the second token arrives.
    await injectIntoWorker(
      browser.context,
      `{
        const devices = [];
        const requestDevice = GPUAdapter.prototype.requestDevice;
        GPUAdapter.prototype.requestDevice = async function (...args) {
          const device = await requestDevice.apply(this, args);
          devices.push(device);
          return device;
        };
        const postMessage = self.postMessage.bind(self);
        self.postMessage = (message, ...rest) => {
          postMessage(message, ...rest);
          if (message?.status === 'token' && message.n === 2) for (const device of devices) device.destroy();
        };
      }`,
    );
    const { page, problems } = await openApp(browser.context, server.url);
    assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
    assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
    await page.fill(byTestId('prompt'), RUN.prompt);
    await page.setChecked(byTestId('chat-toggle'), RUN.chat);
    await openSettings(page);
    await page.fill(byTestId('max-tokens'), String(RUN.maxTokens));
    await page.click(byTestId('generate-button'));
    await page.waitForSelector(byTestId('gpu-failure'), { timeout: LOAD_TIMEOUT_MS });
    const message = await page.textContent(byTestId('gpu-failure-message'));
    assert.match(message, /^The GPU failed during the run: .*device was lost.*The run can be retried on the CPU, which gives the same tokens\.$/);
    assert.equal(await page.textContent(byTestId('stats')), 'The run stopped: the GPU failed.');
    assert.match(await page.textContent(byTestId('run-executor')), /^Ran on the GPU \(WebGPU adapter .+\) until it failed\.$/);
    assert.ok(await page.isHidden(byTestId('error')), 'one message, beside the run');
    assert.ok(await page.isHidden(byTestId('model-info')), 'the model was unloaded');
    assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');

    // The form is changed meanwhile: the retry still runs the request that failed.
    await page.fill(byTestId('prompt'), 'something else');
    const runs = Number((await page.getAttribute(byTestId('app'), 'data-runs')) ?? 0);
    await page.click(byTestId('retry-cpu-button'));
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.runs ?? 0) > n, runs, {
      timeout: LOAD_TIMEOUT_MS,
    });
    assert.ok(await page.isHidden(byTestId('gpu-failure')));
    assert.equal(await page.textContent(byTestId('executor')), 'CPU (wasm; loaded on the CPU after the GPU failed)');
    assert.match(await page.textContent(byTestId('info-executor')), /^CPU \(wasm\), loaded again after the GPU failed during a run \(the executor failed: .*lost.*\)\.$/);
    assert.equal(await page.textContent(byTestId('output')), onGpu.text);
    assert.equal((await page.textContent(byTestId('token-ids'))).trim(), onGpu.tokenIds.join(' '));
    assert.equal(await page.textContent(byTestId('tokens-hash')), onGpu.tokensHash);
    assert.equal(await page.inputValue(byTestId('prompt')), 'something else', 'the prompt box is the user’s');
    assert.equal(await page.isChecked(byTestId('cpu-only')), false, 'the switch stays as the user set it');

    // The same in a replay: the rerun's link, opened afresh, loads on the GPU again (the switch is
    // off) and the device is lost after the second token; "Retry on CPU" beside the verdict replays
    // on the CPU.
    await waitForLinkMade(page, 1);
    const link = await page.inputValue(byTestId('link-text'));
    await page.goto('about:blank');
    await page.goto(link);
    await waitForLoad(page, LOAD_TIMEOUT_MS);
    assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
    await page.waitForSelector(`${byTestId('replay-button')}:not([disabled])`);
    await page.click(byTestId('replay-button'));
    await page.waitForSelector(byTestId('replay-gpu-failure'), { timeout: LOAD_TIMEOUT_MS });
    assert.match(await page.textContent(byTestId('replay-gpu-failure-message')), /^The GPU failed during the run: .*device was lost/);
    assert.equal(await page.textContent(byTestId('replay-result')), 'The replay stopped: the GPU failed.');
    assert.ok(await page.isHidden(byTestId('gpu-failure')), 'said once, where the replay is');
    const verdict = await replayAfter(page, () => page.click(byTestId('replay-retry-cpu-button')));
    const n = onGpu.tokenIds.length;
    assert.equal(verdict, `Reproduced exactly: ${n}/${n} tokens (sha256 ${onGpu.tokensHash.slice(0, 16)}) on the CPU`);
    assert.ok(await page.isHidden(byTestId('replay-gpu-failure')));
    assert.equal(await page.textContent(byTestId('replay-executor')), 'Executor: CPU (wasm; loaded on the CPU after the GPU failed)');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('a panic while the GPU is in use: a fresh engine, and Retry loads the model on the CPU', async () => {
  assert.ok(onGpu, 'needs the first test');
  // The model is saved in this profile and "Use the CPU only" is off: it loads on the GPU at once.
  const { page, problems } = await openApp(gpuBrowser.context, `${server.url}?test-hooks=1`);
  assert.equal(await waitForLoad(page, LOAD_TIMEOUT_MS), 'cache');
  assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
  await page.evaluate(() => window.verbatimTestHooks.panic('on the GPU'));
  await page.waitForFunction(() => document.querySelector('[data-testid="app"]').dataset.engineRestarts === '1');
  assert.match(await errorText(page), /^The engine stopped: it panicked \(.*on the GPU\)\. Your prompt and output are kept\. Retry loads the model again on the CPU in a fresh engine\.$/);
  await page.click(byTestId('retry-button'));
  assert.equal(await waitForLoad(page, LOAD_TIMEOUT_MS), 'cache');
  assert.equal(await page.textContent(byTestId('executor')), 'CPU (wasm; loaded on the CPU after the GPU failed)');
  assert.deepEqual(
    problems.filter((p) => !/panicked at|test panic requested|RuntimeError: unreachable/.test(p)),
    [],
  );
  await page.close();
});
