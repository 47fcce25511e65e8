// The wasm CPU executor on several threads (the shared-memory engine, www/pkg-threads/, `make
// wasm-threads`): tools/serve.py makes the page cross-origin isolated, the engine's worker (named
// 'verbatim-engine threads=2', as engine.js starts it) starts one pool worker (pool-worker.js),
// and a representative subset of the golden corpus exact-1 replays to the tokens and per-step
// logits hashes of one thread (tests/golden/exact-1/expected.json, which the native test pins).
// On a plain static server (no headers) the same request runs on one thread and says why, until
// the service worker (sw.js) has made the page isolated: offline.js reloads it once, and then two
// threads run.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, loadModel, openApp, preferCpu, waitForLoad } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, MODELS_DIR, WWW_DIR, requireModel, requireWasm } from './lib/env.mjs';
import { byModel, expected, selectCases } from './lib/golden.mjs';
import { startServer } from './lib/server.mjs';
import { startStaticServer } from './lib/site.mjs';

// Chat, raw unicode bytes, top-k sampling, repetition penalty, a stop string: every part of a
// step, short enough for two threads on a busy two-core machine.
const SUBSET = ['chat-capital', 'raw-cjk', 'sample-topk5', 'sample-penalty', 'stop-string'];
const cases = selectCases(SUBSET);

let server;
let browser;
let page;
let scratch; // www/ and models/ side by side, for the plain static server
let plain; // that server: no COOP/COEP headers

before(async () => {
  requireWasm();
  for (const file of ['pkg-threads/verbatim.js', 'pkg-threads/verbatim_bg.wasm']) {
    if (!existsSync(join(WWW_DIR, file))) {
      throw new Error(`${join(WWW_DIR, file)} is missing: build the threaded engine with \`make wasm-threads\` first.`);
    }
  }
  for (const id of byModel(cases).keys()) requireModel(id);
  server = await startServer();
  scratch = await mkdtemp(join(tmpdir(), 'verbatim-threads-'));
  await symlink(WWW_DIR, join(scratch, 'www'));
  await symlink(MODELS_DIR, join(scratch, 'models'));
  await writeFile(join(scratch, 'blank.html'), '<!doctype html><meta charset="utf-8"><title>blank</title>\n');
  plain = await startStaticServer(scratch);
  browser = await launchBrowser({ webgpu: false });
  page = await browser.context.newPage();
  await page.goto(server.url);
});

