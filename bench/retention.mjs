#!/usr/bin/env node
// Long-context decode retention of Verbatim's exact engine in headless Chromium: greedy decode
// speed after a long prompt (--long, 1024 tokens) as a share of the speed after a short one
// (--short, 8), 64 greedy tokens each, on one page (one engine, one renderer process), the two lengths alternating
// run by run so that a machine growing busier or quieter slows both alike.
//
// Each pair of runs (one short, one long, in alternating order) gives one retention: the long
// run's decode tok/s over the short run's. The figure is the median of the pairs' retentions;
// the spread of the pairs says how far one run can be trusted on this machine. Each run's rate
// is also given per renderer CPU second (tokens / CPU seconds of the engine's renderer process),
// which a machine whose other processes take CPU time disturbs less than wall time.
//
// Usage (from the repository root; needs `make wasm`, `make models-default` and the npm packages
// of tests/browser):
//   node bench/retention.mjs [--model smollm2-135m-instruct-q4_1] [--short 8] [--long 1024]
//                            [--decode-tokens 64] [--pairs 7] [--threads 1] [--budget 900] [--json FILE]
// Exits 1 on any failure, including running over the time budget (seconds, whole run).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseOptions } from './lib/args.mjs';
import { VerbatimEngine } from './lib/engines.mjs';
import { CHROMIUM, MODELS_DIR, NODE_DEPS, PKG_DIR, ROOT, runMain, setBudget, withBench, writeJson } from './lib/page.mjs';
import { PASSAGE } from './lib/passage.mjs';
import { fmt, median } from './lib/stats.mjs';

