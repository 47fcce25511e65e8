// Gemma 3 in the Evaluate view: listed beside SmolLM2 under its spec (exact-2); its terms are asked
// for before the download (declining downloads nothing, accepting downloads it with Generate's
// checks and saves it); the first three items of arc_easy (as a task file of their own: the same
// items) scored on the wasm CPU executor give the native CLI's items hash, pinned below.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, cachedModelKeys, openApp, preferCpu } from './lib/app.mjs';
import { WWW_DIR, requireModel, requireWasm } from './lib/env.mjs';
import { GEMMA_ID } from './lib/gemma.mjs';
import { startServer } from './lib/server.mjs';

const ITEMS = 3;
// `verbatim eval --task arc_easy --model gemma-3-270m-q4_k_m --limit 3 --json` (native CPU
// executor, spec exact-2 + score-1): its items_hash and acc.
const CLI_ITEMS_HASH = '35b2300f95af66bbec77c7a0d15d7ee9dfce3bf9a2a21b84b03a2065c9a23265';
const CLI_ACC = '0.0000'; // acc 0.0: none of the three right (a 270M base model)
const EVAL_TIMEOUT_MS = 240_000;

let server;
let browser;

before(async () => {
  requireWasm();
  requireModel(GEMMA_ID);
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** arc_easy's first `n` items as a task file of their own (same items, same indices). */
function firstItems(n) {
  const lines = readFileSync(join(WWW_DIR, 'tasks', 'arc_easy.jsonl'), 'utf8').split('\n');
  const header = JSON.parse(lines[0]);
  const items = lines.slice(1, 1 + n).map((l) => `${l}\n`).join('');
  const own = { ...header, name: 'arc_easy_first3', items: n, items_sha256: createHash('sha256').update(items).digest('hex') };
  return Buffer.from(`${JSON.stringify(own)}\n${items}`);
}

async function waitEnd(page) {
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="eval-app"]').dataset.state === 'done' ||
      !document.querySelector('[data-testid="eval-error"]').hidden,
    null,
    { timeout: EVAL_TIMEOUT_MS, polling: 500 },
  );
}

test('Gemma 3 scores the first arc_easy items on the wasm CPU with the CLI\'s items hash, after its terms', { timeout: EVAL_TIMEOUT_MS + 60_000 }, async (t) => {
  const { entry } = requireModel(GEMMA_ID);
  browser = await launchBrowser({ webgpu: false });
  await preferCpu(browser.context);
  const { page, problems } = await openApp(browser.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  const options = await page.$$eval(`${byTestId('eval-model')} option`, (os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(
    options.map(([value]) => value),
    ['smollm2-135m-instruct-q4_1', GEMMA_ID],
    'both models the exact engine runs are offered',
  );
  assert.equal(options[1][1], `${entry.name} · exact-2`);
  await page.selectOption(byTestId('eval-model'), GEMMA_ID);
  await page.setInputFiles(byTestId('eval-file'), { name: 'first.jsonl', mimeType: 'text/plain', buffer: firstItems(ITEMS) });
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-own-status"]').textContent.startsWith('first.jsonl'));
  await page.selectOption(byTestId('eval-subset'), 'all');

  // Declined: nothing is downloaded, and the view says why.
  await page.click(byTestId('eval-run'));
  await page.waitForSelector(`${byTestId('eval-terms')}:not([hidden])`);
  assert.match(await page.textContent(byTestId('eval-terms-message')), /^Gemma 3 270M \(Q4_K_M\) is provided under the Gemma Terms of Use\./);
  assert.equal(await page.getAttribute(byTestId('eval-terms-link'), 'href'), entry.license_url);
  await page.click(byTestId('eval-terms-decline'));
  await page.waitForSelector(`${byTestId('eval-error')}:not([hidden])`);
  assert.equal(await page.textContent(byTestId('eval-error')), `${entry.name} was not downloaded: its terms were not accepted.`);
  assert.equal(server.requestsTo(`/models/cache/${entry.file}`).length, 0, 'declining downloads nothing');

  // Accepted: downloaded (checked, saved), then scored.
  const started = Date.now();
  await page.click(byTestId('eval-run'));
  await page.waitForSelector(`${byTestId('eval-terms')}:not([hidden])`);
  await page.click(byTestId('eval-terms-accept'));
  await waitEnd(page);
  const error = await page.$eval(byTestId('eval-error'), (e) => (e.hidden ? null : e.textContent));
  assert.equal(error, null);
  assert.equal(await page.getAttribute(byTestId('eval-app'), 'data-terms'), 'accepted');
  assert.equal(await page.getAttribute(byTestId('eval-executor'), 'data-executor'), 'cpu');
  assert.equal(await page.textContent(byTestId('eval-spec')), 'exact-2 + score-1');
  assert.match(await page.textContent(byTestId('eval-status')), new RegExp(`^Done: ${ITEMS} items · [0-9.]+ tokens scored per second on the wasm CPU executor\\.$`));
  const hash = (await page.textContent(byTestId('eval-items-hash'))).trim();
  assert.equal(hash, CLI_ITEMS_HASH, 'the page (wasm CPU) and the native CLI give the same items hash');
  const acc = await page.$eval(`${byTestId('eval-metrics')} tr td:nth-child(2)`, (td) => td.textContent);
  assert.equal(acc, CLI_ACC);
  assert.ok((await cachedModelKeys(page)).some((k) => k.includes(entry.sha256)), 'the downloaded model was saved in this browser');
  assert.deepEqual(problems, []);
  t.diagnostic(`Gemma: download, checks and ${ITEMS} items in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
