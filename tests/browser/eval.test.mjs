// The Evaluate view: a 20-item subset of arc_easy scored in the page gives the native CLI's items
// hash; its eval link, opened in a fresh browser (empty cache), replays the score exactly; a bad
// task file dropped on the view gets the parser's message.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, openApp } from './lib/app.mjs';
import { REPO_ROOT, WWW_DIR, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const run = promisify(execFile);
const EVAL_TIMEOUT_MS = 300_000;

let server;
let first;
let second;

before(async () => {
  requireWasm();
  requireModel();
  requireNativeBinary();
  if (!existsSync(join(WWW_DIR, 'tasks', 'arc_easy.jsonl'))) {
    throw new Error(`${join(WWW_DIR, 'tasks')} has no arc_easy.jsonl: generate the tasks with \`make tasks\` first.`);
  }
  server = await startServer();
});

after(async () => {
  await first?.close();
  await second?.close();
  await server?.close();
});

async function waitDone(page) {
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="eval-app"]').dataset.state === 'done' ||
      !document.querySelector('[data-testid="eval-error"]').hidden,
    null,
    { timeout: EVAL_TIMEOUT_MS },
  );
  const error = await page.$eval(byTestId('eval-error'), (e) => (e.hidden ? null : e.textContent));
  assert.equal(error, null);
}

test('a 20-item subset scored in the page equals the CLI and its link replays exactly in a fresh browser', async () => {
  const cli = run(
    requireNativeBinary(),
    ['eval', '--task', 'arc_easy', '--limit', '20', '--json', '--tasks-dir', join(WWW_DIR, 'tasks')],
    { cwd: REPO_ROOT, maxBuffer: 1 << 26 },
  );
  first = await launchBrowser({ webgpu: false });
  const { page, problems } = await openApp(first.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.selectOption(byTestId('eval-task'), 'arc_easy');
  await page.selectOption(byTestId('eval-subset'), 'first20');
  await page.click(byTestId('eval-run'));
  await waitDone(page);
  const hash = (await page.textContent(byTestId('eval-items-hash'))).trim();
  const link = await page.inputValue(byTestId('eval-link'));
  assert.match(link, /#e1\.[A-Za-z0-9_-]+$/);
  assert.match(await page.textContent(byTestId('eval-status')), /Done: 20 items/);
  const rows = await page.$$eval(`${byTestId('eval-items')} tr`, (r) => r.length);
  assert.equal(rows, 20);
  const expected = JSON.parse((await cli).stdout);
  assert.equal(hash, expected.items_hash, 'the page and the CLI give the same items hash');
  assert.deepEqual(problems, []);

  second = await launchBrowser({ webgpu: false });
  const replay = await openApp(second.context, link);
  const rp = replay.page;
  await rp.waitForSelector(`${byTestId('eval-replay')}:not([hidden])`, { timeout: 60_000 });
  await rp.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`);
  await rp.click(byTestId('eval-replay-button'));
  await waitDone(rp);
  const verdict = await rp.textContent(byTestId('eval-replay-result'));
  assert.equal(verdict, `Score reproduced exactly: acc ${expected.metrics.acc.toFixed(4)} on 20 items (items sha256 ${hash})`);
  assert.deepEqual(replay.problems, []);
});

test('a bad task file gets a clear error', async () => {
  const { page } = await openApp(first.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  const bad = '{"verbatim_task":1,"name":"x","version":1,"output_type":"multiple_choice","source":{"package":"p","version":"1","path":"-"},"licence":"MIT","items":1,"items_sha256":"' + '0'.repeat(64) + '"}\n{"context":"Q","choices":["a","b"],"gold":5}\n';
  await page.setInputFiles(byTestId('eval-file'), { name: 'mine.jsonl', mimeType: 'text/plain', buffer: Buffer.from(bad) });
  await page.waitForSelector(`${byTestId('eval-error')}:not([hidden])`);
  assert.equal(
    await page.textContent(byTestId('eval-error')),
    'mine.jsonl is not a valid task file: line 2: gold answer 5 is out of range (the item has 2 choices)',
  );
});
