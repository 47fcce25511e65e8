// The conformance page: the GPU start-up self-test and the golden corpus of spec exact-1 (built
// into the wasm module: golden_corpus / golden_verdict, the same code as `verbatim conformance`)
// on this browser's WebGPU and on the wasm CPU executor, in this page's module (no worker: the
// page has nothing else to keep responsive, and it yields to the browser between tokens).
// The report (docs/conformance.md) holds the adapter's description, features and limits, each
// case's verdict with its first divergent step and tokens/s per executor: nothing personal.
//
// URL parameters (for links and tests): executors=gpu,cpu  cases=id,id | full  autostart=1

import init, * as wasm from './pkg/verbatim.js';
import { readManifest } from './manifest.js';
import { readModel, storeModel } from './model-cache.js';
import { formatMB, plural } from './format.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const main = $('conformance');

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

const plain = (v) => (v instanceof Map ? Object.fromEntries(v) : v);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function setProgress(text) {
  $('progress').textContent = text;
}

function showError(message) {
  $('error-message').textContent = message;
  $('error').hidden = false;
}

/** The WebGPU adapter as the browser describes it, with the features and limits the kernels use. */
async function describeAdapter() {
  if (!navigator.gpu) return { available: false, reason: 'this browser exposes no WebGPU (navigator.gpu is missing)' };
  let adapter;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (error) {
    return { available: false, reason: `requestAdapter() failed: ${error.message}` };
  }
  if (!adapter) return { available: false, reason: 'requestAdapter() gave no adapter' };
  const info = adapter.info ?? {};
  const limit = (name) => adapter.limits?.[name] ?? null;
  return {
    available: true,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    is_fallback_adapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false),
    dot4: Boolean(navigator.gpu.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product')),
    features: [...(adapter.features ?? [])].sort(),
    limits: {
      max_storage_buffer_binding_size: limit('maxStorageBufferBindingSize'),
      max_buffer_size: limit('maxBufferSize'),
      max_storage_buffers_per_shader_stage: limit('maxStorageBuffersPerShaderStage'),
      max_compute_workgroup_storage_size: limit('maxComputeWorkgroupStorageSize'),
      max_compute_invocations_per_workgroup: limit('maxComputeInvocationsPerWorkgroup'),
    },
  };
}

function showAdapter(a) {
  const dl = $('adapter');
  dl.replaceChildren();
  const row = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, String(v)));
  if (!a.available) {
    row('WebGPU', a.reason);
    return;
  }
  row('Description', a.description || '(none given)');
  row('Vendor / architecture', `${a.vendor || '?'} / ${a.architecture || '?'}`);
  row('Device', a.device || '(not given)');
  row('Fallback (software) adapter', a.is_fallback_adapter ? 'yes' : 'no');
  row('dot4I8Packed (packed_4x8_integer_dot_product)', a.dot4 ? 'yes' : 'no: byte-wise fallback');
  row('Max storage binding', a.limits.max_storage_buffer_binding_size === null ? '?' : formatMB(a.limits.max_storage_buffer_binding_size));
  row('Storage buffers per stage', a.limits.max_storage_buffers_per_shader_stage ?? '?');
  row('Features', a.features.join(', ') || '(none)');
}

