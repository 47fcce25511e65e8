// Gemma 3 270M on the page (issue 13, item 5): offered on the exact engine and marked as a base
// model (raw prompt, no chat template); its terms (the Gemma Terms of Use) are shown, and must be
// accepted, before its download starts; declining leaves the prompt and everything else as it
// was; accepting downloads it and generates, and the run's link names spec exact-2 and replays
// exactly in a fresh page and with `verbatim replay`. Runs on the CPU ("CPU" under "Executor");
// golden-gemma-gpu.test.mjs covers "GPU".

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { axeViolations } from './lib/axe.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, errorText, openApp, openSettings, preferCpu } from './lib/app.mjs';
import { REPO_ROOT, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { GEMMA_ID, expected2 } from './lib/gemma.mjs';
import { wasmLinks } from './lib/links.mjs';
import { startServer } from './lib/server.mjs';

const run = promisify(execFile);
const RUN_TIMEOUT_MS = 300_000;
// The golden case this page run must equal (greedy, raw prompt, 8 tokens).
const GOLDEN = expected2.cases['gemma-raw-capital'];
const PROMPT = 'The capital of France is';

let server;
let browser; // one profile: the terms accepted in it are remembered by its later pages
let gemma;
let link = null;

before(async () => {
  requireWasm();
  gemma = requireModel(GEMMA_ID).entry;
  server = await startServer();
  browser = await launchBrowser();
  await preferCpu(browser.context);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const gemmaDownloads = () => server.requestsTo(`/models/cache/${gemma.file}`).length;
const termsStored = (page) => page.evaluate(() => localStorage.getItem('verbatim.terms-accepted'));
const runsOf = async (page) => Number((await page.getAttribute(byTestId('app'), 'data-runs')) ?? 0);

test('Gemma is offered on the exact engine as a base model; its terms come before any download, and declining changes nothing', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  const row = byTestId(`model-${GEMMA_ID}`);
  assert.ok(await page.isEnabled(byTestId(`model-option-${GEMMA_ID}`)), 'Gemma can be chosen on the exact engine');
  assert.ok(await page.isHidden(`${row} ${byTestId('model-unsupported')}`));
  assert.equal(await page.textContent(`${row} ${byTestId('model-base')}`), 'base model: raw prompt, no chat template');
  assert.ok(await page.isVisible(`${row} ${byTestId('model-base')}`));
  assert.ok(await page.isHidden(`${byTestId('model-smollm2-135m-instruct-q4_1')} ${byTestId('model-base')}`), 'SmolLM2 is an instruct model');

  await page.check(byTestId(`model-option-${GEMMA_ID}`));
  // A base model: the chat template is off and cannot be turned on; the note says why.
  assert.ok(await page.isDisabled(byTestId('chat-toggle')));
  assert.equal(await page.isChecked(byTestId('chat-toggle')), false);
  assert.match(await page.textContent(byTestId('chat-note')), /^Gemma 3 270M \(Q4_K_M\) is a base model: .*the prompt is sent raw\.$/);
  await page.fill(byTestId('prompt'), PROMPT);
  await openSettings(page);
  await page.fill(byTestId('max-tokens'), String(GOLDEN.token_ids.length));

  await page.click(byTestId('generate-button'));
  await page.waitForSelector(`${byTestId('terms')}:not([hidden])`);
  assert.match(await page.textContent(byTestId('terms-message')), /Gemma 3 270M \(Q4_K_M\) is provided under the Gemma Terms of Use\./);
  assert.equal(await page.getAttribute(byTestId('terms-link'), 'href'), gemma.license_url);
  assert.equal(await page.textContent(byTestId('terms-link')), 'Read the Gemma Terms of Use');
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle', 'nothing is loading');
  assert.equal(gemmaDownloads(), 0, 'nothing was downloaded before the terms were accepted');
  assert.deepEqual(await axeViolations(page), [], 'accessibility with the terms shown');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'terms-accept');

  await page.click(byTestId('terms-decline'));
  assert.ok(await page.isHidden(byTestId('terms')));
  assert.equal(await page.inputValue(byTestId('prompt')), PROMPT, 'the prompt is kept');
  assert.equal(await page.inputValue(byTestId('max-tokens')), String(GOLDEN.token_ids.length));
  assert.ok(await page.isChecked(byTestId(`model-option-${GEMMA_ID}`)), 'the choice of model is kept');
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
  assert.equal(await page.textContent(byTestId('output')), '');
  assert.equal(await errorText(page), null);
  assert.equal(await page.textContent(byTestId('notice')), 'Gemma 3 270M (Q4_K_M) was not downloaded: its terms were not accepted.');
  assert.equal(await termsStored(page), null, 'declining stores nothing');
  assert.ok(await page.isEnabled(byTestId('generate-button')), 'Generate can ask again');
  assert.equal(gemmaDownloads(), 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test('accepting the terms downloads Gemma and generates exactly; the link names exact-2 and replays in a fresh page and in the CLI', { timeout: 900_000 }, async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  await page.check(byTestId(`model-option-${GEMMA_ID}`));
  await page.fill(byTestId('prompt'), PROMPT);
  await openSettings(page);
  await page.fill(byTestId('max-tokens'), String(GOLDEN.token_ids.length));
  const before = await runsOf(page);
  await page.click(byTestId('generate-button'));
  await page.waitForSelector(`${byTestId('terms')}:not([hidden])`);
  assert.equal(gemmaDownloads(), 0);
  await page.click(byTestId('terms-accept'));
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="app"]').dataset.runs ?? 0) > n || !document.querySelector('[data-testid="error"]').hidden,
    before,
    { timeout: RUN_TIMEOUT_MS },
  );
  assert.equal(await errorText(page), null);
  assert.ok(gemmaDownloads() > 0, 'accepted: the model was downloaded');
  assert.equal(JSON.parse(await termsStored(page))[GEMMA_ID], gemma.license_url, 'the acceptance is remembered');
  const ids = (await page.textContent(byTestId('token-ids'))).trim().split(' ').map(Number);
  assert.deepEqual(ids, GOLDEN.token_ids, 'the page run equals the exact-2 golden case');
  assert.equal(await page.textContent(byTestId('output')), GOLDEN.text);
  assert.equal(await page.textContent(byTestId('tokens-hash')), GOLDEN.tokens_hash);
  assert.equal(await page.textContent(byTestId('engine')), 'exact integer engine (exact-2)');
  assert.match(await page.textContent(byTestId('info-architecture')), /^gemma3 · base model: raw prompt, no chat template$/);
  assert.ok(await page.isDisabled(byTestId('chat-toggle')));
  assert.ok(await page.isVisible(byTestId('chat-note')));

  await page.waitForSelector(`${byTestId('share')}:not([hidden])`);
  link = await page.inputValue(byTestId('link-text'));
  const view = (await wasmLinks()).link_decode(new URL(link).hash.slice(1));
  assert.equal(view.spec, 'exact-2', 'a Gemma link names spec exact-2');
  assert.equal(view.model.id, GEMMA_ID);
  assert.equal(view.model.sha256, gemma.sha256);
  assert.equal(view.run.chat, false);
  assert.deepEqual(view.expect.token_ids, GOLDEN.token_ids);
  assert.match(await page.textContent(byTestId('cite-text')), /numeric spec exact-2/);
  assert.deepEqual(await axeViolations(page), [], 'accessibility with Gemma loaded');
  assert.deepEqual(problems, []);
  await page.close();

  // A fresh page of the same browser: the terms are not asked again; the saved copy replays.
  const replayPage = await openApp(browser.context, link);
  await replayPage.page.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
  assert.equal(await replayPage.page.textContent(byTestId('link-spec')), 'exact-2');
  assert.match(await replayPage.page.textContent(byTestId('link-settings')), /^raw prompt \(no chat template\)/);
  const downloads = gemmaDownloads();
  await replayPage.page.click(byTestId('replay-button'));
  await replayPage.page.waitForFunction(
    () => Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > 0 || !document.querySelector('[data-testid="error"]').hidden,
    null,
    { timeout: RUN_TIMEOUT_MS },
  );
  const n = GOLDEN.token_ids.length;
  assert.equal(await replayPage.page.textContent(byTestId('replay-result')), `Reproduced exactly: ${n}/${n} tokens (sha256 ${GOLDEN.tokens_hash.slice(0, 16)}) on the CPU`);
  assert.equal(await replayPage.page.getAttribute(byTestId('app'), 'data-terms'), null, 'the accepted terms are not asked again');
  assert.equal(gemmaDownloads(), downloads, 'the saved copy was used');
  assert.deepEqual(replayPage.problems, []);
  await replayPage.page.close();

  // The same link, replayed natively.
  const native = await run(requireNativeBinary(), ['replay', link], { cwd: REPO_ROOT, timeout: RUN_TIMEOUT_MS });
  assert.match(native.stdout + native.stderr, /Reproduced exactly/);
});

test('a fresh browser opening a Gemma link (page or embed view) asks for the terms before it downloads, and declining keeps the link', async () => {
  assert.ok(link, 'needs the previous test');
  const fresh = await launchBrowser();
  try {
    await preferCpu(fresh.context);
    const { page, problems } = await openApp(fresh.context, link);
    await page.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
    const downloads = gemmaDownloads();
    await page.click(byTestId('replay-button'));
    await page.waitForSelector(`${byTestId('terms')}:not([hidden])`);
    assert.equal(gemmaDownloads(), downloads, 'nothing is downloaded before the terms are accepted');
    await page.click(byTestId('terms-decline'));
    assert.equal(await page.getAttribute(byTestId('app'), 'data-link'), 'ready', 'the link is still shown');
    assert.equal(await page.textContent(byTestId('replay-result')), '');
    assert.ok(await page.isEnabled(byTestId('replay-button')));
    assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
    assert.equal(gemmaDownloads(), downloads);
    assert.deepEqual(problems, []);

    // The embed view of the same link asks for the terms too, before any download.
    const card = await fresh.context.newPage();
    await card.goto(`${server.url}embed.html${new URL(link).hash}`);
    await card.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
    await card.click(byTestId('embed-replay'));
    await card.waitForSelector(`${byTestId('embed-terms')}:not([hidden])`);
    assert.match(await card.textContent(byTestId('embed-terms-message')), /Gemma Terms of Use/);
    assert.equal(await card.getAttribute(byTestId('embed-terms-link'), 'href'), gemma.license_url);
    assert.deepEqual(await axeViolations(card), [], 'accessibility of the embed view with the terms shown');
    await card.click(byTestId('embed-terms-decline'));
    assert.ok(await card.isHidden(byTestId('embed-terms')));
    assert.equal(await card.textContent(byTestId('embed-status')), 'Gemma 3 270M (Q4_K_M) was not downloaded: its terms were not accepted.');
    assert.equal(await card.getAttribute(byTestId('embed'), 'data-state'), 'idle');
    assert.equal(gemmaDownloads(), downloads, 'the embed view downloaded nothing');
    await card.close();
  } finally {
    await fresh.close();
  }
});
