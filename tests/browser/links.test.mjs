// Replay links: a sampled run made in the page replays exactly in a fresh browser (empty cache,
// the model downloaded again); links made by the native CLI replay in the page and the page's links
// replay in the CLI; and every kind of bad link gives a clear message, injects nothing and leaves
// the user's prompt and output alone.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, openSettings, generate, loadModel, openApp, preferCpu } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, REPO_ROOT, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { rawLinkPayload, wasmLinks } from './lib/links.mjs';
import { startServer } from './lib/server.mjs';

const run = promisify(execFile);
const REPLAY_TIMEOUT_MS = 180_000;

let server;
let model;
let first; // the browser that makes a link
let second; // a fresh browser that opens it
let pageLink; // the link made in test a
let replayPage; // test a's page in `second` (the model is loaded there)
let replayProblems;

before(async () => {
  requireWasm();
  model = requireModel(DEFAULT_MODEL_ID);
  requireNativeBinary();
  server = await startServer();
});

after(async () => {
  await first?.close();
  await second?.close();
  await server?.close();
});

/** Sets the sampling controls of the generate form. */
async function setSampling(page, { temperature, seed, topK, topP, minP, stop }) {
  await openSettings(page);
  if (temperature !== undefined) await page.fill(byTestId('temperature'), String(temperature));
  if (seed !== undefined) await page.fill(byTestId('seed'), String(seed));
  if (topK !== undefined) await page.fill(byTestId('top-k'), String(topK));
  if (topP !== undefined) await page.fill(byTestId('top-p'), String(topP));
  if (minP !== undefined) await page.fill(byTestId('min-p'), String(minP));
  if (stop !== undefined) await page.fill(byTestId('stop-strings'), stop.join('\n'));
}

/** Waits until the page has handled `count` links in all (data-links-handled). */
async function waitForLinks(page, count) {
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.linksHandled ?? 0) >= n, count, {
    timeout: 30_000,
  });
}

/** A fresh browser with "CPU" chosen under "Executor" (executor.test.mjs replays on WebGPU). */
async function launchCpuBrowser() {
  const browser = await launchBrowser();
  await preferCpu(browser.context);
  return browser;
}

/** Clicks Replay and resolves to the replay's result line. */
async function replay(page) {
  const before = Number((await page.getAttribute(byTestId('app'), 'data-replays')) ?? 0);
  await page.waitForSelector(`${byTestId('replay-button')}:not([disabled])`, { timeout: 30_000 });
  await page.click(byTestId('replay-button'));
  await page.waitForFunction(
    (n) =>
      Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > n ||
      !document.querySelector('[data-testid="error"]').hidden,
    before,
    { timeout: REPLAY_TIMEOUT_MS },
  );
  return page.textContent(byTestId('replay-result'));
}

/** Opens `url` in a new page of `browser`; resolves to {page, problems} once the link is handled. */
async function openLink(browser, url) {
  const opened = await openApp(browser.context, url);
  await waitForLinks(opened.page, 1);
  return opened;
}

