// The Evaluate view on the published site: tools/build_site.py's output under a sub-path of a plain
// static file server, models from the emulated public host (tools/remote_origin.py). The view runs
// the versioned engine (engine/exact-1/: its eval worker and wasm, never the root pkg/), downloads
// a model that is not saved yet from the manifest's public source with Generate's checks (a file
// with wrong bytes is refused in words and not saved), then scores two arc_easy items with the
// native CLI's items hash.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, cachedModelKeys, openApp, preferCpu } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, REPO_ROOT, WWW_DIR, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { buildSite, startRemoteOrigin, startStaticServer } from './lib/site.mjs';

const SUB_PATH = 'verbatim';
const ITEMS = 2;
const EVAL_TIMEOUT_MS = 180_000;

let scratch;
let remote;
let server;
let browser;

before(async () => {
  requireWasm();
  requireModel(DEFAULT_MODEL_ID);
  requireNativeBinary();
  scratch = await mkdtemp(join(tmpdir(), 'verbatim-site-eval-'));
  remote = await startRemoteOrigin();
  await buildSite(join(scratch, SUB_PATH), remote, join(scratch, 'releases'));
  server = await startStaticServer(scratch);
});

after(async () => {
  await browser?.close();
  await server?.close();
  await remote?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** arc_easy's first `n` items as a task file of their own (same items, same indices). */
function firstItems(n) {
  const lines = readFileSync(join(WWW_DIR, 'tasks', 'arc_easy.jsonl'), 'utf8').split('\n');
  const header = JSON.parse(lines[0]);
  const items = lines.slice(1, 1 + n).map((l) => `${l}\n`).join('');
  const own = { ...header, name: `arc_easy_first${n}`, items: n, items_sha256: createHash('sha256').update(items).digest('hex') };
  return Buffer.from(`${JSON.stringify(own)}\n${items}`);
}

async function runToEnd(page) {
  await page.click(byTestId('eval-run'));
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="eval-app"]').dataset.state === 'done' ||
      !document.querySelector('[data-testid="eval-error"]').hidden,
    null,
    { timeout: EVAL_TIMEOUT_MS, polling: 250 },
  );
  return page.$eval(byTestId('eval-error'), (e) => (e.hidden ? null : e.textContent));
}

test('on the built site, Evaluate downloads from the public source with the checks, runs engine/exact-1/ and gives the CLI\'s items hash', { timeout: EVAL_TIMEOUT_MS * 2 }, async () => {
  const { entry } = requireModel(DEFAULT_MODEL_ID);
  const modelPath = new URL(entry.sources.find((s) => s.kind === 'url').url).pathname;
  const file = firstItems(ITEMS);
  const taskPath = join(scratch, 'first.jsonl');
  await writeFile(taskPath, file);
  const cli = promisify(execFile)(requireNativeBinary(), ['eval', '--task-file', taskPath, '--model', DEFAULT_MODEL_ID, '--json'], { cwd: REPO_ROOT });

  browser = await launchBrowser({ webgpu: false });
  await preferCpu(browser.context);
  const requested = [];
  // What the page and its workers load (the service worker's copy of the whole site aside).
  browser.context.on('request', (request) => request.serviceWorker() || requested.push(new URL(request.url()).pathname));
  const { page, problems } = await openApp(browser.context, `${server.origin}/${SUB_PATH}/`);
  await page.waitForSelector(`${byTestId('eval-app')}[data-state="ready"]`, { timeout: 60_000 });
  await page.selectOption(byTestId('eval-model'), DEFAULT_MODEL_ID);
  await page.setInputFiles(byTestId('eval-file'), { name: 'first.jsonl', mimeType: 'text/plain', buffer: file });
  await page.waitForFunction(() => document.querySelector('[data-testid="eval-own-status"]').textContent.startsWith('first.jsonl'));
  await page.selectOption(byTestId('eval-subset'), 'all');

  // The public host serves a damaged file: refused in words, nothing saved.
  await remote.setMode(modelPath, 'wrong-bytes');
  const refused = await runToEnd(page);
  assert.match(refused, new RegExp(`^Checksum mismatch: the downloaded ${entry.file.replace(/\./g, '\\.')} is not the published file \\(its SHA-256 is [0-9a-f]{64}, the manifest expects ${entry.sha256}\\)\\.`));
  assert.deepEqual(await cachedModelKeys(page), [], 'a damaged download is not saved');

  // The right file: downloaded from the hub (redirected to its CDN), checked, saved, scored.
  await remote.setMode(modelPath, 'ok');
  assert.equal(await runToEnd(page), null);
  assert.equal(await page.getAttribute(byTestId('eval-executor'), 'data-executor'), 'cpu');
  assert.equal(await page.textContent(byTestId('eval-spec')), 'exact-1 + score-1');
  const expected = JSON.parse((await cli).stdout);
  assert.equal((await page.textContent(byTestId('eval-items-hash'))).trim(), expected.items_hash, 'the built site and the native CLI give the same items hash');
  assert.ok((await cachedModelKeys(page)).some((k) => k.includes(entry.sha256)), 'the checked model was saved');

  const log = await remote.log();
  const gets = log.filter((r) => r.method === 'GET').map((r) => `${r.server} ${r.status}`);
  assert.deepEqual(gets, ['hub 302', 'cdn 200', 'hub 302', 'cdn 200'], 'both downloads from the public source (hub, then its CDN)');
  const engine = `/${SUB_PATH}/engine/exact-1/`;
  assert.ok(requested.includes(`${engine}eval/worker.js`), requested.join('\n'));
  assert.ok(requested.includes(`${engine}pkg/verbatim_bg.wasm`), requested.join('\n'));
  const outside = requested.filter((p) => p.startsWith(`/${SUB_PATH}/pkg/`) || p === `/${SUB_PATH}/eval/worker.js`);
  assert.deepEqual(outside, [], 'no engine outside engine/exact-1/');
  assert.ok(!requested.some((p) => p.includes('/models/cache/')), 'no model from this site');
  assert.deepEqual(problems, []);
});
