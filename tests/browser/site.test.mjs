// The published site: tools/build_site.py's output (`make site`) under a sub-path of a plain static
// file server (`python3 -m http.server`, no custom headers), with the models fetched from an
// emulated public host (tools/remote_origin.py: CORS, a redirect to a second origin, and its
// failure modes). The meta CSP is enforced, the engine comes from engine/exact-1/, downloads fail
// in plain words and keep the user's work, the golden links of this release replay exactly (also
// with the network off, from the service worker's copy of the page and engine, and in the embed
// view framed by another site), a link of an earlier spec runs on that spec's engine, and a host
// that sends the wasm with the wrong type still works, also without WebGPU.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, cachedModelKeys, generate, openApp, preferCpu, waitForLoad, waitForLoadError } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, REPO_ROOT, requireModel, requireWasm } from './lib/env.mjs';
import { rawLinkPayload, wasmLinks } from './lib/links.mjs';
import { checkModelUrl } from '../../www/links.js';
import { buildSite, startRemoteOrigin, startStaticServer } from './lib/site.mjs';

const SUB_PATH = 'verbatim';
// An earlier spec's engine, kept by a release: the exact-1 engine under another name (its worker
// reports that spec), so that a link of that spec must switch the page to its folder.
const EARLIER_SPEC = 'exact-0';
const REPLAY_TIMEOUT_MS = 180_000;

let scratch;
let remote;
let server;
let pageUrl; // the site's address: http://127.0.0.1:P/verbatim/
let modelPath; // the model's path on the public host
let modelSha256;
let browser; // shared by every test but the one without WebGPU (and so is its saved model)
let golden; // id -> link of tests/golden/links/0.1.0.json (this release's)

before(async () => {
  requireWasm();
  const { entry } = requireModel(DEFAULT_MODEL_ID);
  modelPath = new URL(entry.sources.find((s) => s.kind === 'url').url).pathname;
  modelSha256 = entry.sha256;
  const links = JSON.parse(readFileSync(join(REPO_ROOT, 'tests/golden/links/0.1.0.json'), 'utf8')).links;
  golden = Object.fromEntries(links.map((l) => [l.id, l.link]));
  scratch = await mkdtemp(join(tmpdir(), 'verbatim-site-'));
  remote = await startRemoteOrigin();
  const releases = join(scratch, 'releases');
  await buildSite(join(scratch, SUB_PATH), remote, releases);
  await keepAsEarlierRelease(join(scratch, SUB_PATH, 'engine/exact-1'), join(releases, 'v0/engine', EARLIER_SPEC));
  await buildSite(join(scratch, SUB_PATH), remote, releases);
  server = await startStaticServer(scratch);
  pageUrl = `${server.origin}/${SUB_PATH}/`;
  browser = await launchBrowser();
  await preferCpu(browser.context); // executor choice: test 4 and executor.test.mjs
});

