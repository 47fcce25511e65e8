// The embed view (www/embed.html) in an <iframe> on another origin, as a blog would show it: it
// shows what a CLI-made link runs, downloads nothing before "Replay", then replays it exactly; it
// fits a 320-px-wide frame; bad links get a message. The main page itself may not be framed by
// another site (tools/serve.py's frame-ancestors), the embed view may.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { launchBrowser } from './lib/browser.mjs';
import { byTestId, preferCpu } from './lib/app.mjs';
import { DEFAULT_MODEL_ID, requireModel, requireNativeBinary, requireWasm } from './lib/env.mjs';
import { startServer } from './lib/server.mjs';

const run = promisify(execFile);
const REPLAY_TIMEOUT_MS = 120_000;

let server; // the Verbatim site
let blog; // another origin that frames it
let blogUrl;
let browser;
let payload; // "v1.…" of a 6-token link made by the CLI

/** The blog's page: `frames` as [{src, width, height}]. */
let frames = [];

before(async () => {
  requireWasm();
  requireModel(DEFAULT_MODEL_ID);
  const bin = requireNativeBinary();
  const { stdout } = await run(bin, ['link', '--prompt', 'Name a colour.', '--chat', '--max-tokens', '6'], { maxBuffer: 1 << 20 });
  payload = stdout.trim().slice(stdout.trim().indexOf('#') + 1);
  assert.match(payload, /^v1\./);
  server = await startServer();
  blog = createServer((request, response) => {
    const body = frames.map((f) => `<iframe src="${f.src}" title="Verbatim run" width="${f.width}" height="${f.height}" loading="lazy"></iframe>`).join('\n');
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><title>A blog</title><p>My post.</p>${body}`);
  });
  blog.listen(0, '127.0.0.1');
  await once(blog, 'listening');
  // "localhost" rather than 127.0.0.1: another origin (and another site) than the Verbatim server's.
  blogUrl = `http://localhost:${blog.address().port}/`;
  browser = await launchBrowser({ webgpu: false });
  await preferCpu(browser.context);
});

after(async () => {
  await browser?.close();
  await server?.close();
  blog?.close();
});

/** Opens the blog with `frames`; resolves to {page, frame: the first iframe's Frame}. */
async function openBlog(list) {
  frames = list;
  const page = await browser.context.newPage();
  await page.goto(blogUrl);
  const handle = await page.waitForSelector('iframe');
  const frame = await handle.contentFrame();
  return { page, frame };
}

test('an embedded link shows its run, downloads nothing before Replay, then replays exactly', async () => {
  const { page, frame } = await openBlog([{ src: `${server.url}embed.html#${payload}`, width: 600, height: 400 }]);
  await frame.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
  assert.match(await frame.textContent(byTestId('embed-model')), /SmolLM2-135M-Instruct/);
  assert.equal((await frame.textContent(byTestId('embed-input'))).trim(), 'user: Name a colour.');
  assert.match(await frame.textContent(byTestId('embed-settings')), /chat · greedy · 6 tokens/);
  assert.equal(await frame.getAttribute(byTestId('embed-open-link'), 'href'), `${server.url}index.html#${payload}`);
  assert.equal(server.requestsTo('/models/cache/').length, 0, 'nothing is downloaded before a click');

  await frame.click(byTestId('embed-replay'));
  await frame.waitForFunction(() => document.querySelector('[data-testid="embed-verdict"]').textContent !== '', null, {
    timeout: REPLAY_TIMEOUT_MS,
  });
  assert.match(await frame.textContent(byTestId('embed-verdict')), /^Reproduced exactly: 6\/6 tokens \(sha256 [0-9a-f]{16}\) on the CPU/);
  assert.equal(await frame.getAttribute(byTestId('embed-verdict'), 'data-verdict'), 'exact');
  assert.notEqual((await frame.textContent(byTestId('embed-output'))).trim(), '');
  assert.equal(server.requestsTo('/models/cache/').filter((r) => r.status === 200).length, 1);
  await page.close();
});

test('the card fits a 320-px frame, and bad links say what is wrong', async () => {
  const { page, frame } = await openBlog([{ src: `${server.url}embed.html#${payload}`, width: 320, height: 400 }]);
  await frame.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
  const overflow = await frame.evaluate(() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth);
  assert.equal(overflow, 0, 'no horizontal scrolling at 320 px');
  assert.equal(await frame.isVisible(byTestId('embed-replay')), true);

  for (const [hash, expected] of [
    ['', /its address ends in “#v1\.…”/],
    [`#${payload.slice(0, -12)}`, /^This link cannot be opened: /],
    ['#v1.AA!A', /cannot be in a link/],
  ]) {
    await frame.goto('about:blank');
    await frame.goto(`${server.url}embed.html${hash}`);
    await frame.waitForSelector(`${byTestId('embed')}[data-state="failed"]`, { timeout: 60_000 });
    assert.match(await frame.textContent(byTestId('embed-error')), expected);
  }
  await page.close();
});

test('on a metered connection a download over 100 MB asks first, as on the page', async () => {
  frames = [{ src: `${server.url}embed.html#${payload}`, width: 600, height: 400 }];
  const page = await browser.context.newPage();
  await page.addInitScript(() => Object.defineProperty(navigator, 'connection', { value: { saveData: true, effectiveType: '4g' } }));
  // The same model listed as 150 MB (its real size is under the 100 MB threshold), not yet saved
  // in this frame's storage.
  await page.route('**/models/manifest.json', async (route) => {
    const manifest = await (await route.fetch()).json();
    manifest.models = manifest.models.map((m) => (m.id === DEFAULT_MODEL_ID ? { ...m, size: 150_000_000 } : m));
    await route.fulfill({ json: manifest });
  });
  await page.goto(blogUrl);
  const frame = await (await page.waitForSelector('iframe')).contentFrame();
  await frame.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
  // Saved by the first test, where the browser gives a third-party frame storage (this headless
  // Chromium does not: there the embed downloads every time).
  await frame.evaluate(() => caches.delete('verbatim-models-v1').catch(() => false));
  await frame.goto('about:blank');
  await frame.goto(`${server.url}embed.html#${payload}`);
  await frame.waitForSelector(`${byTestId('embed')}[data-state="idle"]`, { timeout: 60_000 });
  assert.equal(await frame.textContent(byTestId('embed-replay')), 'Download 150.0 MB and replay');
  const downloads = server.requestsTo('/models/cache/').length;
  await frame.click(byTestId('embed-replay'));
  await frame.waitForSelector(`${byTestId('embed-consent')}:not([hidden])`);
  assert.match(await frame.textContent(byTestId('embed-consent-message')), /is a download of 150\.0 MB, and this browser says the connection is metered or slow\. Download it now\?$/);
  await frame.click(byTestId('embed-consent-no'));
  assert.equal(await frame.isVisible(byTestId('embed-consent')), false);
  assert.equal(await frame.getAttribute(byTestId('embed'), 'data-state'), 'idle');
  assert.equal(server.requestsTo('/models/cache/').length, downloads, 'nothing was downloaded');
  await page.close();
});

test('another site may frame the embed view but not the page', async () => {
  const { page } = await openBlog([
    { src: `${server.url}index.html`, width: 600, height: 400 },
    { src: `${server.url}embed.html#${payload}`, width: 600, height: 400 },
  ]);
  const [pageFrame, embedFrame] = await Promise.all([...(await page.$$('iframe'))].map((h) => h.contentFrame()));
  await embedFrame.waitForSelector(byTestId('embed'), { timeout: 60_000 });
  // A frame refused by frame-ancestors holds Chromium's error page, not the app.
  await pageFrame.waitForLoadState('load');
  assert.equal(await pageFrame.$(byTestId('app')), null, 'index.html must not render inside another site');
  assert.match(pageFrame.url(), /^chrome-error:/);
  await page.close();
});
