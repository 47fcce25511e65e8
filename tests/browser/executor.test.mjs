// Which executor runs the exact engine, and that the tokens do not depend on it. "Automatic" (the
// default) does not use a WebGPU adapter emulated in software (SwiftShader in this Chromium reports
// isFallbackAdapter) and runs on the CPU, saying so; on an adapter that is not emulated it times a
// few tokens on each executor and keeps the faster. "GPU" and "CPU" under "Executor" force one,
// are remembered, move the loaded model (prompt and output kept) and give the same tokens; a link
// made on the CPU replays exactly on the GPU and back; a browser without a WebGPU adapter, or whose
// GPU fails the start-up self-test, runs on the CPU and says why; a GPU lost in the middle of a
// run is reported, and "Retry on CPU" runs the same request on the CPU.
//
// Faults are injected the way a real GPU would show them, below the engine: the test serves the
// page's worker.js with a few lines in front that wrap the browser's WebGPU objects (destroy the
// device after the second token; flip one bit of the first read-back, which the self-test sees;
// an adapter that does not say it is emulated).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, errorText, generate, loadModel, openApp, openSettings, preferExecutor, waitForLoad } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

// Short and greedy: WebGPU on SwiftShader takes about a second per token.
const RUN = { prompt: 'The capital of France is', chat: false, maxTokens: 4 };
const CPU_CHOSEN = 'CPU (wasm; chosen under “Executor”)';
const AUTO_EMULATED = 'CPU: faster than this device’s WebGPU, which is emulated in software';
const GPU_LABEL = /^GPU \(WebGPU adapter .+, self-test passed in [\d.]+ s\)$/;
const LOAD_TIMEOUT_MS = 180_000;

let server;
let gpuBrowser; // WebGPU enabled: Automatic, then GPU and CPU chosen
let gpuPage;
let gpuProblems;
let onGpu; // RUN's result (made on the CPU by Automatic; the tests compare every executor with it)
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

/** Chooses `choice` under "Executor" and waits for the model to load again; resolves to the executor line. */
async function chooseExecutor(page, choice) {
  await page.selectOption(byTestId('executor-select'), choice);
  await page.waitForSelector(`${byTestId('app')}[data-state="loading"]`);
  await waitForLoad(page, LOAD_TIMEOUT_MS);
  return page.textContent(byTestId('executor'));
}

test('Automatic runs on the CPU here, because this WebGPU is emulated in software, and says so', async () => {
  gpuBrowser = await launchBrowser();
  ({ page: gpuPage, problems: gpuProblems } = await openApp(gpuBrowser.context, server.url));
  const page = gpuPage;
  assert.equal(await page.inputValue(byTestId('executor-select')), 'auto');
  assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
  assert.equal(await page.textContent(byTestId('executor')), AUTO_EMULATED);
  assert.equal(await page.getAttribute(byTestId('executor'), 'data-executor'), 'cpu');
  assert.equal(await page.textContent(byTestId('info-executor-short')), AUTO_EMULATED);
  assert.match(
    await page.textContent(byTestId('info-executor')),
    /^CPU \(wasm\), chosen automatically: this device’s WebGPU adapter \(.+\) is emulated in software \(it reports isFallbackAdapter\), which is far slower than the CPU\. Choose “GPU” under “Executor” to use it anyway; the tokens are the same\.$/,
  );
  onGpu = await generate(page, RUN);
  assert.equal(onGpu.tokenIds.length, RUN.maxTokens);
  assert.equal(await page.textContent(byTestId('run-executor')), 'Ran on the CPU (wasm).');
  await waitForLinkMade(page, 1);
  gpuLink = await page.inputValue(byTestId('link-text'));
  assert.deepEqual(gpuProblems, []);
});

