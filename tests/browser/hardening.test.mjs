// Hostile links and a failing engine (issue 16, items 1 and 4): model addresses other than https:
// (or the page's own site) are never fetched, by the page or by the worker, and are shown
// normalised; a Rust panic, a trap or a stuck worker ends in "the engine stopped", a fresh engine,
// the user's prompt and output kept, and Retry. The page is opened with ?test-hooks=1, which lets
// a test ask the worker for a genuine panic or a busy loop.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { axeViolations } from './lib/axe.mjs';
import { byTestId, errorText, generate, loadModel, openApp, preferCpu, waitForLoad, waitForLoadError } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, requireModel, requireWasm } from './lib/env.mjs';
import { wasmLinks } from './lib/links.mjs';
import { startServer } from './lib/server.mjs';

let server;
let browser;

before(async () => {
  requireWasm();
  requireModel();
  server = await startServer();
  browser = await launchBrowser();
  await preferCpu(browser.context);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Console errors other than the panic hook's own report of a panic the test asked for. */
const unexpected = (problems) => problems.filter((p) => !/panicked at|test panic requested|RuntimeError: unreachable/.test(p));

/** Waits until the engine has been restarted `n` times in all; resolves to the error box's text. */
async function engineStoppedMessage(page, n) {
  await page.waitForFunction((want) => Number(document.querySelector('[data-testid="app"]').dataset.engineRestarts ?? 0) >= want, n, {
    timeout: 20_000,
  });
  return errorText(page);
}

test('model addresses other than https: are shown escaped and fetched neither by the page nor by the worker', async () => {
  const { page, problems } = await openApp(browser.context, `${server.url}?test-hooks=1`);
  const requested = [];
  page.on('request', (request) => requested.push(request.url()));
  const wasm = await wasmLinks();
  const sha256 = 'ab'.repeat(32);
  let handled = Number((await page.getAttribute(byTestId('app'), 'data-links-handled')) ?? 0);
  const open = async (url) => {
    const payload = wasm.link_encode({ spec: 'exact-1', model: { id: 'stranger', sha256, url }, run: { prompt: 'x', chat: false, max_tokens: 4 } });
    await page.evaluate((p) => {
      location.hash = p;
    }, payload);
    handled += 1;
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.linksHandled) >= n, handled);
    assert.ok(await page.isVisible(byTestId('link-model-url-box')), url);
    return {
      shown: await page.textContent(byTestId('link-model-url')),
      refused: (await page.isVisible(byTestId('link-model-url-refused'))) ? await page.textContent(byTestId('link-model-url-refused')) : null,
      fetchable: await page.isVisible(byTestId('link-fetch-button')),
    };
  };

  for (const url of ['http://evil.example/m.gguf', 'javascript:alert(1)', 'data:application/octet-stream;base64,R0dVRg==']) {
    const got = await open(url);
    assert.equal(got.fetchable, false, url);
    assert.match(got.refused ?? '', /^It is not fetched: only https: addresses are fetched, and this one is (http|javascript|data):\.$/, url);
    assert.equal(got.shown, url);
  }
  // A right-to-left override in the host: not a valid address, shown with the override escaped.
  const bidi = await open('https://ex\u202Eample.com/m.gguf');
  assert.equal(bidi.fetchable, false);
  assert.equal(bidi.shown, 'https://ex\\u{202E}ample.com/m.gguf');
  assert.match(bidi.refused, /not a valid web address/);
  // An international host is shown in punycode, a zero-width space dropped, an override in the path escaped.
  const idn = await open('https://b\u00fccher.exa\u200bmple/m\u202egguf.exe');
  assert.equal(idn.fetchable, true);
  assert.equal(idn.shown, 'https://xn--bcher-kva.example/m%E2%80%AEgguf.exe');
  assert.equal(await page.textContent(byTestId('link-model-host')), 'xn--bcher-kva.example');

  // The worker checks again, whatever the page sends it.
  await page.evaluate((sha) => {
    window.verbatimTestHooks.post({ type: 'load-url', url: 'http://evil.example/m.gguf', sha256: sha, name: 'x', engine: 'exact', executor: 'cpu' });
  }, sha256);
  assert.equal(await waitForLoadError(page), 'That address is not fetched: only https: addresses are fetched, and this one is http:.');
  assert.ok(!requested.some((url) => /evil\.example|bücher|xn--/.test(url)), requested.join('\n'));
  assert.deepEqual(problems, []);
  await page.close();
});

