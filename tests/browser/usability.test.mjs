// The page for the people who use it (issue 17): nothing is lost on reload, pasted links are
// forgiven, runs and links agree (a stopped run gets a link to what it produced), downloads ask
// first, errors are shown at the field, the main action comes first, focus and announcements,
// axe-core clean in the main states, copy buttons, history and multi-turn chat as one link.
// One browser ("CPU" under "Executor") for all of it; the model is loaded once.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { axeViolations } from './lib/axe.mjs';
import { byTestId, errorText, generate, openApp, openSettings, preferCpu } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, requireModel, requireWasm } from './lib/env.mjs';
import { wasmLinks } from './lib/links.mjs';
import { startServer } from './lib/server.mjs';

const RUN_TIMEOUT_MS = 180_000;
let server;
let browser;
let model;

before(async () => {
  requireWasm();
  model = requireModel();
  server = await startServer();
  browser = await launchBrowser();
  await preferCpu(browser.context);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const focused = (page) => page.evaluate(() => document.activeElement?.dataset.testid ?? document.activeElement?.id ?? document.activeElement?.tagName);
const runs = async (page) => Number((await page.getAttribute(byTestId('app'), 'data-runs')) ?? 0);

/** Waits until the page has finished more than `before` runs. */
async function waitForRun(page, before) {
  await page.waitForFunction((b) => Number(document.querySelector('[data-testid="app"]').dataset.runs ?? 0) > b, before, { timeout: RUN_TIMEOUT_MS });
}

/** Waits for a replay to end; resolves to its verdict. */
async function replay(page) {
  const before = Number((await page.getAttribute(byTestId('app'), 'data-replays')) ?? 0);
  await page.click(byTestId('replay-button'));
  await page.waitForFunction((b) => Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > b, before, { timeout: RUN_TIMEOUT_MS });
  return page.textContent(byTestId('replay-result'));
}

test('before any model: field errors, settings summary, a kept form, forgiving links, Gemma and large downloads', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  assert.deepEqual(await axeViolations(page), [], 'fresh');
  assert.match(await page.textContent('.tagline'), /replays the run/);

  // Gemma can be chosen for either engine (the exact engine runs it under spec exact-2;
  // gemma-page.test.mjs covers its terms and base-model marking).
  const gemma = 'gemma-3-270m-q4_k_m';
  for (const kind of ['exact', 'float']) {
    await page.selectOption(byTestId('engine-select'), kind);
    assert.ok(await page.isEnabled(byTestId(`model-option-${gemma}`)), kind);
    assert.ok(await page.isHidden(`${byTestId(`model-${gemma}`)} ${byTestId('model-unsupported')}`), kind);
  }
  await page.selectOption(byTestId('engine-select'), 'exact');
  assert.ok(await page.isChecked(byTestId(`model-option-${DEFAULT_MODEL_ID}`)));

  // Settings are collapsed, with a summary; temperature 0 marks the filters and the seed as not used.
  assert.equal(await page.getAttribute(byTestId('settings'), 'open'), null);
  assert.equal(await page.textContent(byTestId('settings-summary')), 'greedy · 64 tokens');
  await openSettings(page);
  assert.ok(await page.isVisible(byTestId('greedy-note')));
  assert.ok(await page.isDisabled(byTestId('new-seed-button')));
  await page.fill(byTestId('temperature'), '0.7');
  await page.fill(byTestId('seed'), '18446744073709551615');
  assert.equal(await page.textContent(byTestId('settings-summary')), 'temperature 0.7 · seed 18446744073709551615 · 64 tokens');
  assert.ok(await page.isHidden(byTestId('greedy-note')));
  const seedFits = await page.$eval(byTestId('seed'), (input) => input.scrollWidth <= input.clientWidth);
  assert.ok(seedFits, 'the 20-digit seed fits its field');

  // A value the engine would refuse is flagged at the field, with the engine's rule; nothing runs.
  await page.fill(byTestId('temperature'), '0.0005');
  await page.click(byTestId('generate-button'));
  assert.equal(await page.textContent(byTestId('temperature-error')), 'Temperature: at most three decimals (the engine computes in thousandths).');
  assert.equal(await page.getAttribute(byTestId('temperature'), 'aria-invalid'), 'true');
  assert.match(await page.getAttribute(byTestId('temperature'), 'aria-describedby'), /temperature-error/);
  assert.equal(await page.textContent(byTestId('form-error-message')), 'Nothing ran: Temperature: at most three decimals (the engine computes in thousandths).');
  assert.equal(await focused(page), 'temperature');
  assert.equal(await page.textContent(byTestId('run-executor')), '');
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
  assert.equal(server.requestsTo('/models/cache/').length, 0, 'nothing was downloaded');
  assert.deepEqual(await axeViolations(page), [], 'error');
  await page.fill(byTestId('temperature'), '0.7');

  // The form survives a reload.
  await page.fill(byTestId('prompt'), 'my kept prompt');
  await page.fill(byTestId('stop-strings'), 'END');
  await page.reload();
  await page.waitForSelector(`${byTestId('app')}:not([data-state="starting"])`);
  assert.equal(await page.inputValue(byTestId('prompt')), 'my kept prompt');
  assert.equal(await page.inputValue(byTestId('temperature')), '0.7');
  assert.equal(await page.inputValue(byTestId('seed')), '18446744073709551615');
  assert.equal(await page.inputValue(byTestId('stop-strings')), 'END');
  assert.equal(await page.textContent(byTestId('settings-summary')), 'temperature 0.7 · seed 18446744073709551615 · 1 stop string · 64 tokens');

  // Links as they arrive from mail, Markdown and PDFs.
  const wasm = await wasmLinks();
  const payload = wasm.link_encode({
    spec: 'exact-1',
    model: { id: DEFAULT_MODEL_ID, sha256: model.entry.sha256 },
    run: { prompt: 'The sea is', chat: false, max_tokens: 4, temperature: '0.5', seed: '99' },
  });
  let handled = Number((await page.getAttribute(byTestId('app'), 'data-links-handled')) ?? 0);
  const openBox = async (text) => {
    await page.fill(byTestId('open-link-input'), text);
    await page.click(byTestId('open-link-button'));
  };
  const linkReady = async () => {
    handled += 1;
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.linksHandled) >= n, handled);
    return page.getAttribute(byTestId('app'), 'data-link');
  };
  const middle = Math.floor(payload.length / 2);
  for (const pasted of [
    `  ${server.url}#${payload}.  `,
    `<${server.url}#${payload.slice(0, middle)}\n${payload.slice(middle)}>`,
    `(see #${payload}).`,
    payload,
  ]) {
    await openBox(pasted);
    assert.equal(await linkReady(), 'ready', JSON.stringify(pasted));
    assert.equal(await page.textContent(byTestId('link-input')), 'The sea is');
  }
  await openBox('hello');
  assert.match(await page.textContent(byTestId('open-link-error')), /^This is not a Verbatim link/);
  assert.equal(await page.getAttribute(byTestId('open-link-input'), 'aria-invalid'), 'true');
  // The address bar too: a closing bracket and full stop after the link.
  await page.evaluate((p) => {
    location.hash = `${p}).`;
  }, payload);
  assert.equal(await linkReady(), 'ready');
  // "Edit this run" puts the link's prompt and settings into the form.
  await page.click(byTestId('edit-run-button'));
  assert.equal(await page.inputValue(byTestId('prompt')), 'The sea is');
  assert.equal(await page.inputValue(byTestId('temperature')), '0.5');
  assert.equal(await page.inputValue(byTestId('seed')), '99');
  assert.equal(await page.isChecked(byTestId('chat-toggle')), false);
  assert.equal(await focused(page), 'prompt');
  // A cut-short link says what to do; "unchanged" is said only when there is something to keep.
  await page.evaluate((p) => {
    location.hash = p;
  }, payload.slice(0, -12));
  assert.equal(await linkReady(), 'error');
  assert.match(await page.textContent(byTestId('link-error-message')), /Copy it again from its source/);
  assert.ok(await page.isHidden(byTestId('link-error-kept')));

  // Over 100 MB on a metered connection: the page asks first, with the size.
  const metered = await browser.context.newPage();
  await metered.addInitScript(() => Object.defineProperty(navigator, 'connection', { value: { saveData: true, effectiveType: '4g' } }));
  await metered.goto(server.url);
  await metered.waitForSelector(`${byTestId('app')}[data-state="idle"]`);
  await metered.selectOption(byTestId('engine-select'), 'float');
  await metered.check(byTestId(`model-option-${gemma}`));
  await metered.click(byTestId('load-button'));
  // Gemma's terms come first (gemma-page.test.mjs), then the question about the connection.
  await metered.click(byTestId('terms-accept'));
  assert.match(await metered.textContent(byTestId('consent-message')), /253\.1 MB.*metered or slow/);
  await metered.click(byTestId('consent-no'));
  assert.ok(await metered.isHidden(byTestId('consent')));
  assert.equal(await metered.getAttribute(byTestId('app'), 'data-state'), 'idle');
  assert.equal(server.requestsTo('/models/cache/').length, 0, 'nothing was downloaded');
  await metered.close();
  assert.deepEqual(problems, []);
  await page.close();
});

