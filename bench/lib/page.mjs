// Headless Chromium for the browser benchmarks (bench/speed.mjs, bench/retention.mjs): the
// static server (the repository, plus wllama's package at /__wllama__/, with COOP/COEP when
// asked), the run's time budget, Chromium itself and one page per engine in its own browser
// context (so its own renderer process), with its renderer's CPU time and memory from /proc.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { cpuDelta, processSnapshot } from './proc.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE_DEPS = path.join(ROOT, 'tests', 'browser');
export const WLLAMA_DIR = path.join(NODE_DEPS, 'node_modules', '@wllama', 'wllama');
export const PKG_DIR = path.join(ROOT, 'www', 'pkg');
export const MODELS_DIR = path.join(ROOT, 'models', 'cache');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// ---------------------------------------------------------------------------------------------
// static server: the repository, plus wllama's package at /__wllama__/

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** wllama's bundle with one extra worker verb, 'vbt.memory': the byte size of its wasm memory. */
function patchedWllamaJs() {
  const js = fs.readFileSync(path.join(WLLAMA_DIR, 'esm', 'index.js'), 'utf8');
  const anchor = "if (verb === 'wllama.debug') {";
  const at = js.indexOf(anchor);
  if (at < 0 || js.indexOf(anchor, at + 1) >= 0) {
    throw new Error(`wllama's worker code changed: patch anchor ${anchor} not found exactly once`);
  }
  // inside the worker code, which is a string literal: newlines are written as \n
  const verb =
    "if (verb === 'vbt.memory') {\\n" +
    '    msg({ callbackId, result: Number(Module.wasmMemory.buffer.byteLength) });\\n' +
    '    return;\\n' +
    '  }\\n  ';
  return js.slice(0, at) + verb + js.slice(at);
}

/** The server; `isolated`: COOP/COEP on every response, so that the pages get shared memory. */
export function startServer({ isolated = false } = {}) {
  const wllamaJs = patchedWllamaJs();
  const wllamaWasm = fs.readFileSync(path.join(WLLAMA_DIR, 'esm', 'wasm', 'wllama.wasm'));
  const headers = { 'Cache-Control': 'no-store' };
  if (isolated) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (status, type, body) => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': body.length });
      res.end(body);
    };
    if (url.pathname === '/__bench__.html') {
      return send(200, MIME['.html'], Buffer.from('<!doctype html><meta charset="utf-8"><title>bench</title>'));
    }
    if (url.pathname === '/__wllama__/index.js') return send(200, MIME['.js'], Buffer.from(wllamaJs));
    if (url.pathname === '/__wllama__/wllama.wasm') return send(200, MIME['.wasm'], wllamaWasm);
    if (url.pathname === '/favicon.ico') return send(204, 'text/plain', Buffer.alloc(0));
    let rel;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return send(400, 'text/plain', Buffer.from('bad path'));
    }
    const file = path.resolve(ROOT, '.' + rel);
    if (!file.startsWith(ROOT + path.sep) || rel.includes('\0')) return send(403, 'text/plain', Buffer.from('forbidden'));
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return send(404, 'text/plain', Buffer.from('not found'));
      const type = MIME[path.extname(file)] || 'application/octet-stream';
      res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': st.size });
      fs.createReadStream(file).pipe(res);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------
// time budget

let deadline = Infinity;

/** Starts the run's time budget: `seconds` from now. */
export function setBudget(seconds) {
  deadline = Date.now() + seconds * 1000;
}

export const remainingMs = () => deadline - Date.now();

/** Awaits `promise`, failing once the run's time budget is spent. */
export async function bounded(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`time budget exceeded during ${what} (raise --budget or lower the token counts)`)),
      Math.max(0, remainingMs()),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// browser