test('a panic, a stuck engine and a file that used to panic: the engine restarts, the prompt and output stay', async () => {
  const { page, problems } = await openApp(browser.context, `${server.url}?test-hooks=1`);
  assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
  const first = await generate(page, { prompt: 'The capital of France is', chat: false, maxTokens: 3 });
  assert.equal(first.tokenIds.length, 3);
  await page.fill(byTestId('prompt'), 'my own prompt');

  // 1. A genuine Rust panic inside the worker.
  await page.evaluate(() => window.verbatimTestHooks.panic('from the browser test'));
  const panicked = await engineStoppedMessage(page, 1);
  assert.match(
    panicked,
    /^The engine stopped: it panicked \(.*test panic requested by the page: from the browser test\)\. Your prompt and output are kept\. Retry loads the model again in a fresh engine\.$/,
  );
  assert.equal(await page.inputValue(byTestId('prompt')), 'my own prompt');
  assert.equal(await page.textContent(byTestId('output')), first.text);
  assert.ok(await page.isHidden(byTestId('model-info')), 'no model is shown as loaded');
  await page.waitForSelector(`${byTestId('app')}[data-state="idle"]`);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'retry-button');
  await page.click(byTestId('retry-button'));
  assert.equal(await waitForLoad(page), 'cache', 'the saved model is kept');
  assert.deepEqual(await axeViolations(page), [], 'loaded');
  await page.waitForFunction(() => document.activeElement?.dataset.testid === 'prompt'); // focus after a load
  const again = await generate(page, { prompt: 'The capital of France is', chat: false, maxTokens: 3 });
  assert.deepEqual(again.tokenIds, first.tokenIds);

  // 2. A stuck engine: Stop ends it after the grace period.
  await page.fill(byTestId('prompt'), 'Once upon a time');
  await page.fill(byTestId('max-tokens'), '500');
  await page.click(byTestId('generate-button'));
  await page.waitForFunction(() => document.querySelector('[data-testid="output"]').textContent.length > 0, null, { timeout: 60_000 });
  await page.evaluate(() => window.verbatimTestHooks.hang(120_000));
  const started = Date.now();
  await page.click(byTestId('stop-button'));
  const stuck = await engineStoppedMessage(page, 2);
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
  assert.match(stuck, /^The engine stopped: it did not answer Stop within 3 s, so it was ended\. Your prompt and output are kept\./);
  const partial = await page.textContent(byTestId('output'));
  assert.ok(partial.length > 0);
  assert.match(await page.textContent(byTestId('stats')), /^The run stopped after \d+ tokens?: the engine stopped\.$/);
  assert.equal(await page.inputValue(byTestId('prompt')), 'Once upon a time');
  await page.waitForSelector(`${byTestId('app')}[data-state="idle"]`);

  // 3. A 57-byte GGUF with general.alignment = 0 (a division by zero in the reader): a clear error
  // or a contained panic, never a dead page; Retry is not offered for a file that cannot load.
  const key = Buffer.from('general.alignment');
  const file = Buffer.alloc(57);
  file.write('GGUF', 0);
  file.writeUInt32LE(3, 4); // version
  file.writeBigUInt64LE(0n, 8); // tensors
  file.writeBigUInt64LE(1n, 16); // metadata entries
  file.writeBigUInt64LE(BigInt(key.length), 24);
  key.copy(file, 32);
  file.writeUInt32LE(4, 49); // type u32
  file.writeUInt32LE(0, 53); // alignment 0
  await page.setInputFiles(byTestId('file-input'), { name: 'alignment-zero.gguf', mimeType: 'application/octet-stream', buffer: file });
  const refused = await waitForLoadError(page);
  assert.match(refused, /^(The model could not be loaded: .+|The engine stopped: it panicked \(.+\)\. Your prompt and output are kept\. A fresh engine has started\.)$/s);
  assert.ok(await page.isHidden(byTestId('retry-button')), 'retrying the same file cannot help');
  assert.equal(await page.inputValue(byTestId('prompt')), 'Once upon a time');
  assert.equal(await page.textContent(byTestId('output')), partial);
  await page.waitForSelector(`${byTestId('app')}[data-state="idle"]`);
  assert.deepEqual(unexpected(problems), []);
  await page.close();
});