test('generate first, stop with Esc, links for stopped runs, multi-turn chat, history, focus and axe-core', async () => {
  const { page, problems } = await openApp(browser.context, server.url);
  const wasm = await wasmLinks();
  await page.evaluate(() => localStorage.removeItem('verbatim.form'));
  await page.reload();
  await page.waitForSelector(`${byTestId('app')}[data-state="idle"]`);

  // Generate with no model loaded: the model loads, then the run starts. Ctrl+Enter from a settings field.
  await page.fill(byTestId('prompt'), 'Name a colour.');
  await openSettings(page);
  await page.fill(byTestId('max-tokens'), '6');
  let before = await runs(page);
  await page.focus(byTestId('max-tokens'));
  await page.keyboard.press('Control+Enter');
  await waitForRun(page, before);
  assert.equal(await errorText(page), null);
  assert.equal(await page.getAttribute(byTestId('info-source'), 'data-source'), 'network');
  assert.equal(await page.textContent(byTestId('info-name')), model.entry.name);
  assert.equal(await page.textContent(byTestId('info-executor-short')), 'CPU (wasm; chosen under “Executor”)');
  await page.waitForFunction(() => document.activeElement?.dataset.testid === 'copy-output-button');
  assert.match(await page.textContent(byTestId('announce')), /^Run finished: 6 tokens; reached the token limit\.$/);
  assert.match(await page.textContent(byTestId('share-label')), /It contains your prompt/);
  assert.ok(await page.isVisible(byTestId('share-local-warning')), 'a link made on 127.0.0.1 says it works only here');
  assert.ok(await page.isVisible(byTestId('copy-cite-text')) && (await page.isVisible(byTestId('copy-cite-bibtex'))));
  assert.deepEqual(await axeViolations(page), [], 'generated');

  // A long run stopped with Esc: the address bar's old link goes at the start; the stopped run gets
  // a link that asks for the tokens it produced.
  await page.fill(byTestId('max-tokens'), '400');
  await page.fill(byTestId('prompt'), 'Write a long story about a lighthouse.');
  before = await runs(page);
  await page.click(byTestId('generate-button'));
  assert.equal(new URL(page.url()).hash, '', 'the previous run’s link left the address bar');
  assert.ok(await page.isVisible(byTestId('stop-button')));
  await page.waitForFunction(() => document.querySelector('[data-testid="output"]').textContent.length > 0, null, { timeout: RUN_TIMEOUT_MS });
  await page.keyboard.press('Escape');
  await waitForRun(page, before);
  assert.match(await page.textContent(byTestId('stats')), /; stopped\.$/);
  assert.equal(await focused(page), 'generate-button');
  const ids = (await page.textContent(byTestId('token-ids'))).trim().split(' ').map(Number);
  await page.waitForFunction(() => !document.querySelector('[data-testid="share"]').hidden);
  assert.match(await page.textContent(byTestId('share-label')), new RegExp(`stopped after ${ids.length} tokens?`));
  const stoppedLink = await page.inputValue(byTestId('link-text'));
  const stopped = wasm.link_decode(new URL(stoppedLink).hash.slice(1));
  assert.equal(stopped.run.max_tokens, ids.length);
  assert.deepEqual(stopped.expect.token_ids, ids);

  // Multi-turn chat: the answer becomes a turn; the whole conversation is one link.
  await page.fill(byTestId('max-tokens'), '5');
  await generate(page, { prompt: 'Hi! Who are you?', chat: true, maxTokens: 5 });
  const answer = await page.textContent(byTestId('output'));
  await page.click(byTestId('reply-button'));
  assert.equal(await focused(page), 'prompt');
  assert.equal(await page.textContent(byTestId('prompt-label')), 'Your reply');
  assert.equal(await page.locator(`${byTestId('conversation-turns')} li`).count(), 2);
  await generate(page, { prompt: 'Tell me more.', chat: true, maxTokens: 5 });
  const chatLink = await page.inputValue(byTestId('link-text'));
  const chat = wasm.link_decode(new URL(chatLink).hash.slice(1));
  assert.deepEqual(chat.run.messages, [
    { role: 'user', content: 'Hi! Who are you?' },
    { role: 'assistant', content: answer },
    { role: 'user', content: 'Tell me more.' },
  ]);

  // History: every run of this browser, newest first, with delete.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.history) === 4);
  assert.match(await page.textContent(`${byTestId('history-entry')} ${byTestId('history-meta')}`), /^Generated · SmolLM2-135M-Instruct \(Q4_1\) · 5 tokens/);
  await page.click(`${byTestId('history-entry')}:nth-child(4) ${byTestId('history-delete')}`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.history) === 3);

  // Both links replay exactly in another tab; the conversation's link edits back into a conversation.
  const other = await browser.context.newPage();
  for (const [url, n] of [
    [stoppedLink, ids.length],
    [chatLink, chat.expect.token_ids.length],
  ]) {
    await other.goto(url);
    await other.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
    assert.match(await replay(other), new RegExp(`^Reproduced exactly: ${n}/${n} tokens`), url);
  }
  assert.equal(await other.textContent(byTestId('link-heading')), 'Replay your run', 'a link made in this browser');
  assert.deepEqual(await axeViolations(other), [], 'replayed');
  await other.click(byTestId('edit-run-button'));
  assert.equal(await other.inputValue(byTestId('prompt')), 'Tell me more.');
  assert.equal(await other.locator(`${byTestId('conversation-turns')} li`).count(), 2);

  // An expected id outside the vocabulary is a divergence at that position, shown without text.
  const oovIds = [ids[0], 4_000_000];
  const oov = wasm.link_encode({
    ...stopped,
    run: { ...stopped.run, max_tokens: 2 },
    expect: { token_ids: oovIds, tokens_hash: createHash('sha256').update(Buffer.from(new Uint32Array(oovIds).buffer)).digest('hex') },
  });
  await other.goto(`${server.url}#${oov}`);
  await other.waitForSelector(`${byTestId('app')}[data-link="ready"]`);
  assert.match(await replay(other), /^Diverged at token 2: expected token id 4000000 \(not in this model’s vocabulary\), got token id \d+ \(".*"\)$/);
  assert.equal(await errorText(other), null);
  await other.close();
  assert.deepEqual(problems, []);
  await page.close();
});
