// The Evaluate view: scores a task (built in, or a file dropped here) on the exact engine in its
// own worker (eval/worker.js), on the executor the Generate side uses (executor-choice.js), with
// progress, tokens per second, ETA, cancel and resume after a reload (store.js); shows the metrics
// and every item, exports JSON and CSV, makes and replays eval links (#e1.…, docs/links.md), and
// keeps every finished result for a chart comparing models and tasks (chart.js). All text from
// files and links is set with textContent.
//
// Models are the manifest's (manifest.js) that the exact engine runs (SmolLM2 under exact-1, Gemma 3
// under exact-2); a model with terms (Gemma's) is downloaded only once they are accepted here
// (terms.js, as Generate asks). The engine is the one Generate runs: on a built site the versioned
// engine/<spec>/ folder the manifest names (docs/releasing.md), else this page's own folder; the
// worker downloads models from the manifest's address with Generate's checks (worker-download.js).

import { EXECUTOR_KEY, evalExecutor } from '../executor-choice.js';
import { formatMB, plural } from '../format.js';
import { exactSpecOf, readManifestFile } from '../manifest.js';
import { page } from '../page-state.js';
import { acceptTerms, termsPending, termsQuestion } from '../terms.js';
import { CHART_METRICS, drawChart, fillCompareTable } from './chart.js';
import { clearItems, loadItems, loadResults, removeResults, runKey, saveItems, saveResult } from './store.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const SUBSETS = { first20: 20, first200: 200, all: null };
// The built-in run under way ({model, task, subset}), so that the view offers to resume it after a
// reload; removed when it finishes.
const UNFINISHED_KEY = 'verbatim.eval.unfinished';

function remember(value) {
  try {
    if (value === null) localStorage.removeItem(UNFINISHED_KEY);
    else localStorage.setItem(UNFINISHED_KEY, JSON.stringify(value));
  } catch {
    // no storage: no offer after a reload (Run still resumes from IndexedDB)
  }
}

const state = {
  worker: null,
  tasks: [], // built-in tasks (tasks/manifest.json)
  models: [], // manifest entries the exact engine runs, each with `download` (manifest.js)
  origins: [], // model origins the site allows (manifest.js modelOrigins)
  engine: null, // the engine folder (URL ending in '/') holding eval/worker.js and pkg/
  own: null, // {name, bytes} of a dropped task file
  task: null, // the loaded task's description
  loadedKey: null, // what the worker has loaded
  items: [],
  limit: null,
  total: 0,
  running: false,
  replayLink: null,
  pending: new Map(),
};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function fmt(v, digits = 4) {
  return typeof v === 'number' ? v.toFixed(digits) : '';
}

function showError(message) {
  $('eval-error').hidden = !message;
  $('eval-error').textContent = message || '';
}

function ask(what, fields) {
  return new Promise((resolve, reject) => {
    state.pending.set(what, { resolve, reject });
    state.worker.postMessage({ type: what, ...fields });
  });
}

/** The engine folder for numeric spec `spec` on this site: its own engine/<spec>/ if it keeps
 * one, else the site's default engine, else (served from www/) this page's folder. */
function engineFolder(site, spec) {
  const folder = site.engines[spec] ?? (site.engine ? site.engines[site.engine] : null) ?? './';
  return new URL(folder, document.baseURI);
}

/** The engine's wasm module (for task files, tasks and links), initialised. */
async function engineModule() {
  const w = await import(new URL('pkg/verbatim.js', state.engine).href);
  await w.default();
  return w;
}

function startWorker() {
  state.worker?.terminate();
  state.worker = new Worker(new URL('eval/worker.js', state.engine), { type: 'module' });
  state.loadedKey = null;
  state.worker.onmessage = (event) => onMessage(event.data);
}

function onMessage(msg) {
  switch (msg.status) {
    case 'loaded':
    case 'answer': {
      const key = msg.status === 'loaded' ? 'load' : msg.what === 'item-view' ? 'item-view' : msg.what;
      const p = state.pending.get(key);
      state.pending.delete(key);
      p?.resolve(msg.status === 'loaded' ? msg : msg.value);
      break;
    }
    case 'item':
      onItem(msg);
      break;
    case 'progress':
      onProgress(msg);
      break;
    case 'finished':
      onFinished(msg.cancelled);
      break;
    case 'error': {
      for (const [, p] of state.pending) p.reject(new Error(msg.message));
      state.pending.clear();
      state.running = false;
      setRunning(false);
      showError(msg.message);
      break;
    }
  }
}