test('a sampled run gets a link that replays exactly in a fresh browser, downloading the model', async () => {
  first = await launchCpuBrowser();
  const { page, problems } = await openApp(first.context, server.url);
  await loadModel(page, DEFAULT_MODEL_ID);
  await setSampling(page, { temperature: '0.8', seed: '123456789012345678' });
  const made = Number((await page.getAttribute(byTestId('app'), 'data-link-made')) ?? 0);
  const result = await generate(page, { prompt: 'Tell me a short fact about owls.', chat: true, maxTokens: 12 });
  assert.ok(result.tokenIds.length > 0);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="app"]').dataset.linkMade ?? 0) > n, made);
  pageLink = await page.inputValue(byTestId('link-text'));
  assert.ok(new URL(page.url()).hash.startsWith('#v1.'), page.url());
  assert.equal(pageLink, page.url());
  assert.ok(pageLink.length < 2000, `${pageLink.length} characters`);
  assert.ok(await page.isVisible(byTestId('copy-link-button')));
  await page.click(byTestId('copy-link-button'));
  await page.waitForFunction(() => document.querySelector('[data-testid="copy-status"]').textContent !== '');
  const cite = await page.textContent(byTestId('cite-bibtex'));
  assert.ok(cite.startsWith('@misc{verbatim-') && cite.includes(pageLink) && cite.includes(model.entry.sha256), cite);
  // The link holds the run's settings as given.
  const decoded = (await wasmLinks()).link_decode(new URL(pageLink).hash.slice(1));
  assert.equal(decoded.run.temperature, '0.8');
  assert.equal(decoded.run.seed, '123456789012345678');
  assert.deepEqual(decoded.expect.token_ids, result.tokenIds);
  assert.deepEqual(problems, []);

  second = await launchCpuBrowser();
  const downloadsBefore = server.requestsTo('/models/cache/').length;
  ({ page: replayPage, problems: replayProblems } = await openLink(second, pageLink));
  assert.equal(await replayPage.getAttribute(byTestId('app'), 'data-link'), 'ready');
  assert.match(await replayPage.textContent(byTestId('link-model')), new RegExp(model.entry.id));
  assert.equal(await replayPage.textContent(byTestId('link-input')), 'user: Tell me a short fact about owls.');
  assert.match(await replayPage.textContent(byTestId('link-license')), /Apache-2\.0/);
  assert.match(await replayPage.textContent(byTestId('link-settings')), /temperature 0\.8 .*seed 123456789012345678/);
  assert.equal(await replayPage.textContent(byTestId('link-spec')), decoded.spec);
  assert.match(await replayPage.textContent(byTestId('link-expected')), new RegExp(`^${result.tokenIds.length} tokens?`));
  const outcome = await replay(replayPage);
  const n = result.tokenIds.length;
  assert.equal(outcome, `Reproduced exactly: ${n}/${n} tokens (sha256 ${result.tokensHash.slice(0, 16)}) on the CPU`);
  assert.equal(await replayPage.textContent(byTestId('replay-executor')), 'Executor: CPU (wasm; chosen under “Executor”)');
  assert.equal(await replayPage.textContent(byTestId('replay-output')), result.text);
  assert.ok(server.requestsTo('/models/cache/').length > downloadsBefore, 'the fresh browser downloaded the model');
  assert.match(await replayPage.textContent(byTestId('cite-text')), /Replay: http/);
  assert.deepEqual(replayProblems, []);
});

test('links are interchangeable with the native CLI, both ways', async () => {
  assert.ok(pageLink && replayPage, 'needs the first test');
  const cli = requireNativeBinary();
  // CLI-made link, replayed in the page (the model is saved in this browser now).
  const { stdout } = await run(
    cli,
    ['link', '--prompt', 'The sea is', '--max-tokens', '10', '--temperature', '0.9', '--seed', '7', '--top-k', '20', '--base', server.url],
    { cwd: REPO_ROOT },
  );
  const cliLink = stdout.trim().split('\n').find((line) => line.startsWith(server.url));
  assert.ok(cliLink?.includes('#v1.'), stdout);
  const { page, problems } = await openLink(second, cliLink);
  assert.equal(await page.textContent(byTestId('link-input')), 'The sea is');
  assert.match(await replay(page), /^Reproduced exactly: 10\/10 tokens \(sha256 [0-9a-f]{16}\) on the CPU$/);
  assert.deepEqual(problems, []);
  await page.close();

  // Page-made link, replayed natively.
  const native = await run(cli, ['replay', pageLink], { cwd: REPO_ROOT });
  assert.match(native.stdout + native.stderr, /Reproduced exactly/);
});

