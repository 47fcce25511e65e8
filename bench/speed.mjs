#!/usr/bin/env node
// In-browser speed of Verbatim's exact engine against wllama (llama.cpp as wasm), one thread each
// (with --threads N: at 1 and at N threads each, in the same run).
//
// Serves the repository on 127.0.0.1 (no COOP/COEP headers, so wllama runs single-threaded; with
// --threads N > 1 the server sends COOP/COEP, the pages are cross-origin isolated, and both
// engines' threaded builds run, at 1 thread and at N),
// opens one headless Chromium and, in separate browser contexts (so separate renderer
// processes), measures for each engine: load time, prompt processing and greedy decode speed,
// wasm memory, renderer peak RSS and renderer CPU time. Engines run interleaved, repeat by
// repeat, so that a busy machine slows both alike; figures are medians over the repeats.
//
//   Verbatim  bench/web/verbatim-bench.js in a module worker: begin() (the whole prompt as one
//             batch) and the step() calls after it are timed with performance.now().
//             With --threads: the shared-memory build (www/pkg-threads/, `make wasm-threads`).
//   wllama    @wllama/wllama (pinned in tests/browser/package.json), n_threads 1 (or N), n_gpu_layers 0,
//             temperature 0, ignore_eos (so it decodes exactly as many tokens), cache_prompt
//             false; speeds are llama.cpp's own timings (prompt_ms, predicted_ms). Its worker
//             script gets one extra message verb that reports the size of its wasm memory.
//
// Usage (from the repository root; needs `make wasm`, `make models-default` and the npm
// packages of tests/browser):
//   node bench/speed.mjs [--model smollm2-135m-instruct-q4_1] [--prompt-tokens 256]
//                        [--decode-tokens 64] [--repeat 3] [--with-float] [--with-webgpu] [--no-warmup]
//                        [--profile] [--profile-dir DIR] [--budget 570] [--json out.json] [--threads N]
// --profile runs the exact engine once more on a page's main thread under the DevTools CPU
// profiler and prints the functions with most self time (names from the wasm name section);
// --profile-dir also writes the .cpuprofile files (open them in Chrome DevTools).
// Exits 1 on any failure, including running over the time budget (seconds, whole run);
// BENCH_DEBUG=1 prints the stack with the error.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, cpuDelta, processSnapshot } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_DEPS = path.join(ROOT, 'tests', 'browser');
const WLLAMA_DIR = path.join(NODE_DEPS, 'node_modules', '@wllama', 'wllama');
const PKG_DIR = path.join(ROOT, 'www', 'pkg');
const MODELS_DIR = path.join(ROOT, 'models', 'cache');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const MiB = 1024 * 1024;

// A fixed English passage (written for this benchmark), cut to --prompt-tokens by the
// tokenizer and repeated if a longer prompt is asked for.
const PASSAGE = `The first lighthouses were fires. Sailors approaching a harbour at night looked for a \
blaze kept burning on a hill or a tower, and the people who tended those fires were paid, often \
badly, by the towns whose trade depended on ships arriving safely. The most famous of the early \
towers stood on the island of Pharos at the entrance to the harbour of Alexandria. It was built \
in the third century before the common era, and travellers described it for more than a thousand \
years, until a series of earthquakes brought it down. Its name survives in several languages as \
the ordinary word for a lighthouse.

For most of the following centuries the technology changed very little. Wood gave way to coal, \
and coal to candles and oil lamps, but the light was still an open flame, and most of it went \
everywhere except towards the sea. A keeper could burn a great deal of fuel and still produce a \
light that a ship's lookout would struggle to see from a few miles away. Smoke blackened the \
glass of the lantern room, and keepers spent long nights cleaning it.

The change came with optics. In the late eighteenth century, engineers began placing polished \
metal reflectors behind the lamps, shaped as parabolas so that the light was gathered into a \
beam. A few decades later the French physicist Augustin Fresnel designed a lens made of many \
concentric rings of glass, each ring a thin slice of a much larger lens. The design was lighter \
and far more efficient than a solid lens of the same power, and it could be built in sizes that \
no glassworks could have cast in one piece. A lamp at the centre of a large Fresnel lens could \
be seen more than twenty miles away.

Lighthouses also had to be told apart. A captain who saw a light on an unfamiliar coast needed \
to know which light it was, and the answer was to give each one a character: a pattern of \
flashes and eclipses, a colour, or a period of rotation. Lists of lights were printed and \
carried on every ship, and a navigator who timed the flashes with a watch could find the \
matching entry and fix the ship's position.

Building the towers was often harder than lighting them. Some of the most dangerous rocks lie \
far offshore and are covered at high tide, so that masons could work only for a few hours a day \
in calm weather, and storms regularly destroyed a season's progress. Engineers learned to cut \
the stones so that each course locked into the one below, making the tower behave almost like \
a single block of granite. Several of those towers still stand and still carry a light.

The keepers' lives were isolated and routine. They trimmed wicks, wound the clockwork that \
turned the lens, kept logs of the weather and of passing ships, and in fog sounded horns or \
bells. On remote stations a relief boat might not arrive for weeks when the sea was rough. \
Over the twentieth century electricity, automatic lamp changers and remote monitoring removed \
the need for keepers, and today almost every lighthouse in the world runs unattended. Satellite \
navigation has made many of them less important than they were, but ships still watch for \
them, and a light on a headland remains one of the simplest and most reliable aids a sailor \
has.`;