after(async () => {
  await browser?.close();
  await server?.close();
  await remote?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Copies an engine folder to `folder` as the engine of EARLIER_SPEC, with its SHA256SUMS. */
async function keepAsEarlierRelease(engine, folder) {
  await cp(engine, folder, { recursive: true });
  const worker = join(folder, 'worker.js');
  const source = await readFile(worker, 'utf8');
  const renamed = source.replace('spec: module.spec_version()', `spec: '${EARLIER_SPEC}'`);
  assert.notEqual(renamed, source, 'worker.js reports its spec as expected');
  await writeFile(worker, renamed);
  await promisify(execFile)('python3', ['-c', 'import sys; sys.path.insert(0, "tools"); import build_site, pathlib; build_site.write_sums(pathlib.Path(sys.argv[1]))', folder], { cwd: REPO_ROOT });
}

/** Every file of a folder, relative to it. */
function filesUnder(folder) {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** The page's address with a golden link's fragment. */
const onSite = (base, id) => `${base}#${new URL(golden[id]).hash.slice(1)}`;

/** Problems other than the CSP violation a test provokes on purpose. */
const unexpected = (problems) => problems.filter((p) => !/Content Security Policy/.test(p));

/** Opens a link in a new page and waits until the page has handled it. */
async function openLink(url) {
  const opened = await openApp(browser.context, url);
  await opened.page.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.linksHandled ?? 0) >= 1, null, {
    timeout: 30_000,
  });
  return opened;
}

/** Clicks Replay (loading the model first if needed) and resolves to the result line. */
async function replay(page) {
  await page.waitForSelector(`${byTestId('replay-button')}:not([disabled])`, { timeout: 30_000 });
  await page.click(byTestId('replay-button'));
  await page.waitForFunction(
    () =>
      /^(Reproduced exactly|Diverged|The replay|Ran )/.test(document.querySelector('[data-testid="replay-result"]').textContent) ||
      !document.querySelector('[data-testid="error"]').hidden,
    null,
    { timeout: REPLAY_TIMEOUT_MS },
  );
  return page.textContent(byTestId('replay-result'));
}

test('under a sub-path of a plain static server: the meta CSP is enforced and the engine comes from engine/exact-1/', async () => {
  const response = await fetch(pageUrl);
  assert.equal(response.headers.get('content-security-policy'), null, 'the policy is in the page, not a header');
  const requested = [];
  browser.context.on('request', (request) => requested.push(new URL(request.url()).pathname));
  const { page, problems } = await openApp(browser.context, pageUrl);
  assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'idle');
  assert.ok(requested.includes(`/${SUB_PATH}/engine/exact-1/worker.js`), requested.join('\n'));
  assert.ok(requested.includes(`/${SUB_PATH}/engine/exact-1/pkg/verbatim_bg.wasm`), requested.join('\n'));
  assert.ok(!requested.includes(`/${SUB_PATH}/worker.js`), 'the page runs the versioned engine');
  assert.ok(!requested.some((path) => !path.startsWith(`/${SUB_PATH}/`)), `a request outside the sub-path: ${requested.join('\n')}`);

  // An injected inline script does not run: the <meta> policy forbids it.
  const injected = await page.evaluate(async () => {
    const violation = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true }));
    const script = document.createElement('script');
    script.textContent = 'window.injectedRan = true;';
    document.head.append(script);
    return { ran: window.injectedRan === true, directive: await violation };
  });
  assert.deepEqual(injected, { ran: false, directive: 'script-src-elem' });
  assert.deepEqual(unexpected(problems), []);
  await page.close();
});