after(async () => {
  await browser?.close();
  await server?.close();
  await plain?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/**
 * Starts the engine's worker for N threads, loads the model file from this site and runs each
 * case through the worker's messages. Resolves to {ready, loaded, results: {case id -> outcome as
 * in expected.json}}.
 */
function runInWorker(threads, entry, runs, { on = page, folder = '' } = {}) {
  return on.evaluate(
    async ({ threads, entry, runs, folder }) => {
      const worker = new Worker(`${folder}worker.js`, { type: 'module', name: `verbatim-engine threads=${threads}` });
      const inbox = [];
      let wake = null;
      worker.onmessage = ({ data }) => {
        inbox.push(data);
        wake?.();
      };
      const next = async (...statuses) => {
        for (;;) {
          const i = inbox.findIndex((m) => statuses.includes(m.status) || m.status === 'error');
          if (i >= 0) {
            const [m] = inbox.splice(i, 1);
            if (m.status === 'error') throw new Error(`engine error (${m.code}): ${m.message}`);
            return m;
          }
          await new Promise((resolve) => (wake = resolve));
        }
      };
      try {
        const ready = await next('ready');
        const url = new URL(`${location.pathname.startsWith('/www/') ? '../' : ''}models/cache/${entry.file}`, location.href).href;
        worker.postMessage({ type: 'load-url', url, sha256: entry.sha256, name: entry.file, engine: 'exact', executor: 'cpu' });
        const loaded = await next('loaded');
        const results = {};
        for (const { id, options } of runs) {
          inbox.length = 0;
          worker.postMessage({ type: 'generate', run: options });
          const begun = await next('begun');
          const done = await next('done');
          const tokens = inbox.filter((m) => m.status === 'token');
          results[id] = {
            prompt_tokens: begun.prompt_tokens,
            token_ids: done.token_ids,
            logits_hashes: tokens.map((m) => m.logits_hash),
            tokens_hash: done.tokens_hash,
            stop_reason: done.reason,
            text: done.text,
          };
        }
        return { isolated: self.crossOriginIsolated, ready, loaded: { executor: loaded.executor }, results };
      } finally {
        worker.terminate();
      }
    },
    { threads, entry, runs, folder },
  );
}

test(`golden corpus exact-1 on 2 wasm threads: ${cases.length} cases as on one thread`, { timeout: 240_000 }, async () => {
  for (const [id, runs] of byModel(cases)) {
    const { entry } = requireModel(id);
    const { isolated, ready, loaded, results } = await runInWorker(2, entry, runs);
    assert.equal(isolated, true, 'tools/serve.py makes the page cross-origin isolated');
    assert.deepEqual(ready.threads, { requested: 2, running: 2, why: null });
    assert.equal(loaded.executor.kind, 'cpu');
    assert.equal(loaded.executor.threads, 2);
    for (const { id: caseId } of runs) {
      assert.deepEqual(results[caseId], expected.cases[caseId], `${caseId} on 2 threads differs from 1 thread`);
    }
  }
});

/** Resolves once `page` (reloaded by offline.js, perhaps) is cross-origin isolated. */
async function waitForIsolation(on, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await on.evaluate(() => self.crossOriginIsolated)) return;
    } catch {
      // the page is reloading
    }
    if (Date.now() > until) throw new Error(`the page was not cross-origin isolated within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('a host without headers: one thread and why, then isolated by the service worker after one reload', { timeout: 240_000 }, async () => {
  const { entry } = requireModel(DEFAULT_MODEL_ID);
  const [first] = selectCases(['chat-capital']);
  const fresh = await launchBrowser({ webgpu: false }); // no service worker yet
  const { context } = fresh;
  try {
    // A page of that host, not isolated: one thread runs, and the engine says why.
    const bare = await context.newPage();
    await bare.goto(`${plain.origin}/blank.html`);
    const single = await runInWorker(2, entry, [first], { on: bare, folder: 'www/' });
    assert.equal(single.isolated, false);
    assert.deepEqual(single.ready.threads, {
      requested: 2,
      running: 1,
      why: 'the page is not cross-origin isolated, so it has no shared memory',
    });
    assert.equal(single.loaded.executor.threads, 1);
    assert.deepEqual(single.results[first.id], expected.cases[first.id]);
    await bare.close();

    // The page: offline.js registers sw.js, reloads once when it is active, and sw.js adds the headers.
    const app = await context.newPage();
    await app.goto(`${plain.origin}/www/`);
    await waitForIsolation(app, 60_000);
    await app.waitForFunction(() => document.documentElement.dataset.offline === 'controlled', null, { timeout: 30_000 });
    const threaded = await runInWorker(2, entry, [first], { on: app });
    assert.deepEqual(threaded.ready.threads, { requested: 2, running: 2, why: null });
    assert.deepEqual(threaded.results[first.id], expected.cases[first.id]);
  } finally {
    await fresh.close();
  }
});

test('the page says which runs ("CPU, 2 threads"); Threads moves the model to another count and is remembered', { timeout: 240_000 }, async () => {
  const fresh = await launchBrowser({ webgpu: false });
  try {
    await preferCpu(fresh.context);
    const { page: app, problems } = await openApp(fresh.context, server.url);
    assert.equal(await app.inputValue(byTestId('threads-select')), 'auto');
    await loadModel(app, DEFAULT_MODEL_ID);
    assert.equal(await app.textContent(byTestId('threads')), 'CPU, 2 threads'); // Automatic: 2 cores here
    await app.selectOption(byTestId('threads-select'), '1');
    await app.waitForFunction(() => document.querySelector('[data-testid="app"]').dataset.state !== 'ready');
    await waitForLoad(app);
    assert.equal(await app.textContent(byTestId('threads')), 'CPU, 1 thread');
    await app.reload();
    assert.equal(await app.inputValue(byTestId('threads-select')), '1');
    assert.deepEqual(problems, []);
  } finally {
    await fresh.close();
  }
});