/** Reading the model: "Downloading … 12.0 of 253.1 MB", "Checking the saved copy …". */
function onProgress(msg) {
  const name = selectedModel().name;
  const of = `${formatMB(msg.loaded)} of ${formatMB(msg.total)}`;
  $('eval-status').textContent = msg.phase === 'download' ? `Downloading ${name}: ${of}…` : `Checking the saved copy of ${name}: ${of}…`;
}

/** Asks for the terms of `model` (Gemma's) as Generate does; resolves to whether they were accepted. */
function askTerms(model) {
  $('eval-terms-message').textContent = termsQuestion(model, formatMB(model.size));
  $('eval-terms-link').textContent = `Read the ${model.license || 'terms'}`;
  $('eval-terms-link').href = model.license_url;
  $('eval-terms').hidden = false;
  $('eval-app').dataset.terms = 'asked';
  $('eval-terms-accept').focus();
  return new Promise((resolve) => {
    const answer = (yes) => {
      $('eval-terms').hidden = true;
      $('eval-app').dataset.terms = yes ? 'accepted' : 'declined';
      if (yes) acceptTerms(model);
      resolve(yes);
    };
    $('eval-terms-accept').onclick = () => answer(true);
    $('eval-terms-decline').onclick = () => answer(false);
  });
}

function selectedModel() {
  return state.models.find((m) => m.id === $('eval-model').value) ?? state.models[0];
}