export async function launch() {
  const require = createRequire(path.join(NODE_DEPS, 'package.json'));
  const { chromium } = require('playwright-core');
  // Playwright gives the browser a fresh temporary --user-data-dir and adds --headless.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const cdp = await browser.newBrowserCDPSession();
  return { browser, cdp };
}

async function rendererPids(cdp) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  return processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
}

/** All Chromium processes' CPU seconds (browser, GPU, network, renderers), from the browser. */
async function chromiumCpu(cdp) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  return processInfo.reduce((sum, p) => sum + p.cpuTime, 0);
}

/**
 * A page in its own browser context, so its own renderer process. The renderer is picked after
 * the engine has loaded, as the unclaimed renderer with the most resident memory.
 */
export async function openPage(bench, label) {
  const context = await bench.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await bounded(page.goto(`${bench.base}/__bench__.html`), `${label}: opening the page`);
  return { context, page, errors, label, pid: null };
}

export async function claimRenderer(bench, p) {
  let best = null;
  for (const pid of await rendererPids(bench.cdp)) {
    if (bench.claimed.has(pid)) continue;
    const snap = processSnapshot(pid);
    if (snap && (!best || snap.rss_kib > best.rss_kib)) best = { pid, rss_kib: snap.rss_kib };
  }
  if (best) {
    p.pid = best.pid;
    bench.claimed.add(best.pid);
  }
  return best ? processSnapshot(best.pid) : null;
}

/** Runs `what` with the page's renderer CPU, all of Chromium's CPU and wall time around it. */
export async function measured(bench, p, what, fn) {
  const others = [...bench.pages].filter((q) => q !== p && q.pid);
  const before = { self: processSnapshot(p.pid), others: others.map((q) => processSnapshot(q.pid)), all: await chromiumCpu(bench.cdp) };
  const t0 = performance.now();
  let result;
  try {
    result = await bounded(fn(), `${p.label}: ${what}`);
  } catch (e) {
    if (p.errors.length) e.message += `\npage errors:\n  ${p.errors.join('\n  ')}`;
    throw e;
  }
  const wall_s = (performance.now() - t0) / 1000;
  const after = { self: processSnapshot(p.pid), others: others.map((q) => processSnapshot(q.pid)), all: await chromiumCpu(bench.cdp) };
  const cpu = cpuDelta(before.self, after.self);
  const othersCpu = others.reduce((s, _, i) => s + (cpuDelta(before.others[i], after.others[i])?.total_s ?? 0), 0);
  return {
    result,
    wall_s,
    renderer_cpu_s: cpu?.total_s ?? null,
    renderer_threads_cpu_s: cpu?.threads ?? null,
    chromium_cpu_s: after.all - before.all,
    other_renderers_cpu_s: othersCpu,
  };
}

/**
 * Runs `fn(bench)` with the static server (COOP/COEP on every response when `isolated`) and
 * Chromium started, and closes both after it; `bench` is {opts, base, browser, cdp, claimed, pages}.
 */
export async function withBench(opts, { isolated = false } = {}, fn) {
  const server = await startServer({ isolated });
  try {
    const { browser, cdp } = await bounded(launch(), 'starting Chromium');
    try {
      return await fn({ opts, base: `http://127.0.0.1:${server.address().port}`, browser, cdp, claimed: new Set(), pages: new Set() });
    } finally {
      await browser.close().catch(() => {});
    }
  } finally {
    server.close();
  }
}

/** Writes a benchmark's report as JSON when `file` is given. */
export function writeJson(file, report) {
  if (!file) return;
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.error(`wrote ${file}`);
}

/** Runs a benchmark script's `main`: exit 0, or 1 with its error (its stack with BENCH_DEBUG=1). */
export function runMain(script, main) {
  main().then(
    () => process.exit(0),
    (e) => {
      // the stack only helps when debugging the script itself
      console.error(`${script}: ${process.env.BENCH_DEBUG && e && e.stack ? e.stack : e && e.message ? e.message : e}`);
      process.exit(1);
    },
  );
}
