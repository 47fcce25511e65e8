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
import os from 'node:os';
import path from 'node:path';
import { parseOptions } from './lib/args.mjs';
import { VerbatimEngine, WllamaEngine, profileExact } from './lib/engines.mjs';
import { CHROMIUM, MODELS_DIR, NODE_DEPS, PKG_DIR, ROOT, WLLAMA_DIR, remainingMs, runMain, setBudget, withBench, writeJson } from './lib/page.mjs';
import { PASSAGE } from './lib/passage.mjs';
import { fmt, median } from './lib/stats.mjs';

const MiB = 1024 * 1024;
import { processSnapshot } from './lib/proc.mjs';

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
  parseOptions(argv, opts, {
    ints: { '--prompt-tokens': 'promptTokens', '--decode-tokens': 'decodeTokens', '--repeat': 'repeat', '--budget': 'budget', '--threads': 'threads' },
    strings: { '--model': 'model', '--json': 'json', '--profile-dir': 'profileDir' },
    flags: { '--with-float': ['withFloat', true], '--with-webgpu': ['withWebgpu', true], '--no-warmup': ['warmup', false], '--profile': ['profile', true] },
  }, usage);
  if (opts.profileDir) opts.profile = true;
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
// report

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
  setBudget(opts.budget);
  const { modelBytes } = preflight(opts);
  await withBench(opts, { isolated: opts.threads > 1 }, async (bench) => {
    const { browser } = bench;
    const notes = [];
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
    writeJson(opts.json, report);
  });
}

runMain('speed.mjs', main);