async function taskBytes() {
  const choice = $('eval-task').value;
  if (choice === 'own') {
    if (!state.own) throw new Error('Drop a task file here first (or choose a built-in task).');
    return state.own.bytes;
  }
  const entry = state.tasks.find((t) => t.name === choice);
  const response = await fetch(new URL(`../tasks/${entry.file}`, import.meta.url), { cache: 'no-store' });
  if (!response.ok) throw new Error(`The task file ${entry.file} is not on this site (HTTP ${response.status}): run \`make tasks\`.`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The executor this evaluation asks for: Generate's (its loaded model, else the stored choice). */
function wantedExecutor() {
  let stored = null;
  try {
    stored = localStorage.getItem(EXECUTOR_KEY);
  } catch {
    // no storage: Automatic
  }
  return evalExecutor({ loaded: page.loaded, stored });
}

/** "the wasm CPU executor" or "WebGPU (adapter …)". */
function executorWords(executor) {
  return executor.startsWith('gpu') ? `WebGPU (${executor.replace(/^gpu:\s*/, '')})` : 'the wasm CPU executor';
}

async function ensureLoaded() {
  const model = selectedModel();
  const choice = $('eval-task').value;
  const executor = wantedExecutor();
  const key = `${model.sha256}:${choice}:${choice === 'own' ? state.own?.name : ''}:${executor}`;
  if (state.loadedKey === key) return;
  if (termsPending(model) && !(await askTerms(model))) {
    throw new Error(`${model.name} was not downloaded: its terms were not accepted.`);
  }
  $('eval-status').textContent = executor === 'gpu' ? 'Loading the model and the task (WebGPU: compiling and self-testing the kernels)…' : 'Loading the model and the task…';
  const bytes = await taskBytes();
  const { id, name, file, size, sha256, download } = model;
  const loaded = await ask('load', { model: { id, name, file, size, sha256, download }, origins: state.origins, task: { bytes: bytes.buffer.slice(0) }, executor });
  state.task = loaded.task;
  state.executor = loaded.executor;
  state.loadedKey = key;
  $('eval-task-info').textContent = `${loaded.task.name} v${loaded.task.version}: ${loaded.task.items} items, ${loaded.task.output_type}; licence ${loaded.task.licence}; items sha256 ${loaded.task.items_sha256}`;
  $('eval-executor').textContent = `Scored on ${executorWords(loaded.executor)}${loaded.fallback ? `: ${loaded.fallback}` : ''}.`;
  $('eval-executor').dataset.executor = loaded.executor.startsWith('gpu') ? 'gpu' : 'cpu';
}

function progressKey() {
  return runKey(selectedModel().sha256, state.task.items_sha256, state.limit);
}

async function startRun() {
  showError('');
  try {
    await ensureLoaded();
  } catch (e) {
    showError(e.message);
    $('eval-status').textContent = '';
    return;
  }
  const sub = state.replay ? state.replay.limit : SUBSETS[$('eval-subset').value];
  state.limit = sub === null ? null : Math.min(sub, state.task.items);
  state.total = state.limit ?? state.task.items;
  state.items = await loadItems(progressKey());
  if (state.items.length > state.total) state.items = [];
  renderResults();
  if (state.items.length >= state.total) {
    await finish();
    return;
  }
  const choice = $('eval-task').value;
  if (!state.replayLink && choice !== 'own') remember({ model: selectedModel().id, task: choice, subset: $('eval-subset').value });
  $('eval-resume').hidden = true;
  state.running = true;
  state.rate = null;
  state.t0 = performance.now();
  state.resumedFrom = state.items.length;
  setRunning(true);
  state.worker.postMessage({ type: 'run', start: state.items.length, end: state.total });
}

function setRunning(on) {
  $('eval-run').disabled = on;
  $('eval-cancel').hidden = !on;
  $('eval-progress').hidden = false;
}

function onItem(msg) {
  state.items.push(msg.item);
  const done = state.items.length;
  const scored = done - state.resumedFrom;
  const secs = msg.elapsed_ms / 1000;
  const eta = scored > 0 ? (secs / scored) * (state.total - done) : 0;
  $('eval-progress').max = state.total;
  $('eval-progress').value = done;
  state.rate = msg.tokens_run / Math.max(secs, 1e-3);
  $('eval-status').textContent = `${done}/${state.total} items · ${state.rate.toFixed(1)} tok/s · ETA ${Math.round(eta)} s`;
  saveItems(progressKey(), state.items);
}

async function onFinished(wasCancelled) {
  state.running = false;
  setRunning(false);
  if (wasCancelled) {
    $('eval-status').textContent = `Cancelled at ${state.items.length}/${state.total} items (kept: Run resumes).`;
    return;
  }
  await finish();
}

async function finish() {
  const result = await ask('result', { items: state.items, limit: state.limit });
  state.result = result;
  renderResults();
  if (state.replayLink) {
    const verdict = await ask('compare', { link: state.replayLink, items: state.items });
    $('eval-replay-result').textContent = verdict.message;
    $('eval-replay-result').dataset.exact = String(verdict.exact);
  } else {
    $('eval-link').value = `${location.origin}${location.pathname}#${await ask('link', { items: state.items, limit: state.limit })}`;
  }
  remember(null);
  const rate = state.rate ? ` · ${state.rate.toFixed(1)} tokens scored per second on ${executorWords(state.executor)}` : '';
  $('eval-status').textContent = `Done: ${plural(state.items.length, 'item')}${rate}.`;
  const model = selectedModel();
  await saveResult({
    key: progressKey(),
    model_id: model.id,
    model_name: model.name ?? model.id,
    model_sha256: result.model_sha256,
    task: result.task,
    task_sha256: result.task_sha256,
    limit: state.limit,
    n: result.n,
    metrics: result.metrics,
    items_hash: result.items_hash,
    executor: state.executor,
  });
  await renderComparison();
  $('eval-app').dataset.state = 'done';
}

/**
 * After a reload: the built-in run left unfinished is selected again and the view says how far it
 * got; Run resumes it from the first item not kept.
 */
async function offerResume() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(UNFINISHED_KEY) ?? 'null');
  } catch {
    return;
  }
  const model = state.models.find((m) => m.id === saved?.model);
  const task = state.tasks.find((t) => t.name === saved?.task);
  if (!model || !task || !(saved.subset in SUBSETS)) return;
  const sub = SUBSETS[saved.subset];
  const limit = sub === null ? null : Math.min(sub, task.items);
  const total = limit ?? task.items;
  const kept = (await loadItems(runKey(model.sha256, task.items_sha256, limit))).length;
  if (kept === 0 || kept >= total) return;
  $('eval-model').value = model.id;
  $('eval-task').value = task.name;
  $('eval-subset').value = saved.subset;
  $('eval-resume').textContent = `An unfinished run was kept: ${kept} of ${total} items of ${task.name} on ${model.name ?? model.id}. Run resumes it from item ${kept + 1}.`;
  $('eval-resume').hidden = false;
}