function usage(message) {
  if (message) console.error(`retention.mjs: ${message}`);
  console.error(
    'usage: node bench/retention.mjs [--model ID] [--short N] [--long N] [--decode-tokens N] [--pairs N]\n' +
      '                                [--threads N] [--budget SECONDS] [--json FILE]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { model: 'smollm2-135m-instruct-q4_1', short: 8, long: 1024, decodeTokens: 64, pairs: 7, threads: 1, budget: 900, json: null };
  parseOptions(argv, opts, {
    ints: { '--short': 'short', '--long': 'long', '--decode-tokens': 'decodeTokens', '--pairs': 'pairs', '--threads': 'threads', '--budget': 'budget' },
    strings: { '--model': 'model', '--json': 'json' },
  }, usage);
  if (!/^[A-Za-z0-9_.-]+$/.test(opts.model)) usage(`bad model id ${opts.model}`);
  if (opts.short >= opts.long) usage('--short must be below --long');
  if (opts.threads > 16) usage('--threads must be at most 16');
  return opts;
}

function preflight(opts) {
  const modelFile = path.join(MODELS_DIR, `${opts.model}.gguf`);
  const pkg = opts.threads > 1 ? path.join(ROOT, 'www', 'pkg-threads') : PKG_DIR;
  const needs = [
    [path.join(pkg, 'verbatim_bg.wasm'), opts.threads > 1 ? 'build the threaded wasm with `make wasm-threads`' : 'build the wasm with `make wasm`'],
    [modelFile, `fetch it with \`python3 models/fetch.py ${opts.model}\``],
    [path.join(NODE_DEPS, 'node_modules', 'playwright-core'), 'install with `make npm-deps`'],
    [CHROMIUM, 'install Chromium (`make apt-deps`) or set $CHROMIUM'],
  ];
  const missing = needs.filter(([f]) => !fs.existsSync(f)).map(([f, hint]) => `${path.relative(ROOT, f) || f}: ${hint}`);
  if (missing.length) throw new Error(`missing inputs:\n  ${missing.join('\n  ')}`);
}

const pct = (x) => (x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  setBudget(opts.budget);
  preflight(opts);
  await withBench(opts, { isolated: opts.threads > 1 }, async (bench) => {
    const { browser } = bench;
    const eng = new VerbatimEngine('exact', { threads: opts.threads, label: opts.threads > 1 ? `-${opts.threads}t` : '' });
    bench.pages.add(await eng.open(bench));
    await eng.load(bench);
    const prompts = {};
    for (const n of [opts.short, opts.long]) {
      const { prompt, tokens } = await eng.makePrompt(PASSAGE, n);
      prompts[n] = prompt;
      console.error(`prompt of ${tokens} tokens (without BOS)`);
    }
    // Warm-up at both lengths: V8 compiles the wasm's hot code, for the long context's
    // attention too, before anything is timed (a first long run was up to a third slower).
    for (const n of [opts.short, opts.long]) await eng.generate(bench, prompts[n], 4);
    const pairs = [];
    for (let i = 0; i < opts.pairs; i++) {
      const order = i % 2 ? [opts.long, opts.short] : [opts.short, opts.long];
      const run = {};
      for (const n of order) {
        const r = await eng.generate(bench, prompts[n], opts.decodeTokens);
        if (r.decoded < opts.decodeTokens) throw new Error(`decoded ${r.decoded} < ${opts.decodeTokens} tokens after ${r.prompt_tokens} (stopped: ${r.reason})`);
        run[n] = {
          prompt_tokens: r.prompt_tokens,
          decode_tok_s: r.decoded / r.decode_s,
          decode_tok_per_cpu_s: r.decode_renderer_cpu_s ? r.decoded / r.decode_renderer_cpu_s : null,
        };
      }
      const [s, l] = [run[opts.short], run[opts.long]];
      const pair = {
        short: s,
        long: l,
        retention: l.decode_tok_s / s.decode_tok_s,
        retention_per_cpu_s: s.decode_tok_per_cpu_s && l.decode_tok_per_cpu_s ? l.decode_tok_per_cpu_s / s.decode_tok_per_cpu_s : null,
        loadavg: os.loadavg()[0],
      };
      pairs.push(pair);
      console.error(
        `pair ${i + 1}: ${s.prompt_tokens} positions ${fmt(s.decode_tok_s)} tok/s, ${l.prompt_tokens} positions ${fmt(l.decode_tok_s)} tok/s: ` +
          `${pct(pair.retention)} retained (per CPU second ${pct(pair.retention_per_cpu_s)}), load ${pair.loadavg.toFixed(2)}`,
      );
    }
    const ret = pairs.map((p) => p.retention);
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, loadavg_at_end: os.loadavg() },
      chromium: browser.version(),
      model: opts.model,
      threads: opts.threads,
      decode_tokens: opts.decodeTokens,
      pairs,
      short_decode_tok_s: median(pairs.map((p) => p.short.decode_tok_s)),
      long_decode_tok_s: median(pairs.map((p) => p.long.decode_tok_s)),
      retention: median(ret),
      retention_min: Math.min(...ret),
      retention_max: Math.max(...ret),
      retention_per_cpu_s: median(pairs.map((p) => p.retention_per_cpu_s)),
    };
    console.log(
      `\n${report.model}, ${opts.threads} thread(s), ${opts.decodeTokens} greedy tokens after ${opts.short} and after ${opts.long} prompt tokens, ` +
        `${pairs.length} pairs (Chromium ${report.chromium}, ${report.machine.cpus} CPUs, load at the end ${report.machine.loadavg_at_end.map((x) => x.toFixed(2)).join(', ')}):`,
    );
    console.log(`decode tok/s, medians: ${fmt(report.short_decode_tok_s)} at ${opts.short} positions, ${fmt(report.long_decode_tok_s)} at ${opts.long}`);
    console.log(
      `retained at ${opts.long} positions: ${pct(report.retention)} (median of the pairs; range ${pct(report.retention_min)} to ${pct(report.retention_max)}), ` +
        `per renderer CPU second ${pct(report.retention_per_cpu_s)}`,
    );
    writeJson(opts.json, report);
  });
}

runMain('retention.mjs', main);
