// The engines the browser benchmarks compare, each on its own page (bench/lib/page.mjs):
// Verbatim's (bench/web/verbatim-bench.js in a module worker, or on the page's main thread for
// the CPU profiler) and wllama 3.8.1 (llama.cpp as wasm). Each has open(bench), load(bench) and
// generate(bench, prompt, decodeTokens); `bench` is {opts, base, browser, cdp, claimed, pages}.

import fs from 'node:fs';
import path from 'node:path';
import { CLK_TCK } from './proc.mjs';
import { bounded, claimRenderer, measured, openPage } from './page.mjs';

const sum = (a, b) => (a === null || b === null ? null : a + b);

function mergeThreads(a, b) {
  const out = { ...(a ?? {}) };
  for (const [k, v] of Object.entries(b ?? {})) out[k] = (out[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(out).sort((x, y) => y[1] - x[1]));
}

/** Verbatim's engine in a module worker (or, for profiling, on the page's main thread). */
export class VerbatimEngine {
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
export class WllamaEngine {
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

export async function profileExact(bench, prompt) {
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