test('download failures from the public host are said next to the model list, keep the prompt and cache nothing; then the model downloads through the redirect', async () => {
  const { page, problems } = await openApp(browser.context, pageUrl);
  const prompt = 'My own words, which must survive every failed download.';
  await page.fill(byTestId('prompt'), prompt);
  await page.check(byTestId(`model-option-${DEFAULT_MODEL_ID}`));
  const expected = {
    'no-cors': /^The download of SmolLM2-135M-Instruct \(Q4_1\) failed before it started: 127\.0\.0\.1:\d+ could not be reached, or it does not let this page read the file \(no CORS headers\)/,
    404: /^The download of SmolLM2-135M-Instruct \(Q4_1\) failed: the model file is not at 127\.0\.0\.1:\d+ \(HTTP 404 for http:\/\/127\.0\.0\.1:\d+\/QuantFactory\//,
    cut: /^The download (was interrupted after|ended early: )/,
    'wrong-bytes': /^Checksum mismatch: the downloaded smollm2-135m-instruct-q4_1\.gguf is not the published file/,
  };
  for (const [mode, words] of Object.entries(expected)) {
    await remote.setMode(modelPath, mode);
    await page.click(byTestId('load-button'));
    const message = await waitForLoadError(page);
    assert.match(message, words, mode);
    assert.ok(await page.isVisible(`${byTestId('model-heading')}, ${byTestId('error')}`));
    assert.equal(await page.inputValue(byTestId('prompt')), prompt, mode);
    assert.deepEqual(await cachedModelKeys(page), [], mode);
  }
  await remote.setMode(modelPath, 'ok');
  await page.click(byTestId('retry-button'));
  assert.equal(await waitForLoad(page), 'network');
  assert.match(await page.textContent(byTestId('info-source')), /^Downloaded from 127\.0\.0\.1:\d+, SHA-256 verified/);
  assert.notEqual(new URL(remote.hub).origin, server.origin);
  const log = await remote.log();
  assert.ok(log.some((r) => r.server === 'hub' && r.path === modelPath && r.status === 302), JSON.stringify(log));
  assert.ok(log.some((r) => r.server === 'cdn' && r.path === `/ok${modelPath}` && r.status === 200), JSON.stringify(log));
  assert.equal((await cachedModelKeys(page)).length, 1);
  assert.equal(await page.inputValue(byTestId('prompt')), prompt);

  // A greedy run gives the golden link's tokens, and its link is this page's address.
  const want = (await wasmLinks()).link_decode(new URL(golden['greedy-chat']).hash.slice(1));
  const got = await generate(page, { prompt: 'What is the capital of France?', chat: true, maxTokens: 16 });
  assert.deepEqual(got.tokenIds, want.expect.token_ids);
  await page.waitForFunction(() => document.querySelector('[data-testid="link-text"]').value !== '');
  assert.ok((await page.inputValue(byTestId('link-text'))).startsWith(`${pageUrl}#v1.`));
  assert.deepEqual(unexpected(problems), []);
  await page.close();
});

test('golden links of this release replay exactly in the built site, cited with the release DOI; a damaged link says what to do', async () => {
  // The DOI a release puts in site.json (docs/releasing.md), as the build writes it.
  const manifestPath = join(scratch, SUB_PATH, 'models/manifest.json');
  const original = await readFile(manifestPath, 'utf8');
  const manifest = JSON.parse(original);
  manifest.site.doi = '10.5281/zenodo.1234567';
  await writeFile(manifestPath, JSON.stringify(manifest));
  try {
    // (stop-string replays offline below, greedy-chat in the embed view, stopped-run without WebGPU.)
    for (const id of ['sampled']) {
      const { page, problems } = await openLink(onSite(pageUrl, id));
      const want = (await wasmLinks()).link_decode(new URL(golden[id]).hash.slice(1)).expect.token_ids.length;
      assert.match(await replay(page), new RegExp(`^Reproduced exactly: ${want}/${want} tokens`), id);
      assert.match(await page.textContent(byTestId('cite-text')), /generated with Verbatim \S+ \(https:\/\/doi\.org\/10\.5281\/zenodo\.1234567\)/);
      assert.match(await page.textContent(byTestId('cite-bibtex')), /doi:10\.5281\/zenodo\.1234567/);
      assert.deepEqual(unexpected(problems), [], id);
      await page.close();
    }
  } finally {
    await writeFile(manifestPath, original);
  }
  const { page, problems } = await openLink(`${pageUrl}#v1.AAAAAAAA`);
  assert.ok(await page.isVisible(byTestId('link-error')));
  assert.match(await page.textContent(byTestId('link-error-message')), /^This link cannot be opened: .+ Copy it again from its source/);
  assert.deepEqual(unexpected(problems), []);
  await page.close();
});

test('visited once, the site opens and replays a golden link with no network: page and engine from the service worker, model from the browser', async () => {
  const id = 'stop-string';
  const { page, problems } = await openLink(onSite(pageUrl, id));
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  if (await page.evaluate(() => navigator.serviceWorker.controller === null)) await page.reload(); // the first visit of this browser
  await browser.context.setOffline(true);
  try {
    await page.reload();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="app"]').dataset.linksHandled ?? 0) >= 1, null, { timeout: 30_000 });
    assert.equal(await page.getAttribute('html', 'data-offline'), 'controlled');
    const want = (await wasmLinks()).link_decode(new URL(golden[id]).hash.slice(1)).expect.token_ids.length;
    assert.match(await replay(page), new RegExp(`^Reproduced exactly: ${want}/${want} tokens`));
    assert.match(await page.textContent(byTestId('info-source')), /^Saved copy in this browser/);
  } finally {
    await browser.context.setOffline(false);
  }
  assert.deepEqual(unexpected(problems), []);
  await page.close();
});

/** Another site (localhost, not 127.0.0.1) whose page frames `src`; resolves to {url, close()}. */
async function startBlog(src) {
  const blog = createServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>A blog</title><p>My post.</p><iframe src="${src}" title="Verbatim run" width="600" height="400"></iframe>`);
  });
  blog.listen(0, '127.0.0.1');
  await once(blog, 'listening');
  return { url: `http://localhost:${blog.address().port}/`, close: () => new Promise((resolve) => blog.close(resolve)) };
}

