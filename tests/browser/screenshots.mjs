// Takes the README's screenshots (docs/screenshots/): a generated run on a laptop (1280x800), the
// same page on a phone (390x844), and a replayed link on both. Not a test: run it by hand with
//   node tests/browser/screenshots.mjs [OUT_DIR]
// after `make wasm models`. Runs on the CPU ("Use the CPU only"), greedy, so the pictures repeat;
// gpu.png on WebGPU.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, generate, loadModel, openApp, preferCpu } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, REPO_ROOT, requireModel, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const out = process.argv[2] ?? join(REPO_ROOT, 'docs/screenshots');
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

requireWasm();
requireModel();
await mkdir(out, { recursive: true });
const server = await startServer();
const browser = await launchBrowser();
try {
  await preferCpu(browser.context);
  const { page } = await openApp(browser.context, server.url);
  await page.setViewportSize(LAPTOP);
  await page.screenshot({ path: join(out, 'fresh.png') });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(out, 'fresh-phone.png') });
  await page.setViewportSize(LAPTOP);
  await loadModel(page, DEFAULT_MODEL_ID);
  await generate(page, { prompt: 'Name three facts about owls.', chat: true, maxTokens: 48 });
  await page.waitForSelector(`${byTestId('share')}:not([hidden])`);
  await page.evaluate(() => {
    document.querySelector('[data-testid="settings"]').open = false;
    window.scrollTo(0, 0);
  });
  await page.screenshot({ path: join(out, 'generate.png') });
  await page.setViewportSize(PHONE);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(out, 'generate-phone.png') });
  const link = await page.inputValue(byTestId('link-text'));

  const replayPage = await browser.context.newPage();
  await replayPage.setViewportSize(LAPTOP);
  await replayPage.goto(link);
  await replayPage.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
  await replayPage.click(byTestId('replay-button'));
  await replayPage.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > 0, null, { timeout: 180_000 });
  await replayPage.evaluate(() => window.scrollTo(0, 0));
  await replayPage.screenshot({ path: join(out, 'replay.png') });
  await replayPage.setViewportSize(PHONE);
  await replayPage.evaluate(() => document.querySelector('[data-testid="replay-result"]').scrollIntoView({ block: 'center' }));
  await replayPage.screenshot({ path: join(out, 'replay-phone.png') });

  // A run on WebGPU (Chromium's software adapter here), in a profile without "Use the CPU only".
  const gpu = await launchBrowser();
  try {
    const { page: gpuPage } = await openApp(gpu.context, server.url);
    await gpuPage.setViewportSize(LAPTOP);
    await loadModel(gpuPage, DEFAULT_MODEL_ID);
    await generate(gpuPage, { prompt: 'The capital of France is', chat: false, maxTokens: 12 });
    await gpuPage.evaluate(() => {
      document.querySelector('[data-testid="settings"]').open = false;
      document.querySelector('.executor-details').open = true;
      window.scrollTo(0, 0);
    });
    await gpuPage.screenshot({ path: join(out, 'gpu.png') });
  } finally {
    await gpu.close();
  }
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.close();
}