/** A manifest model's verified bytes: from the page's model cache, else downloaded and checked. */
async function modelBytes(entry) {
  const cached = await readModel(entry.sha256);
  if (cached && (await sha256Hex(cached)) === entry.sha256) return cached;
  setProgress(`Downloading ${entry.name} (${formatMB(entry.size)})…`);
  // This server's copy, or the model's public source on a built site (manifest.js).
  const response = await fetch(entry.download, { cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  if (!response.ok) throw new Error(`the server answered HTTP ${response.status} for ${entry.file}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const got = await sha256Hex(bytes);
  if (got !== entry.sha256) throw new Error(`${entry.file} has sha256 ${got}, the manifest says ${entry.sha256}`);
  try {
    await storeModel(entry.sha256, bytes);
  } catch {
    // Storage is a convenience here; the check runs without it.
  }
  return bytes;
}

async function sha256Hex(bytes) {
  const hasher = new wasm.Sha256Hasher();
  hasher.update(bytes);
  return hasher.finalize();
}

/** JSON with keys sorted and no spaces: the text the report's hash is taken over (as the CLI). */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function shortHash(report) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical(report)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('').slice(0, 12);
}

const rate = (n, ms) => (ms > 0 ? Math.round((n / ms) * 10000) / 10 : 0);

/** Runs `cases` (one model) on `executor` ('gpu' | 'cpu'); returns the executor's report. */
async function checkExecutor(executor, cases, entries, onCase) {
  const rep = { executor, description: '', cases: [], passed: 0, prompt_tok_s: 0, decode_tok_s: 0 };
  const gpu = executor === 'gpu';
  let promptTokens = 0;
  let promptMs = 0;
  let tokens = 0;
  let decodeMs = 0;
  const byModel = Map.groupBy ? Map.groupBy(cases, (c) => c.model) : groupBy(cases);
  for (const [modelId, runs] of byModel) {
    const entry = entries.get(modelId);
    if (!entry) throw new Error(`the manifest has no model ${modelId}`);
    const bytes = await modelBytes(entry);
    setProgress(gpu ? 'Compiling the kernels and running the GPU self-test…' : 'Loading the model on the CPU…');
    await tick();
    let model;
    try {
      model = gpu ? await wasm.WasmModel.load_gpu(bytes) : wasm.WasmModel.load(bytes, 'exact');
    } catch (error) {
      if (error.code === 'gpu-selftest') {
        rep.selftest = { passed: false, failures: [error.message] };
        rep.error = 'failed the start-up self-test: its cases were not run';
      } else {
        rep.error = error.message;
      }
      return rep;
    }
    try {
      const info = plain(model.info());
      // The wasm build targets simd128 (.cargo/config.toml).
      rep.description = gpu ? info.executor : `${info.executor} (wasm32, simd128)`;
      if (gpu) rep.selftest = { passed: true, failures: [], ms: Math.round(info.gpu_selftest_ms * 10) / 10 };
      for (const c of runs) {
        setProgress(`${executor.toUpperCase()}: ${c.id}…`);
        await tick();
        const t0 = performance.now();
        const begun = plain(gpu ? await model.begin_async(c.options) : model.begin(c.options));
        const t1 = performance.now();
        const outcome = { prompt_tokens: begun.prompt_tokens, token_ids: [], logits_hashes: [], tokens_hash: '', stop_reason: '', text: '' };
        let step;
        do {
          step = plain(gpu ? await model.step_async() : model.step());
          outcome.token_ids.push(step.token_id);
          outcome.logits_hashes.push(step.logits_hash);
          outcome.text += step.text;
          if (!gpu) await tick();
        } while (!step.done);
        outcome.tokens_hash = step.tokens_hash;
        outcome.stop_reason = step.reason;
        const t2 = performance.now();
        const verdict = plain(wasm.golden_verdict(c.id, outcome));
        promptTokens += outcome.prompt_tokens;
        promptMs += t1 - t0;
        tokens += outcome.token_ids.length;
        decodeMs += t2 - t1;
        if (verdict.verdict === 'pass') rep.passed += 1;
        const row = { id: c.id, ...verdict, prompt_tokens: outcome.prompt_tokens, tokens: outcome.token_ids.length, ms: Math.round(t2 - t0) };
        rep.cases.push(row);
        onCase(rep, row);
      }
    } catch (error) {
      // A lost device or GPU error mid-run is part of the report, not the end of the check.
      rep.error = `the run stopped: ${error.message}`;
      break;
    } finally {
      model.free();
    }
  }
  rep.prompt_tok_s = rate(promptTokens, promptMs);
  rep.decode_tok_s = rate(tokens, decodeMs);
  return rep;
}

function groupBy(cases) {
  const groups = new Map();
  for (const c of cases) {
    if (!groups.has(c.model)) groups.set(c.model, []);
    groups.get(c.model).push(c);
  }
  return groups;
}

function verdictText(row) {
  if (row.verdict === 'pass') return 'exact';
  if (row.verdict === 'missing') return 'no pinned outcome';
  return `DIVERGED at step ${row.first_step ?? '–'}: ${row.detail}`;
}

function renderExecutor(rep) {
  const id = `results-${rep.executor}`;
  let table = document.getElementById(id);
  if (!table) {
    table = el('table', { class: 'conf-table', id });
    table.dataset.testid = id;
    $('results').append(table);
  }
  const title = rep.executor === 'gpu' ? 'WebGPU' : 'CPU (WebAssembly)';
  const summary = rep.error
    ? `not checked: ${rep.error}`
    : `${rep.passed}/${rep.cases.length} exact` + (rep.decode_tok_s ? `, prompt ${rep.prompt_tok_s} tok/s, decode ${rep.decode_tok_s} tok/s` : '');
  const selftest = rep.selftest ? `; self-test ${rep.selftest.passed ? 'passed' : 'FAILED'}` : '';
  table.replaceChildren(
    el('caption', {}, `${title}${rep.description ? ` (${rep.description})` : ''}: ${summary}${selftest}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Case'), el('th', { scope: 'col' }, 'Tokens'), el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'Verdict'))),
    el(
      'tbody',
      {},
      ...rep.cases.map((row) =>
        el(
          'tr',
          {},
          el('td', {}, row.id),
          el('td', { class: 'num' }, `${row.prompt_tokens} + ${row.tokens}`),
          el('td', { class: 'num' }, `${(row.ms / 1000).toFixed(1)} s`),
          el('td', { class: row.verdict === 'pass' ? 'verdict-pass' : 'verdict-fail' }, verdictText(row)),
        ),
      ),
    ),
  );
}

function issueText(report) {
  const lines = [
    `verbatim ${report.verbatim} conformance ${report.hash} (${report.spec}, ${report.subset} subset, browser): ${report.outcome.toUpperCase()}`,
  ];
  const a = report.adapter;
  for (const e of report.executors) {
    const what =
      e.executor === 'gpu' && a.available
        ? `${a.description || '(no description)'} [${a.vendor}/${a.architecture}${a.is_fallback_adapter ? ', fallback adapter' : ''}, dot4 ${a.dot4 ? 'yes' : 'no'}, binding ${Math.floor((a.limits.max_storage_buffer_binding_size ?? 0) / 2 ** 20)} MiB]`
        : e.description || e.executor;
    const result = e.error ? `not checked (${e.error})` : `${e.passed}/${e.cases.length} exact, ${e.decode_tok_s} decode tok/s`;
    lines.push(`- ${e.executor}: ${what}: ${result}`);
    for (const c of e.cases) if (c.verdict !== 'pass') lines.push(`  - ${c.id}: ${verdictText(c)}`);
  }
  return lines.join('\n');
}

async function run(options) {
  main.dataset.state = 'running';
  $('start').disabled = true;
  $('error').hidden = true;
  $('report').hidden = true;
  $('results').replaceChildren();
  const corpus = plain(wasm.golden_corpus());
  const ids = options.cases === 'quick' ? corpus.quick : options.cases === 'full' ? corpus.cases.map((c) => c.id) : options.cases;
  const unknown = ids.filter((id) => !corpus.cases.some((c) => c.id === id));
  if (unknown.length > 0) throw new Error(`not in the golden corpus: ${unknown.join(', ')}`);
  const cases = corpus.cases.filter((c) => ids.includes(c.id)).map(plain);
  const entries = new Map((await readManifest()).map((e) => [e.id, e]));
  const adapter = await describeAdapter();
  showAdapter(adapter);
  const executors = [];
  for (const executor of options.executors) {
    if (executor === 'gpu' && !adapter.available) {
      const rep = { executor, description: '', error: adapter.reason, cases: [], passed: 0, prompt_tok_s: 0, decode_tok_s: 0 };
      executors.push(rep);
      renderExecutor(rep);
      continue;
    }
    const rep = await checkExecutor(executor, cases, entries, (r) => renderExecutor(r));
    renderExecutor(rep);
    executors.push(rep);
  }
  const ok = executors.length > 0 && executors.every((e) => !e.error && e.passed === e.cases.length);
  const report = {
    report: 'verbatim-conformance-1',
    verbatim: wasm.version(),
    spec: wasm.spec_version(),
    platform: 'browser (wasm32)',
    subset: options.cases === 'quick' || options.cases === 'full' ? options.cases : 'selected',
    adapter,
    executors,
    outcome: ok ? 'pass' : 'fail',
  };
  report.hash = await shortHash(report);
  showReport(report);
  setProgress(`Done: ${plural(cases.length, 'case')} on ${executors.map((e) => e.executor).join(' and ')}.`);
  main.dataset.state = 'done';
}

let downloadUrl = null;

function showReport(report) {
  const json = JSON.stringify(report, null, 2);
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([json + '\n'], { type: 'application/json' }));
  $('download').onclick = () => {
    const a = el('a', { href: downloadUrl, download: `verbatim-conformance-${report.hash}.json` });
    document.body.append(a);
    a.click();
    a.remove();
  };
  $('outcome').textContent =
    report.outcome === 'pass'
      ? `PASS: every check computed exactly what the spec pins (report ${report.hash}).`
      : `FAIL: this device does not compute spec ${report.spec} exactly (report ${report.hash}). Please share the report.`;
  $('outcome').dataset.outcome = report.outcome;
  $('issue-text').value = issueText(report);
  $('issue-text').dataset.report = json;
  $('report').hidden = false;
}

function readOptions() {
  const params = new URLSearchParams(location.search);
  const executors = params.has('executors')
    ? params.get('executors').split(',').filter((e) => e === 'gpu' || e === 'cpu')
    : ['gpu', 'cpu'].filter((e) => $(`use-${e}`).checked);
  const cases = params.get('cases');
  const subset = document.querySelector('input[name="subset"]:checked').value;
  return {
    executors,
    cases: cases === null ? subset : cases === 'full' || cases === 'quick' ? cases : cases.split(',').filter(Boolean),
  };
}

async function start() {
  try {
    const options = readOptions();
    if (options.executors.length === 0) throw new Error('choose at least one executor');
    await run(options);
  } catch (error) {
    showError(`The check stopped: ${error.message}`);
    setProgress('');
    main.dataset.state = 'error';
  } finally {
    $('start').disabled = false;
  }
}

$('copy').addEventListener('click', async () => {
  $('issue-text').select();
  try {
    await navigator.clipboard.writeText($('issue-text').value);
    setProgress('Copied the report text.');
  } catch {
    setProgress('Select the text above and copy it (this browser did not allow copying).');
  }
});

await init();
const params = new URLSearchParams(location.search);
for (const e of ['gpu', 'cpu']) {
  if (params.has('executors')) $(`use-${e}`).checked = params.get('executors').split(',').includes(e);
}
$('start').addEventListener('click', start);
main.dataset.state = 'ready';
if (params.get('autostart') === '1') start();
