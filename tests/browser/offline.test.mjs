// Offline use (www/sw.js, www/offline.js) and the share box's Embed and QR code (www/share.js):
// a page visited once opens and replays its link with the network off, from the service worker's
// snapshot and the saved model; a changed site is announced ("A new version of Verbatim is
// available") and used only after the click on Reload, and so is a new sw.js. The site is served
// from a copy of www/ (links to its files, copies of the two the test changes).

import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, generate, loadModel, openApp, preferCpu, waitForLoad } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, MODELS_DIR, WWW_DIR, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const REPLAY_TIMEOUT_MS = 120_000;

let root;
let server;
let browser;

before(async () => {
  requireWasm();
  requireModel(DEFAULT_MODEL_ID);
  root = await mkdtemp(join(tmpdir(), 'verbatim-offline-'));
  for (const name of await readdir(WWW_DIR)) {
    if (name === 'style.css' || name === 'sw.js') await cp(join(WWW_DIR, name), join(root, name));
    else await symlink(join(WWW_DIR, name), join(root, name));
  }
  server = await startServer({ root, models: MODELS_DIR });
  browser = await launchBrowser({ webgpu: false });
  await preferCpu(browser.context);
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Waits until the page's service worker is active (its snapshot stored). */
async function serviceWorkerReady(page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
}

test('a page visited once opens and replays its link with no network', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  await serviceWorkerReady(page);
  assert.equal(await loadModel(page, DEFAULT_MODEL_ID), 'network');
  const run = await generate(page, { prompt: 'Say hello.', chat: true, maxTokens: 5 });
  await page.waitForSelector(`${byTestId('share')}:not([hidden])`);
  const link = await page.inputValue(byTestId('link-text'));

  // Beside "Copy link": the QR code and "Embed", whose <iframe> opens embed.html with the same fragment.
  assert.equal(await page.locator(`${byTestId('share-qr')} svg path`).count(), 1);
  assert.equal(await page.locator(`${byTestId('cite')} ${byTestId('cite-qr')} svg`).count(), 1);
  const snippet = await page.getAttribute(byTestId('embed-button'), 'data-snippet');
  const fragment = link.slice(link.indexOf('#'));
  assert.equal(
    snippet,
    `<iframe src="${server.url}embed.html${fragment}" title="Verbatim: a run of SmolLM2-135M-Instruct (Q4_1) that replays in your browser" width="600" height="400" loading="lazy"></iframe>`,
  );
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(server.url).origin });
  await page.click(byTestId('embed-button'));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), snippet);
  assert.match(await page.textContent(byTestId('copy-status')), /^Copied the embed code/);

  await browser.context.setOffline(true);
  try {
    const offline = await browser.context.newPage();
    await offline.goto(link);
    await offline.waitForSelector(`${byTestId('app')}:not([data-state="starting"])`, { timeout: 60_000 });
    assert.equal(await offline.getAttribute('html', 'data-offline'), 'controlled');
    assert.equal(await waitForLoad(offline), 'cache', 'the saved model loads with no network');
    await offline.click(byTestId('replay-button'));
    await offline.waitForFunction(() => /^(Reproduced|Diverged)/.test(document.querySelector('[data-testid="replay-result"]').textContent), null, {
      timeout: REPLAY_TIMEOUT_MS,
    });
    assert.match(await offline.textContent(byTestId('replay-result')), /^Reproduced exactly: 5\/5 tokens/);
    assert.equal(await offline.textContent(byTestId('replay-output')), run.text);
    await offline.close();
  } finally {
    await browser.context.setOffline(false);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test('a new version is announced and used only after the click on Reload', async () => {
  const page = await browser.context.newPage();
  await page.goto(server.url);
  await serviceWorkerReady(page);
  const styleNow = () => page.evaluate(async () => (await fetch('style.css')).text());
  const before = await styleNow();

  // The site changes; the next page opened notices it.
  await writeFile(join(root, 'style.css'), `${before}\n/* a new release */\n`);
  const next = await browser.context.newPage();
  await next.goto(server.url);
  await next.waitForSelector(byTestId('update-banner'), { timeout: 30_000 });
  assert.match(await next.textContent(byTestId('update-banner')), /A new version of Verbatim is available/);
  // Not swapped by itself: both pages still get the version they opened with.
  assert.equal(await next.evaluate(async () => (await fetch('style.css')).text()), before);
  assert.equal(await styleNow(), before);

  await Promise.all([next.waitForEvent('load'), next.click(byTestId('update-reload'))]);
  assert.match(await next.evaluate(async () => (await fetch('style.css')).text()), /a new release/);
  assert.equal(await next.isVisible(byTestId('update-banner')), false);
  await page.close();
  await next.close();
});

test('a new service worker waits for the click on Reload too', async () => {
  const page = await browser.context.newPage();
  await page.goto(server.url);
  await serviceWorkerReady(page);
  const sw = join(root, 'sw.js');
  await writeFile(sw, `${await readFile(sw, 'utf8')}\n// a new release of the service worker\n`);
  await page.evaluate(async () => (await navigator.serviceWorker.ready).update());
  await page.waitForSelector(byTestId('update-banner'), { timeout: 30_000 });
  const waiting = () => page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).waiting !== null);
  assert.equal(await waiting(), true, 'installed, and waiting: not swapped by itself');

  await Promise.all([page.waitForEvent('load'), page.click(byTestId('update-reload'))]);
  await serviceWorkerReady(page);
  assert.equal(await waiting(), false);
  assert.equal(await page.getAttribute('html', 'data-offline'), 'controlled');
  assert.equal(await page.isVisible(byTestId('update-banner')), false);
  await page.close();
});