let comparisonRenders = 0;

/**
 * The kept results: the chart of the chosen metric and the table. Renders can overlap (a run ends
 * while the metric changes): only the latest one draws, and the chart then names its metric in
 * `data-metric`.
 */
async function renderComparison() {
  const render = ++comparisonRenders;
  const results = await loadResults();
  if (render !== comparisonRenders) return;
  $('eval-compare').hidden = results.length === 0;
  const metric = $('eval-chart-metric').value;
  const bars = drawChart($('eval-chart'), results, metric);
  $('eval-chart-caption').textContent = bars
    ? `${CHART_METRICS[metric].label} of ${results.length} kept result${results.length === 1 ? '' : 's'} (${bars} bar${bars === 1 ? '' : 's'}).`
    : `No kept result has ${CHART_METRICS[metric].label}: choose another metric.`;
  $('eval-chart').dataset.metric = metric;
  fillCompareTable($('eval-compare-rows'), results, async (key) => {
    await removeResults(key);
    await renderComparison();
  });
}

function renderResults() {
  const r = state.result;
  const body = $('eval-metrics');
  body.replaceChildren();
  $('eval-items-hash').textContent = r ? r.items_hash : '';
  $('eval-spec').textContent = r ? `${r.spec} + ${r.score_spec}` : '';
  // Results, export and link appear once there is a result to show.
  $('eval-output').hidden = !r;
  if (!r) return;
  const rows = [
    ['acc', r.metrics.acc, r.metrics.acc_stderr],
    ['acc_norm', r.metrics.acc_norm, r.metrics.acc_norm_stderr],
    ['perplexity', r.metrics.perplexity],
    ['word_perplexity', r.metrics.word_perplexity],
    ['byte_perplexity', r.metrics.byte_perplexity],
    ['bits_per_byte', r.metrics.bits_per_byte],
  ];
  for (const [name, v, se] of rows) {
    if (v === undefined) continue;
    const tr = el('tr');
    tr.append(el('td', name), el('td', fmt(v)), el('td', se === undefined ? '' : fmt(se)), el('td', String(r.n)));
    body.append(tr);
  }
  const items = $('eval-items');
  items.replaceChildren();
  for (const it of r.items) {
    const tr = el('tr');
    const ok = it.gold === null || it.gold === undefined ? '' : it.pred === it.gold ? '✓' : '✗';
    tr.append(
      el('td', String(it.id)),
      el('td', it.gold ?? ''),
      el('td', String(it.pred)),
      el('td', String(it.pred_norm)),
      el('td', it.loglik.map((x) => x.toFixed(3)).join(' · ')),
      el('td', ok),
    );
    tr.tabIndex = 0;
    tr.addEventListener('click', () => showItem(it));
    items.append(tr);
  }
}

async function showItem(it) {
  const v = await ask('item-view', { index: it.id });
  const box = $('eval-item-detail');
  box.replaceChildren();
  box.append(el('pre', v.context, 'link-input'));
  const ol = el('ol');
  ol.start = 0;
  v.choices.forEach((c, i) => {
    const mark = [i === it.pred ? 'chosen' : '', i === v.gold ? 'gold' : ''].filter(Boolean).join(', ');
    ol.append(el('li', `${c}  (log-likelihood ${it.loglik[i]?.toFixed(4)}${mark ? `; ${mark}` : ''})`));
  });
  box.append(ol);
  box.hidden = false;
}