// ---------------------------------------------------------------------------------------------
// command line

function usage(message) {
  if (message) console.error(`speed.mjs: ${message}`);
  console.error(
    'usage: node bench/speed.mjs [--model ID] [--prompt-tokens N] [--decode-tokens N] [--repeat N]\n' +
      '                            [--with-float] [--with-webgpu] [--no-warmup] [--profile] [--profile-dir DIR]\n' +
      '                            [--budget SECONDS] [--json FILE] [--threads N]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    model: 'smollm2-135m-instruct-q4_1',
    promptTokens: 256,
    decodeTokens: 64,
    repeat: 3,
    withFloat: false,
    withWebgpu: false,
    warmup: true,
    profile: false,
    profileDir: null,
    budget: 570,
    json: null,
    threads: 1,
  };
  const ints = { '--prompt-tokens': 'promptTokens', '--decode-tokens': 'decodeTokens', '--repeat': 'repeat', '--budget': 'budget', '--threads': 'threads' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a in ints) {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) usage(`${a} must be a positive integer`);
      opts[ints[a]] = v;
    } else if (a === '--model') opts.model = value();
    else if (a === '--json') opts.json = value();
    else if (a === '--with-float') opts.withFloat = true;
    else if (a === '--with-webgpu') opts.withWebgpu = true;
    else if (a === '--no-warmup') opts.warmup = false;
    else if (a === '--profile') opts.profile = true;
    else if (a === '--profile-dir') {
      opts.profile = true;
      opts.profileDir = value();
    } else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(opts.model)) usage(`bad model id ${opts.model}`);
  if (opts.threads > 16) usage('--threads must be at most 16');
  if (opts.threads > 1 && (opts.withWebgpu || opts.withFloat || opts.profile)) usage('--threads compares the CPU engines only (no --with-webgpu, --with-float, --profile)');
  return opts;
}