test('bad links give a clear message, inject nothing, and leave the prompt and output alone', async () => {
  assert.ok(pageLink && replayPage, 'needs the first test');
  const page = replayPage;
  const problems = replayProblems;
  const dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  const requested = [];
  second.context.on('request', (request) => requested.push(request.url()));
  const wasm = await wasmLinks();
  const payload = new URL(pageLink).hash.slice(1);
  const valid = wasm.link_decode(payload);

  await page.fill(byTestId('prompt'), 'my own prompt');
  const outputBefore = await page.textContent(byTestId('output'));
  let handled = Number(await page.getAttribute(byTestId('app'), 'data-links-handled'));

  /** Puts `fragment` in the address bar; resolves to the link error text, or null. */
  async function open(fragment) {
    await page.evaluate((f) => {
      location.hash = f;
    }, fragment);
    handled += 1;
    await waitForLinks(page, handled);
    return (await page.isVisible(byTestId('link-error'))) ? page.textContent(byTestId('link-error-message')) : null;
  }

  const middle = Math.floor(payload.length / 2);
  const changed = payload.slice(0, middle) + (payload[middle] === 'A' ? 'B' : 'A') + payload.slice(middle + 1);
  const unknownSpec = wasm.link_encode({ ...valid, spec: 'exact-99' });
  assert.throws(() => wasm.link_encode({ ...valid, run: { ...valid.run, top_p: '7' } }), /top-p/);
  const absurd = rawLinkPayload({ id: valid.model.id, sha256: valid.model.sha256, prompt: 'x', topPMicro: 7_000_000 });
  const cases = [
    ['truncated', payload.slice(0, -9), /^This link cannot be opened: .*(damaged|truncated|cut short)/],
    ['one character changed', changed, /^This link cannot be opened: .+/],
    ['unknown version', 'v9.AAAA', /^This link cannot be opened: .*version 9/],
    ['not base64', 'v1.<img src=x onerror=alert(1)>', /^This link cannot be opened: .+/],
    ['unknown spec', unknownSpec, /numeric spec exact-99; this page implements exact-1/],
    ['top-p of 7', absurd, /^This link cannot be opened: .*top-p/],
  ];
  for (const [name, fragment, expected] of cases) {
    const message = await open(fragment);
    assert.match(message ?? '(no error shown)', expected, name);
    assert.ok(await page.isHidden(byTestId('link-details')), name);
  }

  // A model not in the list: named with its hash; its address is shown as text and not fetched.
  const stranger = wasm.link_encode({
    ...valid,
    model: { id: 'mystery-<b>model</b>', sha256: 'ab'.repeat(32), url: 'https://models.example.invalid/m.gguf' },
  });
  assert.equal(await open(stranger), null);
  assert.equal(
    await page.textContent(byTestId('link-model-missing-message')),
    `This link needs model mystery-<b>model</b> with SHA-256 ${'ab'.repeat(32)}, which is not in the list; ` +
      "open the file with “Choose a file…” under “Or open a GGUF file” in the Model section.",
  );
  assert.equal(await page.textContent(byTestId('link-model-url')), 'https://models.example.invalid/m.gguf');
  assert.equal(await page.textContent(byTestId('link-model-host')), 'models.example.invalid');
  assert.ok(await page.isDisabled(byTestId('replay-button')));

  // HTML in the prompt, the messages and the stop strings is text, and the run still replays.
  const html = '<img src=x onerror=alert(1)>';
  const hostile = wasm.link_encode({
    spec: valid.spec,
    model: valid.model,
    run: {
      prompt: '',
      chat: true,
      messages: [
        { role: 'system', content: '<script>alert(2)</script>' },
        { role: 'user', content: `${html} <svg onload=alert(3)>` },
      ],
      max_tokens: 4,
      stop: ['<script>alert(4)</script>', '<svg onload=alert(5)>'],
    },
  });
  assert.equal(await open(hostile), null);
  assert.equal(
    await page.textContent(byTestId('link-input')),
    `system: <script>alert(2)</script>\n\nuser: ${html} <svg onload=alert(3)>`,
  );
  assert.equal(await page.textContent(byTestId('link-stops')), '<script>alert(4)</script>\n<svg onload=alert(5)>');
  assert.match(await replay(page), /^Ran \d+ tokens? \(sha256 [0-9a-f]{16}\); the link records no output/);
  const raw = rawLinkPayload({ id: valid.model.id, sha256: valid.model.sha256, prompt: `${html}<script>alert(6)</script>` });
  assert.equal(await open(raw), null);
  assert.equal(await page.textContent(byTestId('link-input')), `${html}<script>alert(6)</script>`);

  // A link whose recorded output differs from what the run gives: the first divergent token, 1-based.
  const ids = [...valid.expect.token_ids];
  assert.ok(ids.length >= 3, `${ids.length} tokens`);
  const wrong = ids[2] === 5 ? 6 : 5;
  const actual = ids[2];
  ids[2] = wrong;
  // The expectation's hash covers its ids (a link with a mismatched hash is refused as damaged).
  const le = Buffer.alloc(4 * ids.length);
  ids.forEach((id, i) => le.writeUInt32LE(id, 4 * i));
  const tokensHash = createHash('sha256').update(le).digest('hex');
  const divergent = wasm.link_encode({ ...valid, expect: { token_ids: ids, tokens_hash: tokensHash } });
  assert.equal(await open(divergent), null);
  const outcome = await replay(page);
  assert.ok(outcome.startsWith(`Diverged at token 3: expected token id ${wrong} ("`), outcome);
  assert.ok(outcome.includes(`, got token id ${actual} ("`), outcome);
  assert.match(await page.textContent(byTestId('replay-detail')), /^Same text up to the divergence \(2 tokens\): ".*"$/s);
  const cli = await run(requireNativeBinary(), ['replay', `${server.url}#${divergent}`], { cwd: REPO_ROOT }).then(
    () => ({ code: 0 }),
    (error) => error,
  );
  assert.equal(cli.code, 1, 'the CLI exits with 1 on divergence');
  assert.match(`${cli.stdout}${cli.stderr}`, /Diverged at token 3/);

  const injected = await page.evaluate(() => ({
    images: document.querySelectorAll('img').length,
    svgs: [...document.querySelectorAll('svg')].filter((svg) => !svg.closest('figure.qr')).length, // the page's own QR codes aside
    inlineScripts: [...document.scripts].filter((s) => !s.src).length,
    bold: document.querySelectorAll('b').length,
  }));
  assert.deepEqual(injected, { images: 0, svgs: 0, inlineScripts: 0, bold: 0 });
  assert.deepEqual(dialogs, []);
  assert.ok(!requested.some((url) => url.includes('example.invalid')), 'nothing fetched from the link’s host');
  assert.ok(!requested.some((url) => new URL(url).pathname === '/x'), 'no image request');
  assert.equal(await page.inputValue(byTestId('prompt')), 'my own prompt');
  assert.equal(await page.textContent(byTestId('output')), outputBefore);
  assert.deepEqual(problems, []);
});