function download(name, text, type) {
  const a = el('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function exportCsv() {
  const r = state.result;
  const q = (s) => `"${String(s).replaceAll('"', '""')}"`;
  const lines = ['id,gold,pred,pred_norm,loglik,loglik_q16'];
  for (const it of r.items) {
    lines.push([it.id, it.gold ?? '', it.pred, it.pred_norm, q(it.loglik.join(' ')), q(it.loglik_q16.join(' '))].join(','));
  }
  download(`${r.task}.csv`, `${lines.join('\n')}\n`, 'text/csv');
}

async function onOwnFile(file) {
  showError('');
  const bytes = new Uint8Array(await file.arrayBuffer());
  // Checked in the worker's engine: the same parser as the CLI.
  const w = await engineModule();
  try {
    const info = w.task_check(bytes);
    state.own = { name: file.name, bytes };
    $('eval-task').value = 'own';
    $('eval-own-status').textContent = `${file.name}: ${info.name}, ${info.items} items (${info.output_type})`;
    state.loadedKey = null;
  } catch (e) {
    showError(`${file.name} is not a valid task file: ${e.message}`);
  }
}

async function init() {
  if (!$('eval-app')) return;
  const { models, site } = await readManifestFile();
  state.origins = site.modelOrigins;
  state.engine = engineFolder(site, site.engine);
  let w = await engineModule();
  const frag = location.hash.slice(1);
  if (frag && w.is_eval_link(frag)) {
    // A score is replayed by the engine of the spec its link names, where the site keeps one.
    let spec = null;
    try {
      spec = w.eval_link_decode(frag).spec;
    } catch {
      // said below
    }
    const folder = spec && engineFolder(site, spec);
    if (folder && folder.href !== state.engine.href) {
      state.engine = folder;
      w = await engineModule();
    }
  }
  state.models = models.filter((m) => exactSpecOf(m) !== null);
  state.tasks = JSON.parse(w.tasks_manifest_json()).tasks;
  for (const m of state.models) $('eval-model').append(new Option(`${m.name ?? m.id} · ${exactSpecOf(m)}`, m.id));
  for (const t of state.tasks) $('eval-task').append(new Option(`${t.name} (${t.items} items; ${t.licence})`, t.name));
  $('eval-task').append(new Option('Your own task file (drop it below)', 'own'));
  startWorker();
  $('eval-run').addEventListener('click', startRun);
  $('eval-cancel').addEventListener('click', () => state.worker.postMessage({ type: 'cancel' }));
  $('eval-restart').addEventListener('click', async () => {
    if (state.task) await clearItems(progressKey());
    remember(null);
    $('eval-resume').hidden = true;
    state.items = [];
    state.result = null;
    renderResults();
  });
  $('eval-export-json').addEventListener('click', () => state.result && download(`${state.result.task}.json`, `${JSON.stringify(state.result)}\n`, 'application/json'));
  $('eval-export-csv').addEventListener('click', () => state.result && exportCsv());
  $('eval-file').addEventListener('change', (e) => e.target.files[0] && onOwnFile(e.target.files[0]));
  const drop = $('eval-drop');
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer.files[0]) onOwnFile(e.dataTransfer.files[0]);
  });
  for (const id of ['eval-model', 'eval-task']) $(id).addEventListener('change', () => (state.loadedKey = null));
  if (!state.replayLink) await offerResume();
  $('eval-chart-metric').addEventListener('change', renderComparison);
  $('eval-compare-clear').addEventListener('click', async () => {
    await removeResults();
    await renderComparison();
  });
  await renderComparison();
  if (frag && w.is_eval_link(frag)) {
    try {
      const info = w.eval_link_decode(frag);
      state.replayLink = frag;
      state.replay = info;
      $('eval-replay').hidden = false;
      $('eval-replay-info').textContent = `${info.task} (items sha256 ${info.task_sha256}), first ${info.n} items, model ${info.model_id} (${info.model_sha256}), specs ${info.spec} + ${info.score_spec}; expected items sha256 ${info.items_hash}`;
      if (state.models.some((m) => m.id === info.model_id)) $('eval-model').value = info.model_id;
      if (state.tasks.some((t) => t.name === info.task)) $('eval-task').value = info.task;
      $('eval-subset').value = info.n <= 20 ? 'first20' : info.n <= 200 ? 'first200' : 'all';
      $('eval-replay-button').addEventListener('click', async () => {
        await clearItems(runKey(info.model_sha256, info.task_sha256, info.limit));
        startRun();
      });
    } catch (e) {
      showError(e.message);
    }
  }
  $('eval-app').dataset.state = 'ready';
}

init().catch((e) => showError(e.message));
