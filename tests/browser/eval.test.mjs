// The Evaluate view: a 20-item subset of arc_easy scored in the page, interrupted by a reload and
// resumed, gives the native CLI's (uninterrupted) items hash; its eval link, opened in a fresh
// browser (empty cache), replays the score exactly without interruption; a second result (a small
// task file) makes the comparison chart draw one bar per result with the results' values, and
// removing one removes its bar; a bad task file dropped on the view gets the parser's message.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, openApp, preferCpu } from './lib/app.mjs';
import { axeViolations } from './lib/axe.mjs';
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

let expected; // the CLI's result of the 20 items
let pageHash;

test('a 20-item subset interrupted by a reload resumes to the CLI\'s items hash, and its link replays exactly in a fresh browser', async () => {
  const cli = run(
    requireNativeBinary(),
    ['eval', '--task', 'arc_easy', '--limit', '20', '--json', '--tasks-dir', join(WWW_DIR, 'tasks')],
    { cwd: REPO_ROOT, maxBuffer: 1 << 26 },
  );
  first = await launchBrowser({ webgpu: false });
  await preferCpu(first.context);
  const { page, problems } = await openApp(first.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.selectOption(byTestId('eval-task'), 'arc_easy');
  await page.selectOption(byTestId('eval-subset'), 'first20');
  await page.click(byTestId('eval-run'));
  // Reload once some items are scored (and kept): the view offers the run again and resumes it.
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-progress"]').value >= 5, null, { timeout: EVAL_TIMEOUT_MS });
  await page.reload();
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  const offer = await page.textContent(byTestId('eval-resume'));
  const kept = Number(offer.match(/kept: (\d+) of 20 items of arc_easy/)?.[1]);
  assert.ok(kept >= 5 && kept < 20, offer);
  assert.match(offer, new RegExp(`Run resumes it from item ${kept + 1}\\.$`));
  assert.equal(await page.inputValue(byTestId('eval-subset')), 'first20');
  assert.equal(await page.inputValue(byTestId('eval-task')), 'arc_easy');
  await page.click(byTestId('eval-run'));
  await waitDone(page);
  assert.match(await page.textContent(byTestId('eval-executor')), /^Scored on the wasm CPU executor\.$/);
  assert.match(await page.textContent(byTestId('eval-status')), /^Done: 20 items · [0-9.]+ tokens scored per second on the wasm CPU executor\.$/);
  const hash = (await page.textContent(byTestId('eval-items-hash'))).trim();
  const link = await page.inputValue(byTestId('eval-link'));
  assert.match(link, /#e1\.[A-Za-z0-9_-]+$/);
  const rows = await page.$$eval(`${byTestId('eval-items')} tr`, (r) => r.length);
  assert.equal(rows, 20);
  expected = JSON.parse((await cli).stdout);
  assert.equal(hash, expected.items_hash, 'the resumed page run and the uninterrupted CLI run give the same items hash');
  pageHash = hash;
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

/** A task file of `lines` (items as JSON text) with a valid header. */
function taskFile(name, lines) {
  const items = lines.map((l) => `${l}\n`).join('');
  const header = {
    verbatim_task: 1,
    name,
    version: 1,
    output_type: 'multiple_choice',
    source: { package: 'tests', version: '1', path: '-' },
    licence: 'CC0-1.0',
    items: lines.length,
    items_sha256: createHash('sha256').update(items).digest('hex'),
  };
  return Buffer.from(`${JSON.stringify(header)}\n${items}`);
}

test('two kept results: the chart draws their values as bars with standard-error whiskers, the table agrees, and Remove takes one out', async () => {
  assert.ok(expected, 'needs the first test');
  const { page, problems } = await openApp(first.context, server.url);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  // The arc_easy result of the first test is kept in this browser.
  await page.waitForSelector(`${byTestId('eval-compare')}:not([hidden])`);
  const toy = taskFile('toy', [
    '{"context":"The sky is","choices":["blue","green"],"gold":0}',
    '{"context":"Ice is","choices":["hot","cold"],"gold":1}',
    '{"context":"Fish live in","choices":["water","trees"],"gold":0}',
  ]);
  await page.setInputFiles(byTestId('eval-file'), { name: 'toy.jsonl', mimeType: 'text/plain', buffer: toy });
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-own-status"]').textContent.startsWith('toy.jsonl'));
  await page.selectOption(byTestId('eval-subset'), 'all');
  await page.click(byTestId('eval-run'));
  await waitDone(page);
  const dir = mkdtempSync(join(tmpdir(), 'verbatim-eval-toy-'));
  writeFileSync(join(dir, 'toy.jsonl'), toy);
  const toyResult = JSON.parse((await run(requireNativeBinary(), ['eval', '--task-file', join(dir, 'toy.jsonl'), '--json'], { cwd: REPO_ROOT })).stdout);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(toyResult.n, 3);
  assert.equal((await page.textContent(byTestId('eval-items-hash'))).trim(), toyResult.items_hash);

  const bars = async () =>
    page.$$eval(`${byTestId('eval-chart')} rect.chart-bar`, (rs) =>
      rs.map((r) => ({ task: r.dataset.task, series: r.dataset.series, value: Number(r.dataset.value) })),
    );
  const showMetric = async (metric) => {
    await page.selectOption(byTestId('eval-chart-metric'), metric);
    await page.waitForSelector(`${byTestId('eval-chart')}[data-metric="${metric}"]`);
  };
  await showMetric('acc');
  let got = await bars();
  assert.equal(got.length, 2, JSON.stringify(got));
  const arc = got.find((b) => b.task === 'arc_easy');
  const own = got.find((b) => b.task === 'toy');
  assert.equal(arc.value, expected.metrics.acc);
  assert.match(arc.series, /, first 20$/);
  assert.equal(own.value, toyResult.metrics.acc);
  assert.match(own.series, /, all 3$/);
  const whiskers = await page.$$eval(`${byTestId('eval-chart')} line.chart-whisker[data-se]`, (ls) => ls.map((l) => Number(l.dataset.se)));
  assert.deepEqual(whiskers.sort(), [expected.metrics.acc_stderr, toyResult.metrics.acc_stderr].sort());
  await showMetric('acc_norm');
  got = await bars();
  assert.equal(got.find((b) => b.task === 'arc_easy').value, expected.metrics.acc_norm);
  // The table has the same numbers.
  const rows = await page.$$eval(`${byTestId('eval-compare-rows')} tr`, (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, 2);
  const arcRow = rows.find((r) => r[0] === 'arc_easy');
  assert.equal(arcRow[2], 'first 20');
  assert.equal(arcRow[3], `${expected.metrics.acc.toFixed(4)} ± ${expected.metrics.acc_stderr.toFixed(4)}`);
  // Readable on a 390-px phone: nothing wider than the viewport, chart text at least 10 CSS px.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `the page is ${overflow} px wide at 390`);
  const minFont = await page.$$eval(`${byTestId('eval-chart')} text`, (ts) => Math.min(...ts.map((t) => t.getBoundingClientRect().height)));
  assert.ok(minFont >= 10, `chart text ${minFont} px high`);
  assert.deepEqual(await axeViolations(page), []);

  // Remove the toy result: one bar and one row are left.
  await page.click(`${byTestId('eval-compare-rows')} tr:has(td:text-is("toy")) ${byTestId('eval-compare-remove')}`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="eval-chart"] rect.chart-bar').length === 1);
  assert.equal((await bars())[0].task, 'arc_easy');
  await page.click(byTestId('eval-compare-clear'));
  await page.waitForSelector(`${byTestId('eval-compare')}[hidden]`, { state: 'attached' });
  assert.deepEqual(problems, []);
});

test('with GPU chosen but no usable WebGPU, the view scores on the CPU and says why', async () => {
  const { page, problems } = await openApp(first.context, server.url); // launched without WebGPU
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.evaluate(() => localStorage.setItem('verbatim.executor', 'gpu'));
  const one = taskFile('one', ['{"context":"The sky is","choices":["blue","green"],"gold":0}']);
  await page.setInputFiles(byTestId('eval-file'), { name: 'one.jsonl', mimeType: 'text/plain', buffer: one });
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-own-status"]').textContent.startsWith('one.jsonl'));
  await page.selectOption(byTestId('eval-subset'), 'all');
  await page.click(byTestId('eval-run'));
  await waitDone(page);
  assert.equal(await page.getAttribute(byTestId('eval-executor'), 'data-executor'), 'cpu');
  assert.match(await page.textContent(byTestId('eval-executor')), /^Scored on the wasm CPU executor: the GPU could not be used \(.+\)\.$/);
  await page.evaluate(() => localStorage.setItem('verbatim.executor', 'cpu'));
  assert.deepEqual(problems, []);
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
