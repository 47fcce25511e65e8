// Downloading a manifest model: progress, SHA-256 verification while the bytes arrive, the
// Cache API copy that makes a reload start without network, and every way a download can fail
// (corrupt file, HTTP 404, network error) leaving no cache entry and a Retry button.

import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, cachedModelKeys, loadModel, openApp, preferCpu, waitForLoad, waitForLoadError } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, readManifest, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const GGUF_PREFIX = '/models/cache/';
let model;
let scratch;

before(async () => {
  requireWasm();
  model = requireModel(DEFAULT_MODEL_ID);
  scratch = await mkdtemp(join(tmpdir(), 'verbatim-models-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A models folder holding the real manifest and, if given, `file` as the default model's file. */
async function modelsFolder(name, file) {
  const folder = join(scratch, name);
  await mkdir(join(folder, 'cache'), { recursive: true });
  await writeFile(join(folder, 'manifest.json'), JSON.stringify(readManifest()));
  if (file) await copyFile(file, join(folder, 'cache', model.entry.file));
  return folder;
}

/** XORs one byte of a file with 0x01 (twice restores it). */
async function flipByte(path, offset) {
  const handle = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] ^= 0x01;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Records every text the progress line shows, from the start of each page load. */
function recordProgress(context) {
  return context.addInitScript(() => {
    window.progressTexts = [];
    document.addEventListener('DOMContentLoaded', () => {
      const line = document.querySelector('[data-testid="progress-text"]');
      new MutationObserver(() => window.progressTexts.push(line.textContent)).observe(line, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  });
}

test('the default model downloads with progress, is verified and cached, and a reload needs no download', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    await recordProgress(browser.context);
    const ggufRequests = [];
    browser.context.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith(GGUF_PREFIX)) ggufRequests.push(request.url());
    });
    const { page, problems } = await openApp(browser.context, server.url);
    assert.equal(await page.isHidden(`${byTestId(`model-${DEFAULT_MODEL_ID}`)} ${byTestId('model-saved')}`), true);

    assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
    const progress = await page.evaluate(() => window.progressTexts);
    const downloading = progress.filter((text) => text.startsWith('Downloading: '));
    assert.ok(downloading.length > 0, `no download progress was shown: ${JSON.stringify(progress)}`);
    const total = `${(model.entry.size / 1e6).toFixed(1)} MB`;
    assert.ok(downloading.some((text) => new RegExp(`of ${total} \\(\\d+%\\) · [\\d.]+ MB/s`).test(text)), downloading.join('\n'));
    assert.ok(downloading.some((text) => text.includes(`${total} of ${total} (100%)`)), downloading.join('\n'));
    assert.equal(await page.textContent(byTestId('info-sha256')), model.entry.sha256);
    assert.match(await page.textContent(byTestId('info-source')), /SHA-256 verified/);
    assert.equal(server.requestsTo(GGUF_PREFIX).length, 1);
    assert.equal(ggufRequests.length, 1);

    const keys = await cachedModelKeys(page);
    assert.equal(keys.length, 1);
    assert.ok(keys[0].includes(model.entry.sha256), keys[0]);
    assert.ok(await page.isVisible(`${byTestId(`model-${DEFAULT_MODEL_ID}`)} ${byTestId('model-saved')}`));

    // A reload loads the saved copy without asking the server for the file.
    server.requests.length = 0;
    ggufRequests.length = 0;
    await page.reload();
    assert.equal(await waitForLoad(page), 'cache');
    assert.equal(await page.textContent(byTestId('info-sha256')), model.entry.sha256);
    assert.deepEqual(server.requestsTo(GGUF_PREFIX), []);
    assert.deepEqual(ggufRequests, []);
    assert.ok(server.requests.some((r) => r.path === '/'), 'the page itself was reloaded');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a corrupted download is a checksum mismatch, is not cached, and Retry downloads again', async () => {
  const folder = await modelsFolder('corrupt', model.path);
  const served = join(folder, 'cache', model.entry.file);
  const offset = Math.floor(model.entry.size / 2);
  await flipByte(served, offset);
  const server = await startServer({ models: folder });
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    const { page } = await openApp(browser.context, server.url);
    await page.click(byTestId('load-button'));
    const message = await waitForLoadError(page);
    assert.match(message, /^Checksum mismatch: /);
    assert.match(message, /was not saved/);
    assert.ok(message.includes(model.entry.sha256), message);
    assert.deepEqual(await cachedModelKeys(page), []);
    assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
    assert.match(await page.textContent(byTestId('generate-why')), /^Generate first downloads /, 'nothing was saved');
    assert.ok(await page.isVisible(byTestId('retry-button')));

    // The server's file is mended: Retry now succeeds, and only then is the file cached.
    await flipByte(served, offset);
    await page.click(byTestId('retry-button'));
    assert.equal(await waitForLoad(page), 'network');
    assert.equal((await cachedModelKeys(page)).length, 1);
    assert.equal(server.requestsTo(GGUF_PREFIX).length, 2);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a missing file (HTTP 404) is reported in plain words and not cached', async () => {
  const server = await startServer({ models: await modelsFolder('missing', null) });
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    const { page } = await openApp(browser.context, server.url);
    await page.click(byTestId('load-button'));
    const message = await waitForLoadError(page);
    assert.match(message, /the model file is not on this server \(HTTP 404 for \/models\/cache\/[^)]+\)/);
    assert.ok(await page.isVisible(byTestId('retry-button')));
    assert.deepEqual(await cachedModelKeys(page), []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a network error is reported in plain words, not cached, and Retry tries again', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    let attempts = 0;
    await browser.context.route(`**${GGUF_PREFIX}*`, (route) => {
      attempts += 1;
      return route.abort('connectionreset');
    });
    const { page } = await openApp(browser.context, server.url);
    await page.click(byTestId('load-button'));
    const message = await waitForLoadError(page);
    assert.match(message, /failed before it started: the server could not be reached/);
    assert.deepEqual(await cachedModelKeys(page), []);
    await page.click(byTestId('retry-button'));
    await waitForLoadError(page);
    assert.equal(attempts, 2);
    assert.deepEqual(await cachedModelKeys(page), []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('Cancel stops a download; nothing is cached and the page says so', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    // Hold the request so that the download is still under way when Cancel is clicked.
    await browser.context.route(`**${GGUF_PREFIX}*`, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await route.continue().catch(() => {}); // the page has given up on it by now
    });
    const { page } = await openApp(browser.context, server.url);
    await page.click(byTestId('load-button'));
    await page.click(byTestId('cancel-button'));
    await page.waitForSelector(`${byTestId('app')}[data-state="idle"]`);
    assert.equal(await page.textContent(byTestId('notice')), 'Loading was cancelled; nothing was saved.');
    assert.ok(await page.isHidden(byTestId('error')));
    assert.ok(await page.isHidden(byTestId('cancel-button')));
    assert.deepEqual(await cachedModelKeys(page), []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a download cut short is reported in plain words and not cached', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  await preferCpu(browser.context); // downloads do not depend on the executor
  try {
    // The response promises the whole file but the connection ends after 1 MiB.
    await browser.context.route(`**${GGUF_PREFIX}*`, (route) =>
      route.fulfill({
        status: 200,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(model.entry.size) },
        body: Buffer.alloc(1 << 20),
      }),
    );
    const { page } = await openApp(browser.context, server.url);
    await page.click(byTestId('load-button'));
    const message = await waitForLoadError(page);
    assert.match(message, /^The download (ended early|was interrupted)/);
    assert.match(message, /Nothing was saved\.$/);
    assert.ok(await page.isVisible(byTestId('retry-button')));
    assert.deepEqual(await cachedModelKeys(page), []);
  } finally {
    await browser.close();
    await server.close();
  }
});