test('the embed view, framed by another site, replays a golden link on engine/exact-1/ with its model from the public host', async () => {
  const id = 'greedy-chat';
  const blog = await startBlog(`${pageUrl}embed.html#${new URL(golden[id]).hash.slice(1)}`);
  // A browser without WebGPU: a third-party frame has no storage here, so the embed cannot read
  // the "Executor" choice and would time the software GPU adapter against the CPU first.
  const reader = await launchBrowser({ webgpu: false });
  const requested = [];
  reader.context.on('request', (request) => requested.push(new URL(request.url()).pathname));
  const page = await reader.context.newPage();
  const problems = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  try {
    await page.goto(blog.url);
    const frame = await (await page.waitForSelector('iframe')).contentFrame();
    await frame.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
    assert.match(await frame.textContent(byTestId('embed-model')), /^SmolLM2-135M-Instruct/);
    assert.equal(await frame.getAttribute(byTestId('embed-open-link'), 'href'), onSite(`${pageUrl}index.html`, id));
    const fetchedBefore = (await remote.log()).filter((r) => r.path.endsWith(modelPath)).length;
    await frame.click(byTestId('embed-replay'));
    await frame.waitForFunction(() => document.querySelector('[data-testid="embed-verdict"]').textContent !== '' || document.querySelector('[data-testid="embed-error"]').hidden === false, null, {
      timeout: REPLAY_TIMEOUT_MS,
    });
    const want = (await wasmLinks()).link_decode(new URL(golden[id]).hash.slice(1)).expect.token_ids.length;
    assert.match(await frame.textContent(byTestId('embed-verdict')), new RegExp(`^Reproduced exactly: ${want}/${want} tokens`), await frame.textContent(byTestId('embed')));
    assert.ok(requested.includes(`/${SUB_PATH}/engine/exact-1/worker.js`), requested.join('\n'));
    assert.ok(!requested.includes(`/${SUB_PATH}/worker.js`), 'the embed runs the versioned engine');
    // This headless Chromium gives a third-party frame no storage: the model came from the public host.
    const fetched = (await remote.log()).filter((r) => r.path.endsWith(modelPath));
    assert.ok(fetched.slice(fetchedBefore).some((r) => r.server === 'cdn' && r.status === 200), JSON.stringify(fetched));
    assert.deepEqual(unexpected(problems), []);
  } finally {
    await reader.close();
    await blog.close();
  }
});

test('a host that sends the wasm as application/octet-stream, a browser without WebGPU: the engine starts, downloads and replays on the CPU', async () => {
  const plain = await startStaticServer(scratch, { wrongWasmType: true });
  const fresh = await launchBrowser({ webgpu: false });
  try {
    const wasmTypes = [];
    fresh.context.on('response', (response) => {
      if (response.url().endsWith('.wasm')) wasmTypes.push([new URL(response.url()).pathname, response.headers()['content-type']]);
    });
    const base = `${plain.origin}/${SUB_PATH}/`;
    const { page, problems } = await openApp(fresh.context, onSite(base, 'stopped-run'));
    await page.waitForFunction(() => document.querySelector('[data-testid="app"]').dataset.link === 'ready', null, { timeout: 30_000 });
    // The engine's wasm (and the evaluation view's) arrive as application/octet-stream, and still run.
    assert.ok(wasmTypes.some(([path]) => path === `/${SUB_PATH}/engine/exact-1/pkg/verbatim_bg.wasm`), JSON.stringify(wasmTypes));
    assert.ok(wasmTypes.every(([, type]) => type === 'application/octet-stream'), JSON.stringify(wasmTypes));
    const want = (await wasmLinks()).link_decode(new URL(golden['stopped-run']).hash.slice(1)).expect.token_ids.length;
    assert.match(await replay(page), new RegExp(`^Reproduced exactly: ${want}/${want} tokens .* on the CPU`));
    assert.equal(await page.textContent(byTestId('info-executor-short')), 'CPU (no usable GPU here)');
    assert.deepEqual(problems, []);
  } finally {
    await fresh.close();
    await plain.close();
  }
});