/** Every input the run needs, checked up front with a message that says how to get it. */
function preflight(opts) {
  const missing = [];
  const need = (file, hint) => {
    if (!fs.existsSync(file)) missing.push(`${path.relative(ROOT, file) || file}: ${hint}`);
  };
  need(path.join(PKG_DIR, 'verbatim.js'), 'build the wasm with `make wasm`');
  need(path.join(PKG_DIR, 'verbatim_bg.wasm'), 'build the wasm with `make wasm`');
  if (opts.threads > 1) need(path.join(ROOT, 'www', 'pkg-threads', 'verbatim_bg.wasm'), 'build the threaded wasm with `make wasm-threads`');
  const modelFile = path.join(MODELS_DIR, `${opts.model}.gguf`);
  need(modelFile, `fetch it with \`python3 models/fetch.py ${opts.model}\``);
  need(path.join(WLLAMA_DIR, 'esm', 'index.js'), 'install with `make npm-deps`');
  need(path.join(WLLAMA_DIR, 'esm', 'wasm', 'wllama.wasm'), 'install with `make npm-deps`');
  need(path.join(NODE_DEPS, 'node_modules', 'playwright-core'), 'install with `make npm-deps`');
  need(CHROMIUM, 'install Chromium (`make apt-deps`) or set $CHROMIUM');
  if (missing.length) throw new Error(`missing inputs:\n  ${missing.join('\n  ')}`);
  return { modelFile, modelBytes: fs.statSync(modelFile).size };
}

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
function startServer({ isolated = false } = {}) {
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

const remainingMs = () => deadline - Date.now();

/** Awaits `promise`, failing once the run's time budget is spent. */
async function bounded(promise, what) {
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

async function launch() {
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
async function openPage(bench, label) {
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

async function claimRenderer(bench, p) {
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
async function measured(bench, p, what, fn) {
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

// ---------------------------------------------------------------------------------------------
// engines

/** Verbatim's engine in a module worker (or, for profiling, on the page's main thread). */
class VerbatimEngine {
  constructor(engine, { mainThread = false, threads = 1, label = '' } = {}) {
    this.engine = engine;
    this.name = `verbatim-${engine}${label}`;
    this.mainThread = mainThread;
    this.threads = threads;
  }

  async open(bench) {
    this.p = await openPage(bench, this.name);
    await this.p.page.evaluate((mainThread) => {
      const url = '/bench/web/verbatim-bench.js';
      if (mainThread) {
        window.__bench = async (cmd, args) => (await import(url))[cmd](args);
        return;
      }
      const worker = new Worker(url, { type: 'module' });
      const pending = new Map();
      let next = 0;
      worker.onmessage = ({ data }) => {
        const call = pending.get(data.id);
        pending.delete(data.id);
        if (data.error) call.reject(new Error(data.error));
        else call.resolve(data.result);
      };
      worker.onerror = (e) => {
        for (const call of pending.values()) call.reject(new Error(`worker failed: ${e.message || 'script error'}`));
        pending.clear();
      };
      window.__bench = (cmd, args) =>
        new Promise((resolve, reject) => {
          const id = next++;
          pending.set(id, { resolve, reject });
          worker.postMessage({ id, cmd, args });
        });
    }, this.mainThread);
    return this.p;
  }

  call(cmd, args) {
    return this.p.page.evaluate(([c, a]) => window.__bench(c, a), [cmd, args]);
  }

  async load(bench) {
    const modelUrl = `/models/cache/${bench.opts.model}.gguf`;
    const m = await measured(bench, this.p, 'load', () => this.call('load', { modelUrl, engine: this.engine, threads: this.threads }));
    const renderer = await claimRenderer(bench, this.p);
    const r = m.result;
    if (r.threads !== this.threads) throw new Error(`${this.name} runs ${r.threads} threads, expected ${this.threads}`);
    return {
      info: { ...r.info, threads: r.threads },
      fetch_s: r.fetch_ms / 1000,
      // wasm instantiation plus WasmModel.load on bytes already in memory
      load_s: (r.init_ms + r.load_ms) / 1000,
      wasm_memory: r.wasm_memory,
      // the renderer's CPU time from its start through the load (the fetch included)
      renderer_cpu_s_through_load: renderer ? renderer.cpu / CLK_TCK : null,
    };
  }

  makePrompt(passage, maxTokens) {
    return bounded(this.call('makePrompt', { passage, maxTokens }), 'building the prompt');
  }

  async generate(bench, prompt, decodeTokens) {
    const b = await measured(bench, this.p, 'prompt', () => this.call('begin', { prompt, decodeTokens }));
    const d = await measured(bench, this.p, 'decode', () => this.call('decode'));
    const r = d.result;
    return {
      prompt_tokens: r.prompt_tokens,
      prompt_s: r.prompt_ms / 1000,
      decoded: r.decoded,
      decode_s: r.decode_ms / 1000,
      reason: r.reason,
      text: r.text,
      wasm_memory: r.wasm_memory,
      wall_s: b.wall_s + d.wall_s,
      renderer_cpu_s: sum(b.renderer_cpu_s, d.renderer_cpu_s),
      prompt_renderer_cpu_s: b.renderer_cpu_s,
      decode_renderer_cpu_s: d.renderer_cpu_s,
      decode_wall_s: d.wall_s,
      renderer_threads_cpu_s: mergeThreads(b.renderer_threads_cpu_s, d.renderer_threads_cpu_s),
      chromium_cpu_s: b.chromium_cpu_s + d.chromium_cpu_s,
      other_renderers_cpu_s: b.other_renderers_cpu_s + d.other_renderers_cpu_s,
    };
  }
}

/** wllama 3.8.1 on its own worker, `threads` threads (more than 1 needs isolation), CPU only. */
class WllamaEngine {
  constructor({ threads = 1, label = '' } = {}) {
    this.name = `wllama${label}`;
    this.threads = threads;
  }

  async open(bench) {
    this.p = await openPage(bench, this.name);
    return this.p;
  }

  async load(bench) {
    const modelUrl = `/models/cache/${bench.opts.model}.gguf`;
    const o = bench.opts;
    const nCtx = Math.max(512, Math.ceil((o.promptTokens + o.decodeTokens + 64) / 256) * 256);
    const m = await measured(bench, this.p, 'load', () =>
      this.p.page.evaluate(
        async ({ modelUrl, nCtx, threads }) => {
          const { Wllama } = await import('/__wllama__/index.js');
          const t0 = performance.now();
          const response = await fetch(modelUrl);
          if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
          const blob = await response.blob();
          const t1 = performance.now();
          const w = new Wllama({ default: '/__wllama__/wllama.wasm' }, { suppressNativeLog: true });
          await w.loadModel([blob], { n_ctx: nCtx, n_threads: threads, n_gpu_layers: 0, n_parallel: 1 });
          const t2 = performance.now();
          window.__wllama = w;
          const proxy = w.proxy;
          window.__wllamaMemory = () => proxy.pushTask({ verb: 'vbt.memory', args: [], callbackId: proxy.taskId++ });
          return {
            version: Wllama.getLibllamaVersion(),
            threads: w.getNumThreads ? w.getNumThreads() : null,
            multi_thread: w.isMultithread ? w.isMultithread() : null,
            async_file: proxy.useAsyncFile ?? null,
            n_ctx: nCtx,
            fetch_ms: t1 - t0,
            load_ms: t2 - t1,
            wasm_memory: await window.__wllamaMemory(),
          };
        },
        { modelUrl, nCtx, threads: this.threads },
      ),
    );
    const renderer = await claimRenderer(bench, this.p);
    const r = m.result;
    if (r.threads !== null && r.threads !== this.threads) throw new Error(`${this.name} runs ${r.threads} threads, expected ${this.threads}`);
    return {
      info: { version: r.version, threads: r.threads, multi_thread: r.multi_thread, async_file: r.async_file, n_ctx: r.n_ctx },
      fetch_s: r.fetch_ms / 1000,
      load_s: r.load_ms / 1000, // wasm instantiation, model copy into the worker, llama.cpp load and warm-up
      wasm_memory: r.wasm_memory,
      renderer_cpu_s_through_load: renderer ? renderer.cpu / CLK_TCK : null,
    };
  }

  async generate(bench, prompt, decodeTokens) {
    const m = await measured(bench, this.p, 'generate', () =>
      this.p.page.evaluate(
        async ({ prompt, decodeTokens }) => {
          const t0 = performance.now();
          const r = await window.__wllama.createCompletion({
            prompt,
            max_tokens: decodeTokens,
            temperature: 0,
            ignore_eos: true,
            cache_prompt: false,
            stream: false,
          });
          const t1 = performance.now();
          return { wall_ms: t1 - t0, timings: r.timings ?? null, usage: r.usage ?? null, text: r.choices?.[0]?.text ?? '', wasm_memory: await window.__wllamaMemory() };
        },
        { prompt, decodeTokens },
      ),
    );
    const r = m.result;
    const t = r.timings;
    return {
      prompt_tokens: t ? t.prompt_n : r.usage?.prompt_tokens ?? null,
      prompt_s: t ? t.prompt_ms / 1000 : null,
      decoded: t ? t.predicted_n : r.usage?.completion_tokens ?? null,
      decode_s: t ? t.predicted_ms / 1000 : null,
      timings_source: t ? 'llama.cpp' : 'none (wall time only)',
      reason: null,
      text: r.text,
      wasm_memory: r.wasm_memory,
      wall_s: m.wall_s,
      call_wall_s: r.wall_ms / 1000,
      renderer_cpu_s: m.renderer_cpu_s,
      renderer_threads_cpu_s: m.renderer_threads_cpu_s,
      chromium_cpu_s: m.chromium_cpu_s,
      other_renderers_cpu_s: m.other_renderers_cpu_s,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// profiling (exact engine on a page's main thread, DevTools CPU profiler over CDP)

/** Self time by function, from a DevTools CPU profile. */
function selfTimes(profile) {
  const dt = new Map(profile.nodes.map((n) => [n.id, 0]));
  for (let i = 0; i < profile.samples.length; i++) {
    dt.set(profile.samples[i], dt.get(profile.samples[i]) + (profile.timeDeltas[i + 1] ?? 0));
  }
  const byFn = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    const us = dt.get(n.id);
    total += us;
    const f = n.callFrame;
    const where = f.url ? path.basename(f.url.split('?')[0]) : '';
    const key = `${f.functionName || '(anonymous)'}${where ? `  [${where}]` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const top = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { total_ms: total / 1000, top: top.map(([fn, us]) => ({ fn, ms: us / 1000, share: total ? us / total : 0 })) };
}

async function profileExact(bench, prompt) {
  const eng = new VerbatimEngine('exact', { mainThread: true });
  bench.pages.add(await eng.open(bench));
  await eng.load(bench);
  const cdp = await eng.p.context.newCDPSession(eng.p.page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  const out = {};
  for (const phase of ['prompt', 'decode']) {
    await cdp.send('Profiler.start');
    if (phase === 'prompt') await bounded(eng.call('begin', { prompt, decodeTokens: bench.opts.decodeTokens }), 'profiling the prompt');
    else await bounded(eng.call('decode'), 'profiling the decode');
    const { profile } = await cdp.send('Profiler.stop');
    out[phase] = selfTimes(profile);
    if (bench.opts.profileDir) {
      fs.mkdirSync(bench.opts.profileDir, { recursive: true });
      const file = path.join(bench.opts.profileDir, `verbatim-exact-${phase}.cpuprofile`);
      fs.writeFileSync(file, JSON.stringify(profile));
      out[phase].file = file;
    }
  }
  await eng.p.context.close();
  bench.pages.delete(eng.p);
  return out;
}

// ---------------------------------------------------------------------------------------------
// report

const sum = (a, b) => (a === null || b === null ? null : a + b);

function mergeThreads(a, b) {
  const out = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) out[k] = (out[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(out).sort((x, y) => y[1] - x[1]));
}

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function summarize(e, modelBytes) {
  const runs = e.runs;
  const promptTps = runs.map((r) => (r.prompt_s ? r.prompt_tokens / r.prompt_s : NaN));
  const decodeTps = runs.map((r) => (r.decode_s ? r.decoded / r.decode_s : NaN));
  const peakWasm = Math.max(e.load.wasm_memory ?? 0, ...runs.map((r) => r.wasm_memory ?? 0)) || null;
  const cpuPerWall = runs.map((r) => (r.renderer_cpu_s !== null ? r.renderer_cpu_s / r.wall_s : NaN));
  return {
    prompt_tokens: runs[0]?.prompt_tokens ?? null,
    decoded_tokens: runs[0]?.decoded ?? null,
    prompt_tok_s: median(promptTps),
    prompt_tok_s_runs: promptTps,
    decode_tok_s: median(decodeTps),
    decode_tok_s_runs: decodeTps,
    load_s: e.load.load_s,
    fetch_s: e.load.fetch_s,
    peak_wasm_memory_mib: peakWasm && peakWasm / MiB,
    wasm_memory_per_gguf: peakWasm && peakWasm / modelBytes,
    renderer_peak_rss_mib: e.renderer_peak_rss_kib ? e.renderer_peak_rss_kib / 1024 : null,
    renderer_cpu_per_wall: median(cpuPerWall),
    renderer_cpu_s_per_run: median(runs.map((r) => r.renderer_cpu_s)),
    wall_s_per_run: median(runs.map((r) => r.wall_s)),
  };
}

const fmt = (x, digits = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

function printReport(report) {
  const rows = [['engine', 'prompt tok', 'prompt tok/s', 'decode tok', 'decode tok/s', 'load s', 'wasm MiB', 'wasm/GGUF', 'RSS MiB', 'CPU/wall']];
  for (const [name, s] of Object.entries(report.summary)) {
    rows.push([
      name,
      String(s.prompt_tokens ?? '-'),
      fmt(s.prompt_tok_s),
      String(s.decoded_tokens ?? '-'),
      fmt(s.decode_tok_s),
      fmt(s.load_s, 2),
      fmt(s.peak_wasm_memory_mib, 0),
      fmt(s.wasm_memory_per_gguf, 2),
      fmt(s.renderer_peak_rss_mib, 0),
      fmt(s.renderer_cpu_per_wall, 2),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log('');
  for (const [i, r] of rows.entries()) {
    console.log(r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log('');
  const gpu = Object.keys(report.engines ?? {}).some((n) => n.endsWith('-webgpu'));
  const threads = report.threads > 1 ? `1 thread each, and ${report.threads} (names ending -${report.threads}t), cross-origin isolated` : 'one thread each';
  console.log(`model ${report.model} (${(report.gguf_bytes / MiB).toFixed(1)} MiB GGUF); median of ${report.repeat} run(s); ${threads}, CPU only${gpu ? ' (but verbatim-exact-webgpu: WebGPU)' : ''}`);
  console.log(`load average at the end: ${report.machine.loadavg_at_end.map((x) => x.toFixed(2)).join(', ')} on ${report.machine.cpus} CPUs`);
  console.log('tok/s: Verbatim = tokens / time of begin() or of the step() calls; wllama = llama.cpp timings (prompt_ms, predicted_ms)');
  console.log('load s: wasm instantiation + model load from bytes already in memory; wasm MiB: peak WebAssembly.Memory size;');
  console.log('RSS MiB: peak resident memory (VmHWM) of the renderer process; CPU/wall: renderer CPU time / wall time while generating');
  for (const [k, v] of Object.entries(report.ratios)) console.log(`${k}: ${fmt(v, 2)}`);
  for (const [name, e] of Object.entries(report.engines)) {
    const s = report.summary[name];
    const runs = (xs) => xs.map((x) => fmt(x)).join(', ');
    const threads = Object.entries(e.runs.at(-1)?.renderer_threads_cpu_s ?? {})
      .slice(0, 4)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    console.log(`${name}: prompt tok/s per run [${runs(s.prompt_tok_s_runs)}], decode tok/s [${runs(s.decode_tok_s_runs)}], ` +
      `per run ${fmt(s.wall_s_per_run, 2)} s wall / ${fmt(s.renderer_cpu_s_per_run, 2)} s renderer CPU (last run by thread: ${threads})`);
  }
  for (const n of report.notes) console.log(`note: ${n}`);
  if (report.profile) {
    for (const [phase, p] of Object.entries(report.profile)) {
      console.log(`\nprofile, verbatim-exact ${phase} (main thread, ${p.total_ms.toFixed(0)} ms sampled), self time:`);
      for (const t of p.top) console.log(`  ${(100 * t.share).toFixed(1).padStart(5)}%  ${t.ms.toFixed(0).padStart(7)} ms  ${t.fn}`);
      if (p.file) console.log(`  written to ${p.file}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  deadline = started + opts.budget * 1000;
  const { modelBytes } = preflight(opts);
  const server = await startServer({ isolated: opts.threads > 1 });
  const base = `http://127.0.0.1:${server.address().port}`;
  const { browser, cdp } = await bounded(launch(), 'starting Chromium');
  const bench = { opts, base, browser, cdp, claimed: new Set(), pages: new Set() };
  const notes = [];
  try {
    const engines = [new VerbatimEngine('exact'), new WllamaEngine()];
    const label = `-${opts.threads}t`;
    if (opts.threads > 1) engines.push(new VerbatimEngine('exact', { threads: opts.threads, label }), new WllamaEngine({ threads: opts.threads, label }));
    if (opts.withFloat) engines.push(new VerbatimEngine('float'));
    if (opts.withWebgpu) engines.push(new VerbatimEngine('exact-webgpu'));
    const state = new Map();
    for (const eng of engines) {
      bench.pages.add(await eng.open(bench));
      const load = await eng.load(bench);
      state.set(eng, { load, runs: [], warmup: null, renderer_pid: eng.p.pid });
      console.error(`${eng.name}: loaded in ${load.load_s.toFixed(2)} s, wasm memory ${(load.wasm_memory / MiB).toFixed(0)} MiB`);
    }
    const exact = engines[0];
    const { prompt, tokens } = await exact.makePrompt(PASSAGE, opts.promptTokens);
    console.error(`prompt: ${tokens} tokens (without BOS) of the fixed passage`);
    if (opts.warmup) {
      const short = prompt.split(' ').slice(0, 24).join(' ');
      for (const eng of engines) {
        state.get(eng).warmup = await eng.generate(bench, short, 4);
      }
    }
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const eng of engines) {
        const st = state.get(eng);
        const last = st.runs.at(-1);
        if (last && last.wall_s * 1000 * 1.2 > remainingMs() - 15000) {
          notes.push(`${eng.name}: stopped after ${st.runs.length} run(s) to stay within the time budget`);
          continue;
        }
        const r = await eng.generate(bench, prompt, opts.decodeTokens);
        st.runs.push(r);
        console.error(
          `${eng.name} run ${rep + 1}: prompt ${r.prompt_tokens} tok in ${fmt(r.prompt_s, 2)} s, ` +
            `decode ${r.decoded} tok in ${fmt(r.decode_s, 2)} s, wall ${r.wall_s.toFixed(2)} s, renderer CPU ${fmt(r.renderer_cpu_s, 2)} s`,
        );
      }
    }
    for (const eng of engines) {
      const st = state.get(eng);
      const snap = eng.p.pid ? processSnapshot(eng.p.pid) : null;
      st.renderer_peak_rss_kib = snap?.hwm_kib ?? null;
      if (!eng.p.pid) notes.push(`${eng.name}: its renderer process could not be identified (no RSS or CPU figures)`);
      const other = Math.max(0, ...st.runs.map((r) => r.other_renderers_cpu_s ?? 0));
      if (other > 0.5) notes.push(`${eng.name}: other renderers used up to ${other.toFixed(1)} s CPU during its runs`);
      const short = st.runs.find((r) => r.decoded < opts.decodeTokens);
      if (short) notes.push(`${eng.name}: decoded ${short.decoded} < ${opts.decodeTokens} tokens (stopped: ${short.reason})`);
    }
    const ex = state.get(exact);
    const wl = state.get(engines[1]);
    const exText = ex.runs[0]?.text ?? '';
    const wlText = wl.runs[0]?.text ?? '';
    let common = 0;
    while (common < exText.length && exText[common] === wlText[common]) common++;
    notes.push(
      exText === wlText
        ? 'exact and wllama generated the same text'
        : `exact and wllama texts agree on their first ${common} characters (of ${exText.length} and ${wlText.length})`,
    );
    if (ex.runs[0] && wl.runs[0] && ex.runs[0].prompt_tokens !== wl.runs[0].prompt_tokens) {
      notes.push(`prompt token counts differ: exact ${ex.runs[0].prompt_tokens}, wllama ${wl.runs[0].prompt_tokens}`);
    }
    for (const eng of engines) {
      eng.result = state.get(eng);
    }
    let profile = null;
    if (opts.profile) {
      for (const eng of engines) {
        await eng.p.context.close();
        bench.pages.delete(eng.p);
      }
      profile = await profileExact(bench, prompt);
    }
    const summary = {};
    const enginesOut = {};
    for (const eng of engines) {
      summary[eng.name] = summarize(eng.result, modelBytes);
      enginesOut[eng.name] = { ...eng.result, runs: eng.result.runs.map(({ text, ...r }) => ({ ...r, text: text.slice(0, 400) })) };
    }
    for (const [name, sm] of Object.entries(summary)) {
      if (name.endsWith('-webgpu')) {
        notes.push(`${name}: WebGPU work runs in Chromium's GPU process (SwiftShader here: a GPU emulated on the CPU), not in the renderer`);
      } else if (sm.renderer_cpu_per_wall !== null && sm.renderer_cpu_per_wall < 0.9) {
        notes.push(`${name}: its renderer got ${(100 * sm.renderer_cpu_per_wall).toFixed(0)}% of a core while generating (a busy machine): speeds are low by about as much`);
      }
    }
    const s = summary;
    const ratio = (a, b) => (a !== null && b ? a / b : null);
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, loadavg_at_end: os.loadavg() },
      chromium: browser.version(),
      model: opts.model,
      gguf_bytes: modelBytes,
      prompt_tokens_requested: opts.promptTokens,
      decode_tokens: opts.decodeTokens,
      repeat: opts.repeat,
      threads: opts.threads,
      warmup: opts.warmup,
      prompt,
      summary,
      ratios: {
        'prompt tok/s exact/wllama': ratio(s['verbatim-exact'].prompt_tok_s, s.wllama.prompt_tok_s),
        'decode tok/s exact/wllama': ratio(s['verbatim-exact'].decode_tok_s, s.wllama.decode_tok_s),
        'peak wasm memory exact/wllama': ratio(s['verbatim-exact'].peak_wasm_memory_mib, s.wllama.peak_wasm_memory_mib),
        // the same work measured in CPU time, which a busy machine disturbs less than wall time
        'renderer CPU s per run wllama/exact': ratio(s.wllama.renderer_cpu_s_per_run, s['verbatim-exact'].renderer_cpu_s_per_run),
        ...(opts.threads > 1
          ? {
              [`prompt tok/s exact/wllama at ${opts.threads} threads`]: ratio(s[`verbatim-exact-${opts.threads}t`].prompt_tok_s, s[`wllama-${opts.threads}t`].prompt_tok_s),
              [`decode tok/s exact/wllama at ${opts.threads} threads`]: ratio(s[`verbatim-exact-${opts.threads}t`].decode_tok_s, s[`wllama-${opts.threads}t`].decode_tok_s),
              [`prompt tok/s exact ${opts.threads} threads/1`]: ratio(s[`verbatim-exact-${opts.threads}t`].prompt_tok_s, s['verbatim-exact'].prompt_tok_s),
              [`decode tok/s exact ${opts.threads} threads/1`]: ratio(s[`verbatim-exact-${opts.threads}t`].decode_tok_s, s['verbatim-exact'].decode_tok_s),
              [`prompt tok/s wllama ${opts.threads} threads/1`]: ratio(s[`wllama-${opts.threads}t`].prompt_tok_s, s.wllama.prompt_tok_s),
              [`decode tok/s wllama ${opts.threads} threads/1`]: ratio(s[`wllama-${opts.threads}t`].decode_tok_s, s.wllama.decode_tok_s),
            }
          : {}),
      },
      engines: enginesOut,
      notes,
      profile,
      elapsed_s: (Date.now() - started) / 1000,
    };
    printReport(report);
    if (opts.json) {
      fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
      console.error(`wrote ${opts.json}`);
    }
  } finally {
    await browser.close().catch(() => {});
    server.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    // the stack only helps when debugging the script itself
    console.error(`speed.mjs: ${process.env.BENCH_DEBUG && e && e.stack ? e.stack : e && e.message ? e.message : e}`);
    process.exit(1);
  },
);
