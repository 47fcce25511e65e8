// The page itself: it starts cleanly, lists the manifest's models, keeps to its
// Content-Security-Policy, and opens local files (file picker and drag-and-drop).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, errorText, openApp, preferCpu, waitForLoad, waitForLoadError } from './lib/app.mjs';
import { readManifest, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

let server;
let browser;

before(async () => {
  requireWasm();
  server = await startServer();
  browser = await launchBrowser();
  await preferCpu(browser.context); // executor.test.mjs covers WebGPU
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the page loads with no console errors and lists every model of the manifest', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  const manifest = readManifest();

  const rows = page.locator(`${byTestId('model-list')} .model`);
  assert.equal(await rows.count(), manifest.models.length);
  for (const model of manifest.models) {
    const row = page.locator(byTestId(`model-${model.id}`));
    assert.equal(await row.locator(byTestId('model-name')).textContent(), model.name);
    const meta = await row.locator(byTestId('model-meta')).textContent();
    assert.ok(meta.includes(`${(model.size / 1e6).toFixed(1)} MB`), meta);
    const licence = row.locator(byTestId('model-license'));
    assert.equal(await licence.textContent(), `Licence: ${model.license}`);
    assert.equal(await licence.getAttribute('href'), new URL(model.license_url).href);
    assert.equal(await row.locator('input[type="radio"]').isChecked(), model.default === true);
  }
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
  assert.equal(await errorText(page), null);
  assert.ok(await page.isEnabled(byTestId('load-button')));
  // Generate is the main action even before a model is loaded: it says what it will download first.
  assert.ok(await page.isEnabled(byTestId('generate-button')));
  assert.equal(
    await page.textContent(byTestId('generate-why')),
    'Generate first downloads SmolLM2-135M-Instruct (Q4_1) (98.4 MB) once; it is then saved in this browser.',
  );
  assert.deepEqual(problems, []);
  await page.close();
});

test('the page runs under a CSP without inline script or style, and every control has a label', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  const response = await page.request.get(server.url);
  assert.match(response.headers()['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval'/);
  const audit = await page.evaluate(() => ({
    inlineScripts: [...document.scripts].filter((s) => !s.src).length,
    styleElements: document.querySelectorAll('style').length,
    styleAttributes: document.querySelectorAll('[style]').length,
    unlabelled: [...document.querySelectorAll('input, textarea, select')]
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.outerHTML),
  }));
  assert.deepEqual(audit, { inlineScripts: 0, styleElements: 0, styleAttributes: 0, unlabelled: [] });

  // Keyboard: Tab reaches the prompt, Generate, the model choice and the load button.
  const reached = new Set();
  for (let i = 0; i < 24; i++) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => document.activeElement?.dataset.testid ?? document.activeElement?.tagName));
  }
  assert.ok(reached.has('model-option-smollm2-135m-instruct-q4_1'), [...reached].join(', '));
  assert.ok(reached.has('load-button'), [...reached].join(', '));
  assert.ok(reached.has('prompt') && reached.has('generate-button'), [...reached].join(', '));
  assert.deepEqual(problems, []);
  await page.close();
});

test('a dropped file that is not a GGUF model is refused in plain words', async () => {
  const { page } = await openApp(browser.context, server.url);
  const dataTransfer = await page.evaluateHandle(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['<b>not a model</b>'], 'notes.gguf'));
    return transfer;
  });
  await page.dispatchEvent(byTestId('drop-zone'), 'drop', { dataTransfer });
  const message = await waitForLoadError(page);
  assert.match(message, /^The model could not be loaded: /);
  assert.ok(await page.isHidden(byTestId('retry-button')), 'retrying the same file cannot help');
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
  await page.close();
});

test('a local GGUF opened with the file picker loads and is recognised by its hash', async () => {
  const { entry, path } = requireModel();
  const { page, problems } = await openApp(browser.context, server.url);
  await page.setInputFiles(byTestId('file-input'), path);
  assert.equal(await waitForLoad(page), 'file');
  assert.equal(await page.textContent(byTestId('info-sha256')), entry.sha256);
  assert.match(await page.textContent(byTestId('info-source')), new RegExp(`identical to ${entry.name.replace(/[()]/g, '\\$&')}`));
  assert.equal(server.requestsTo('/models/cache/').length, 0, 'a local file needs no download');
  assert.match(await page.textContent(byTestId('engine')), /^exact integer engine \(exact-\d+\)$/);
  assert.equal(await page.textContent(byTestId('executor')), 'CPU (wasm; “Use the CPU only” is on)');
  assert.deepEqual(problems, []);
  await page.close();
});