test('choosing GPU or CPU moves the model, keeps the prompt and output, is remembered, and gives the same tokens', async () => {
  assert.ok(onGpu, 'needs the first test');
  const page = gpuPage;
  await page.fill(byTestId('prompt'), 'my own prompt');
  const output = await page.textContent(byTestId('output'));
  assert.match(await chooseExecutor(page, 'gpu'), GPU_LABEL);
  assert.equal(await page.getAttribute(byTestId('executor'), 'data-executor'), 'gpu');
  assert.match(await page.textContent(byTestId('info-executor')), /^GPU via WebGPU: .+ self-test passed in [\d.]+ s\.$/);
  assert.equal(await page.inputValue(byTestId('prompt')), 'my own prompt');
  assert.equal(await page.textContent(byTestId('output')), output);
  assert.equal(await page.evaluate(() => localStorage.getItem('verbatim.executor')), 'gpu');

  const got = await generate(page, RUN);
  assert.deepEqual(got.tokenIds, onGpu.tokenIds);
  assert.equal(got.text, onGpu.text);
  assert.equal(got.tokensHash, onGpu.tokensHash);
  assert.match(await page.textContent(byTestId('run-executor')), /^Ran on the GPU \(WebGPU adapter .+\)\.$/);

  // The link made on the CPU, opened afresh: the choice is remembered, and the run replays exactly on the GPU.
  await page.goto('about:blank'); // the address may hold this very link: make the next load a new one
  await page.goto(gpuLink);
  await waitForLoad(page, LOAD_TIMEOUT_MS);
  assert.equal(await page.inputValue(byTestId('executor-select')), 'gpu');
  assert.match(await page.textContent(byTestId('executor')), GPU_LABEL);
  const n = onGpu.tokenIds.length;
  const verdict = `Reproduced exactly: ${n}/${n} tokens (sha256 ${onGpu.tokensHash.slice(0, 16)})`;
  assert.equal(await replay(page), `${verdict} on the GPU`);
  assert.match(await page.textContent(byTestId('replay-executor')), /^Executor: GPU \(WebGPU adapter /);

  // CPU chosen: the same link replays on the CPU, with the verdict naming it.
  assert.equal(await chooseExecutor(page, 'cpu'), CPU_CHOSEN);
  assert.equal(await page.evaluate(() => localStorage.getItem('verbatim.executor')), 'cpu');
  assert.equal(await replay(page), `${verdict} on the CPU`);
  assert.equal(await page.textContent(byTestId('replay-executor')), `Executor: ${CPU_CHOSEN}`);

  // Automatic again: nothing stored, and the CPU for the same reason as before.
  assert.equal(await chooseExecutor(page, 'auto'), AUTO_EMULATED);
  assert.equal(await page.evaluate(() => localStorage.getItem('verbatim.executor')), null);
  assert.deepEqual(gpuProblems, []);
});

test('on a WebGPU adapter that is not emulated, Automatic times both executors and keeps the faster', async (t) => {
  assert.ok(onGpu, 'needs the first test');
  const browser = await launchBrowser();
  try {
    // SwiftShader without its isFallbackAdapter flag: timed like a real GPU (about a second a token here).
    await injectIntoWorker(
      browser.context,
      `Object.defineProperty(GPUAdapterInfo.prototype, 'isFallbackAdapter', { get: () => false });`,
    );
    const { page, problems } = await openApp(browser.context, server.url);
    assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
    assert.equal(await page.textContent(byTestId('executor')), 'CPU: faster than this device’s WebGPU, measured');
    const detail = await page.textContent(byTestId('info-executor'));
    const measured = /^CPU \(wasm\), chosen automatically as the faster: a decoded token took ([\d.,]+) ms on the GPU and ([\d.,]+) ms on the CPU \(adapter .+\)\. Choose “GPU” under “Executor” to use it anyway; the tokens are the same\.$/.exec(detail);
    assert.ok(measured, detail);
    t.diagnostic(detail);
    assert.ok(Number(measured[1].replace(/,/g, '')) > Number(measured[2].replace(/,/g, '')), detail);
    const got = await generate(page, RUN);
    assert.deepEqual(got.tokenIds, onGpu.tokenIds);
    assert.equal(got.tokensHash, onGpu.tokensHash);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
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
    await preferExecutor(browser.context, 'gpu');
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
    await preferExecutor(browser.context, 'gpu');
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
    assert.equal(await page.inputValue(byTestId('executor-select')), 'gpu', 'the choice stays as the user set it');

    // The same in a replay: the rerun's link, opened afresh, loads on the GPU again (still chosen)
    // and the device is lost after the second token; "Retry on CPU" beside the verdict replays
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
  // The model is saved in this profile: it loads at once (Automatic: on the CPU), then on the GPU.
  const { page, problems } = await openApp(gpuBrowser.context, `${server.url}?test-hooks=1`);
  assert.equal(await waitForLoad(page, LOAD_TIMEOUT_MS), 'cache');
  assert.match(await chooseExecutor(page, 'gpu'), GPU_LABEL);
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
