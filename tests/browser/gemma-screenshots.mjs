// Screenshots of Gemma on the page (issue 13): its terms before the download, a run with the
// base-model note and, with "GPU" chosen, the reason it runs on the CPU next to "Executor"; and a
// replayed Gemma link. Laptop (1280x800) and phone (390x844). Not a test: run it by hand with
//   node tests/browser/gemma-screenshots.mjs [OUT_DIR]      (default /work/reports, pagegemma-*.png)
// after `make wasm models`.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, openApp, openSettings, preferExecutor } from './lib/app.mjs';
import { requireModel, requireWasm } from './lib/env.mjs';
import { GEMMA_ID } from './lib/gemma.mjs';
import { startServer } from './lib/server.mjs';

const out = process.argv[2] ?? '/work/reports';
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const shot = (page, name) => page.screenshot({ path: join(out, `pagegemma-${name}.png`) });
const scrollTo = (page, testid) =>
  page.evaluate((id) => document.querySelector(`[data-testid="${id}"]`).scrollIntoView({ block: 'center' }), testid);

requireWasm();
requireModel(GEMMA_ID);
await mkdir(out, { recursive: true });
const server = await startServer();
const browser = await launchBrowser();
try {
  await preferExecutor(browser.context, 'gpu');
  const { page } = await openApp(browser.context, server.url);
  await page.setViewportSize(LAPTOP);
  await page.check(byTestId(`model-option-${GEMMA_ID}`));
  await page.fill(byTestId('prompt'), 'The capital of France is');
  await openSettings(page);
  await page.fill(byTestId('max-tokens'), '16');
  await page.evaluate(() => {
    document.querySelector('[data-testid="settings"]').open = false;
  });
  await page.click(byTestId('generate-button'));
  await page.waitForSelector(`${byTestId('terms')}:not([hidden])`);
  await scrollTo(page, 'terms');
  await shot(page, 'terms');
  await page.setViewportSize(PHONE);
  await scrollTo(page, 'terms');
  await shot(page, 'terms-phone');
  await page.setViewportSize(LAPTOP);
  await page.click(byTestId('terms-accept'));
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.runs ?? 0) > 0, null, { timeout: 600_000 });
  await page.waitForSelector(`${byTestId('share')}:not([hidden])`);
  const toGenerate = () => page.evaluate(() => document.getElementById('generate-heading').scrollIntoView({ block: 'start' }));
  await toGenerate();
  await shot(page, 'generate');
  await scrollTo(page, 'executor-why');
  await shot(page, 'model-card');
  await page.setViewportSize(PHONE);
  await toGenerate();
  await shot(page, 'generate-phone');
  await scrollTo(page, 'executor-why');
  await shot(page, 'model-card-phone');
  const link = await page.inputValue(byTestId('link-text'));

  const replayPage = await browser.context.newPage();
  await replayPage.setViewportSize(LAPTOP);
  await replayPage.goto(link);
  await replayPage.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
  await replayPage.waitForSelector(`${byTestId('replay-button')}:not([disabled])`);
  await replayPage.click(byTestId('replay-button'));
  await replayPage.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > 0, null, { timeout: 600_000 });
  await replayPage.evaluate(() => window.scrollTo(0, 0));
  await shot(replayPage, 'replay');
  await replayPage.setViewportSize(PHONE);
  await scrollTo(replayPage, 'replay-result');
  await shot(replayPage, 'replay-phone');
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.close();
}