test('`make site` built the same site: the same files, the same exact-1 engine', () => {
  const made = join(REPO_ROOT, 'site');
  assert.ok(existsSync(join(made, 'index.html')), `${made} is missing: build it with \`make site\` first.`);
  const ours = join(scratch, SUB_PATH);
  const outsideEngines = (folder) => filesUnder(folder).filter((f) => !f.startsWith('engine/'));
  assert.deepEqual(outsideEngines(made), outsideEngines(ours), 'site/ is stale: run `make site`');
  assert.equal(readFileSync(join(made, 'engine/exact-1/SHA256SUMS'), 'utf8'), readFileSync(join(ours, 'engine/exact-1/SHA256SUMS'), 'utf8'));
});

test('a link of an earlier spec kept by the site runs on that spec\'s engine, from its own folder', async () => {
  const requested = [];
  // The pages' and their workers' requests, not the service worker's (its update check fetches every engine).
  const record = (request) => request.serviceWorker() === null && requested.push(new URL(request.url()).pathname);
  browser.context.on('request', record);
  try {
    const payload = rawLinkPayload({ spec: EARLIER_SPEC, id: DEFAULT_MODEL_ID, sha256: modelSha256, prompt: 'Hello', maxTokens: 2 });
    const { page, problems } = await openLink(`${pageUrl}#${payload}`);
    assert.equal(await page.getAttribute(byTestId('app'), 'data-link'), 'ready', await page.textContent(byTestId('link-panel')));
    assert.equal(await page.textContent(byTestId('link-spec')), EARLIER_SPEC);
    assert.ok(requested.includes(`/${SUB_PATH}/engine/${EARLIER_SPEC}/worker.js`), requested.join('\n'));
    assert.match(await replay(page), /^Ran 2 tokens/);
    assert.deepEqual(unexpected(problems), []);
    await page.close();

    // The embed view of the same link starts that engine too, and offers the replay.
    requested.length = 0;
    const card = await browser.context.newPage();
    await card.goto(`${pageUrl}embed.html#${payload}`);
    await card.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 30_000 });
    assert.equal(await card.isDisabled(byTestId('embed-replay')), false);
    assert.ok(requested.includes(`/${SUB_PATH}/engine/${EARLIER_SPEC}/worker.js`), requested.join('\n'));
    await card.close();
  } finally {
    browser.context.off('request', record);
  }
});

test('a link of a spec whose engine folder is missing on the host says so, and nothing hangs', async () => {
  const manifestPath = join(scratch, SUB_PATH, 'models/manifest.json');
  const original = await readFile(manifestPath, 'utf8');
  const manifest = JSON.parse(original);
  manifest.site.engines['exact-9'] = 'engine/exact-9/';
  await writeFile(manifestPath, JSON.stringify(manifest));
  try {
    const payload = rawLinkPayload({ spec: 'exact-9', id: DEFAULT_MODEL_ID, sha256: modelSha256, prompt: 'Hello', maxTokens: 2 });
    // Not openApp: the engine is meant to fail to start here.
    const page = await browser.context.newPage();
    await page.goto(`${pageUrl}#${payload}`);
    await page.waitForFunction(() => document.querySelector('[data-testid="app"]').dataset.link === 'error', null, { timeout: 30_000 });
    assert.equal(await page.textContent(byTestId('link-error-message')), 'This link needs the exact-9 engine, which did not start here. Reload the page to try again.');
    assert.match(await page.textContent(byTestId('error-message')), /^The engine could not be started/);
    assert.equal(await page.getAttribute(byTestId('app'), 'data-state'), 'failed');
    await page.close();
  } finally {
    await writeFile(manifestPath, original);
  }
});

test('model addresses: https:, this site, or an origin the site names (and nothing else)', () => {
  const page = 'http://127.0.0.1:8000';
  const extra = ['http://127.0.0.1:9001'];
  assert.equal(checkModelUrl('http://127.0.0.1:9001/org/m/resolve/abc/M.gguf', page, extra).ok, true);
  assert.equal(checkModelUrl('http://127.0.0.1:9002/M.gguf', page, extra).ok, false);
  assert.equal(checkModelUrl('http://127.0.0.1:9001/M.gguf', page).ok, false);
  assert.equal(checkModelUrl('ftp://127.0.0.1:9001/M.gguf', page, ['ftp://127.0.0.1:9001']).ok, false);
  assert.equal(checkModelUrl('http://127.0.0.1:8000/models/cache/m.gguf', page, extra).ok, true);
  assert.equal(checkModelUrl('https://huggingface.co/x/resolve/abc/M.gguf', page, extra).ok, true);
});