test('a link for a model not in the list replays from a local file, or from its address after a click', async () => {
  assert.ok(pageLink, 'needs the first test');
  // A site whose manifest lists no model: every link's model is "not in the list" there.
  const scratch = await mkdtemp(join(tmpdir(), 'verbatim-links-'));
  const other = await startServer({ models: scratch });
  const browser = await launchCpuBrowser();
  try {
    await mkdir(join(scratch, 'cache'));
    await writeFile(join(scratch, 'manifest.json'), JSON.stringify({ version: 1, models: [] }));
    await symlink(model.path, join(scratch, 'cache', 'copy.gguf'));
    const wasm = await wasmLinks();
    const valid = wasm.link_decode(new URL(pageLink).hash.slice(1));
    const n = valid.expect.token_ids.length;
    const exactly = new RegExp(`^Reproduced exactly: ${n}/${n} tokens \\(sha256 ${valid.expect.tokens_hash.slice(0, 16)}\\) on the CPU$`);

    // 1. The user opens the file.
    const { page, problems } = await openLink(browser, `${other.url}#${new URL(pageLink).hash.slice(1)}`);
    assert.ok(await page.isVisible(byTestId('link-model-missing')));
    assert.ok(await page.isHidden(byTestId('link-model-url-box')), 'the link names no address');
    assert.ok(await page.isDisabled(byTestId('replay-button')));
    await page.setInputFiles(byTestId('file-input'), model.path);
    await page.waitForSelector(`${byTestId('replay-button')}:not([disabled])`);
    assert.ok(await page.isHidden(byTestId('link-model-missing')));
    assert.match(await replay(page), exactly);
    // A run on a local file names the model by its file name.
    await generate(page, { prompt: 'Hello', chat: false, maxTokens: 3 });
    await page.waitForFunction(() => document.querySelector('[data-testid="app"]').dataset.linkMade === '1');
    const local = wasm.link_decode(new URL(await page.inputValue(byTestId('link-text'))).hash.slice(1));
    assert.deepEqual(local.model, { id: 'smollm2-135m-instruct-q4_1.gguf', sha256: model.entry.sha256 });
    assert.deepEqual(problems, []);
    await page.close();

    // 2. The link names an address: nothing is fetched until the user clicks.
    const address = `${other.url}models/cache/copy.gguf`;
    const withUrl = wasm.link_encode({ ...valid, model: { ...valid.model, url: address } });
    const second = await openLink(browser, `${other.url}#${withUrl}`);
    assert.equal(await second.page.textContent(byTestId('link-model-url')), address);
    assert.equal(await second.page.textContent(byTestId('link-model-host')), new URL(other.url).host);
    assert.equal(other.requestsTo('/models/cache/').length, 0, 'nothing fetched before the click');
    const before = Number((await second.page.getAttribute(byTestId('app'), 'data-replays')) ?? 0);
    await second.page.click(byTestId('link-fetch-button'));
    await second.page.waitForFunction(
      (b) => Number(document.querySelector('[data-testid="app"]').dataset.replays ?? 0) > b || !document.querySelector('[data-testid="error"]').hidden,
      before,
      { timeout: REPLAY_TIMEOUT_MS },
    );
    assert.match(await second.page.textContent(byTestId('replay-result')), exactly);
    assert.equal(await second.page.getAttribute(byTestId('info-source'), 'data-source'), 'url');
    assert.equal(other.requestsTo('/models/cache/copy.gguf').length, 1);
    assert.deepEqual(second.problems, []);
  } finally {
    await browser.close();
    await other.close();
    await rm(scratch, { recursive: true, force: true });
  }
});
