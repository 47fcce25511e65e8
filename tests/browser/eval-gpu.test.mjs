// The Evaluate view on WebGPU (SwiftShader here): with "GPU" chosen under Executor, the first
// item of arc_easy (as a task file: it is short, and software WebGPU is slow; four choices, so the
// cache is still rewound and continuations batched several times) are scored on the
// WebGPU executor (the KV cache rewound for each choice, continuations batched), the view says so,
// and the items hash equals the native CPU executor's.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, openApp, preferExecutor } from './lib/app.mjs';
import { REPO_ROOT, WWW_DIR, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const run = promisify(execFile);
const ITEMS = 1;
const EVAL_TIMEOUT_MS = 540_000;

let server;
let browser;
let dir;

before(async () => {
  requireWasm();
  requireModel();
  requireNativeBinary();
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), 'verbatim-eval-gpu-'));
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** arc_easy's first `n` items as a task file of their own (same items, same indices). */
function firstItems(n) {
  const lines = readFileSync(join(WWW_DIR, 'tasks', 'arc_easy.jsonl'), 'utf8').split('\n');
  const header = JSON.parse(lines[0]);
  const items = lines.slice(1, 1 + n).map((l) => `${l}\n`).join('');
  const own = { ...header, name: `arc_easy_first${n}`, items: n, items_sha256: createHash('sha256').update(items).digest('hex') };
  return Buffer.from(`${JSON.stringify(own)}\n${items}`);
}

test('forced onto WebGPU, the first items of arc_easy give the CPU executor\'s items hash', async () => {
  const file = firstItems(ITEMS);
  const path = join(dir, 'first.jsonl');
  writeFileSync(path, file);
  const cli = run(requireNativeBinary(), ['eval', '--task-file', path, '--executor', 'cpu', '--json'], { cwd: REPO_ROOT });

  browser = await launchBrowser({ webgpu: true });
  await preferExecutor(browser.context, 'gpu');
  const { page, problems } = await openApp(browser.context, server.url);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.setInputFiles(byTestId('eval-file'), { name: 'first.jsonl', mimeType: 'text/plain', buffer: file });
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-own-status"]').textContent.startsWith('first.jsonl'));
  await page.selectOption(byTestId('eval-subset'), 'all');
  const started = Date.now();
  await page.click(byTestId('eval-run'));
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="eval-app"]').dataset.state === 'done' ||
      !document.querySelector('[data-testid="eval-error"]').hidden,
    null,
    { timeout: EVAL_TIMEOUT_MS, polling: 1000 },
  );
  const error = await page.$eval(byTestId('eval-error'), (e) => (e.hidden ? null : e.textContent));
  assert.equal(error, null);
  assert.equal(await page.getAttribute(byTestId('eval-executor'), 'data-executor'), 'gpu', await page.textContent(byTestId('eval-executor')));
  assert.match(await page.textContent(byTestId('eval-executor')), /^Scored on WebGPU \(.*swiftshader.*\)\.$/i);
  assert.match(await page.textContent(byTestId('eval-status')), new RegExp(`^Done: ${ITEMS} item${ITEMS === 1 ? "" : "s"} · [0-9.]+ tokens scored per second on WebGPU`));
  const expected = JSON.parse((await cli).stdout);
  assert.equal((await page.textContent(byTestId('eval-items-hash'))).trim(), expected.items_hash, 'WebGPU and the native CPU executor give the same items hash');
  assert.deepEqual(problems, []);
  console.log(`# ${ITEMS} item(s) on WebGPU in ${((Date.now() - started) / 1000).toFixed(0)} s (load, self-test and scoring)`);
});
