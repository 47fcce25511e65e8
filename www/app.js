// The page: lists the manifest's models, drives the engine worker (worker.js) and shows what it
// reports. All text that comes from a file, the manifest or the model is set with textContent.

import { hasModel } from './model-cache.js';

const MANIFEST_URL = 'models/manifest.json';
const LAST_MODEL_KEY = 'verbatim.model';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const ui = {
  app: $('app'),
  modelList: $('model-list'),
  modelListStatus: $('model-list-status'),
  engineSelect: $('engine-select'),
  loadButton: $('load-button'),
  cancelButton: $('cancel-button'),
  fileInput: $('file-input'),
  dropZone: $('drop-zone'),
  progressArea: $('progress-area'),
  progress: $('progress'),
  progressText: $('progress-text'),
  error: $('error'),
  errorMessage: $('error-message'),
  retryButton: $('retry-button'),
  notice: $('notice'),
  modelInfo: $('model-info'),
  infoName: $('info-name'),
  infoArchitecture: $('info-architecture'),
  infoShape: $('info-shape'),
  infoSource: $('info-source'),
  infoSha256: $('info-sha256'),
  form: $('generate-form'),
  prompt: $('prompt'),
  chatToggle: $('chat-toggle'),
  maxTokens: $('max-tokens'),
  generateButton: $('generate-button'),
  stopButton: $('stop-button'),
  engine: $('engine'),
  engineLine: $('engine').parentElement,
  output: $('output'),
  stats: $('stats'),
  tokenIds: $('token-ids'),
  tokensHash: $('tokens-hash'),
  version: $('version'),
};

// 'starting' | 'idle' (no model) | 'loading' | 'ready' | 'generating' | 'failed' (no engine)
let state = 'starting';
let models = []; // validated manifest entries
let worker = null;
let lastLoad = null; // repeats the last load, for Retry
let pendingAutoLoad = null; // a cached model to load once the engine is up
let runs = 0;
const savedIds = new Set(); // models with a verified copy in this browser

function setState(next) {
  state = next;
  ui.app.dataset.state = next;
  const busy = next === 'loading' || next === 'generating';
  ui.modelList.disabled = busy || models.length === 0;
  ui.engineSelect.disabled = busy || next === 'starting' || next === 'failed';
  ui.loadButton.disabled = busy || next === 'starting' || next === 'failed' || selectedModel() === null;
  ui.cancelButton.hidden = next !== 'loading';
  ui.fileInput.disabled = busy || next === 'starting' || next === 'failed';
  ui.dropZone.classList.toggle('disabled', ui.fileInput.disabled);
  ui.generateButton.disabled = next !== 'ready';
  ui.stopButton.disabled = next !== 'generating';
  ui.app.setAttribute('aria-busy', String(busy));
}

// ---------------------------------------------------------------------------------------------
// Manifest

async function readManifest() {
  let response;
  try {
    response = await fetch(MANIFEST_URL, { cache: 'no-cache' });
  } catch (error) {
    throw new Error(`the server could not be reached (${error.message})`);
  }
  if (!response.ok) throw new Error(`the server answered HTTP ${response.status} for ${MANIFEST_URL}`);
  const manifest = await response.json();
  if (!Array.isArray(manifest?.models)) throw new Error(`${MANIFEST_URL} has no "models" list`);
  return manifest.models.filter((entry) => {
    const ok =
      typeof entry?.id === 'string' &&
      typeof entry.name === 'string' &&
      typeof entry.file === 'string' &&
      /^[A-Za-z0-9._-]+$/.test(entry.file) &&
      Number.isSafeInteger(entry.size) &&
      entry.size > 0 &&
      /^[0-9a-f]{64}$/.test(entry.sha256 ?? '');
    if (!ok) console.warn('Skipping a malformed manifest entry', entry);
    return ok;
  });
}

function renderModels() {
  ui.modelListStatus.hidden = true;
  const preferred = localStorage.getItem(LAST_MODEL_KEY);
  const initial = models.find((m) => m.id === preferred) ?? models.find((m) => m.default) ?? models[0];
  for (const model of models) {
    const row = document.createElement('div');
    row.className = 'model';
    row.dataset.testid = `model-${model.id}`;

    const radio = document.createElement('input');
    radio.type = 'radio';
    radio.name = 'model';
    radio.value = model.id;
    radio.id = `model-option-${model.id}`;
    radio.dataset.testid = `model-option-${model.id}`;
    radio.checked = model === initial;
    radio.addEventListener('change', () => {
      updateLoadLabel();
      setState(state);
    });

    const label = document.createElement('label');
    label.htmlFor = radio.id;
    const name = document.createElement('span');
    name.className = 'model-name';
    name.dataset.testid = 'model-name';
    name.textContent = model.name;
    const meta = document.createElement('span');
    meta.className = 'model-meta';
    meta.dataset.testid = 'model-meta';
    meta.textContent = [formatMB(model.size), model.architecture, model.quantization].filter(Boolean).join(' · ');
    const saved = document.createElement('span');
    saved.className = 'badge';
    saved.dataset.testid = 'model-saved';
    saved.textContent = 'saved in this browser';
    saved.hidden = true;
    label.append(name, meta, saved);

    row.append(radio, label, licenceElement(model));
    ui.modelList.append(row);
  }
}

/** The licence as a link when the manifest gives an http(s) address, else as plain text. */
function licenceElement(model) {
  const text = model.license ? `Licence: ${model.license}` : 'Licence not stated';
  let url = null;
  try {
    url = model.license_url ? new URL(model.license_url) : null;
  } catch {
    url = null;
  }
  const element = url && (url.protocol === 'https:' || url.protocol === 'http:') ? document.createElement('a') : document.createElement('span');
  element.className = 'licence';
  element.dataset.testid = 'model-license';
  element.textContent = text;
  if (element instanceof HTMLAnchorElement) {
    element.href = url.href;
    element.rel = 'noopener noreferrer';
    element.target = '_blank';
  }
  return element;
}

async function refreshSavedBadges() {
  for (const model of models) {
    const saved = await hasModel(model.sha256);
    if (saved) savedIds.add(model.id);
    else savedIds.delete(model.id);
    const badge = document.querySelector(`[data-testid="model-${CSS.escape(model.id)}"] [data-testid="model-saved"]`);
    badge.hidden = !saved;
  }
  updateLoadLabel();
}

function updateLoadLabel() {
  ui.loadButton.textContent = savedIds.has(selectedModel()?.id) ? 'Load' : 'Download and load';
}

function selectedModel() {
  const radio = ui.modelList.querySelector('input[name="model"]:checked');
  return models.find((m) => m.id === radio?.value) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Engine worker

function startWorker() {
  worker?.terminate();
  worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module', name: 'verbatim-engine' });
  worker.addEventListener('message', ({ data }) => onWorkerMessage(data));
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    worker.terminate();
    worker = null;
    hideProgress();
    showError(`The engine stopped unexpectedly${event.message ? ` (${event.message})` : ''}.`, () => {
      startWorker();
      lastLoad?.();
    });
    setState('failed');
  });
}

function onWorkerMessage(message) {
  switch (message.status) {
    case 'ready':
      ui.version.textContent = message.version;
      if (state === 'starting' || state === 'failed') setState('idle'); // a restart may be loading already
      if (pendingAutoLoad) {
        const model = pendingAutoLoad;
        pendingAutoLoad = null;
        loadManifestModel(model);
      }
      break;
    case 'progress':
      showProgress(message);
      break;
    case 'parsing':
      ui.progress.removeAttribute('value'); // indeterminate
      ui.progressText.textContent = 'Loading the model into the engine…';
      break;
    case 'loaded':
      onLoaded(message);
      break;
    case 'begun':
      ui.stats.textContent = `Prompt: ${plural(message.prompt_tokens, 'token')}. Computing…`;
      break;
    case 'token':
      ui.output.append(message.text);
      ui.stats.textContent = `${plural(message.n, 'token')} · ${formatSeconds(message.elapsed_ms)}`;
      break;
    case 'done':
      onDone(message);
      break;
    case 'error':
      onWorkerError(message);
      break;
    default:
      console.warn('Unknown message from the engine', message);
  }
}

function loadManifestModel(model) {
  if (!worker) startWorker();
  localStorage.setItem(LAST_MODEL_KEY, model.id);
  lastLoad = () => loadManifestModel(model);
  beginLoad(`Preparing ${model.name}…`);
  const { id, name, file, size, sha256 } = model;
  worker.postMessage({ type: 'load-model', model: { id, name, file, size, sha256 }, engine: ui.engineSelect.value });
}

function loadFile(file) {
  if (!file) return;
  if (!worker) startWorker();
  lastLoad = () => loadFile(file);
  beginLoad(`Opening ${file.name}…`);
  worker.postMessage({ type: 'load-file', file, engine: ui.engineSelect.value });
}

function beginLoad(text) {
  hideError();
  ui.notice.hidden = true;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.progressArea.hidden = false;
  ui.progress.value = 0;
  ui.progressText.textContent = text;
  setState('loading');
}

function showProgress({ phase, loaded, total, bytes_per_s }) {
  ui.progress.max = total;
  ui.progress.value = loaded;
  const percent = total > 0 ? Math.floor((loaded / total) * 100) : 0;
  if (phase === 'download') {
    const speed = bytes_per_s > 0 ? ` · ${(bytes_per_s / 1e6).toFixed(1)} MB/s` : '';
    ui.progressText.textContent = `Downloading: ${formatMB(loaded)} of ${formatMB(total)} (${percent}%)${speed}. Checking SHA-256 as it arrives.`;
  } else if (phase === 'read') {
    ui.progressText.textContent = `Reading the file: ${formatMB(loaded)} of ${formatMB(total)} (${percent}%).`;
  } else {
    ui.progressText.textContent = `Checking the saved copy: ${percent}%.`;
  }
}

function hideProgress() {
  ui.progressArea.hidden = true;
}

function onLoaded({ info, sha256, source, label, bytes, cache_error }) {
  hideProgress();
  ui.infoName.textContent = info.name || label;
  ui.infoArchitecture.textContent = info.architecture;
  ui.infoShape.textContent = `${formatMB(bytes)} · ${plural(info.n_layer, 'layer')} · vocabulary of ${info.n_vocab.toLocaleString('en')} · context of ${info.context_length.toLocaleString('en')} tokens`;
  ui.infoSha256.textContent = sha256;
  if (source === 'network') {
    ui.infoSource.textContent = 'Downloaded from this site, SHA-256 verified, saved in this browser.';
  } else if (source === 'cache') {
    ui.infoSource.textContent = 'Saved copy in this browser, SHA-256 verified: nothing was downloaded.';
  } else {
    const known = models.find((m) => m.sha256 === sha256);
    ui.infoSource.textContent = known
      ? `Local file ${label}: identical to ${known.name} in the list.`
      : `Local file ${label} (not one of the listed models).`;
  }
  ui.infoSource.dataset.source = source;
  ui.engine.textContent = engineLabel(info);
  ui.engineLine.hidden = false;
  ui.modelInfo.hidden = false;
  if (cache_error) showNotice(cache_error);

  ui.chatToggle.disabled = !info.has_chat_template;
  if (!info.has_chat_template) ui.chatToggle.checked = false;
  ui.chatToggle.title = info.has_chat_template ? '' : 'This model has no chat template.';
  ui.maxTokens.max = String(info.context_length);
  setState('ready');
  refreshSavedBadges();
}

function onDone({ reason, token_ids, tokens_hash, prompt_tokens, first_token_ms, elapsed_ms, decode_tokens_per_s }) {
  const why = {
    eos: 'the model ended its answer',
    max_tokens: 'reached the token limit',
    stop_string: 'a stop string appeared',
    context_full: 'the context is full',
    aborted: 'stopped',
  }[reason] ?? reason;
  const speed = decode_tokens_per_s === null ? '' : ` · ${decode_tokens_per_s.toFixed(1)} tokens/s`;
  const first = first_token_ms === null ? '' : `, first token after ${formatSeconds(first_token_ms)}`;
  ui.stats.textContent = `${plural(token_ids.length, 'token')} in ${formatSeconds(elapsed_ms)}${speed} (prompt of ${plural(prompt_tokens, 'token')}${first}); ${why}.`;
  ui.tokenIds.textContent = token_ids.join(' ');
  ui.tokensHash.textContent = tokens_hash ?? 'not given (the run was stopped)';
  runs += 1;
  ui.app.dataset.runs = String(runs);
  setState('ready');
}

function onWorkerError({ phase, code, message, retry }) {
  hideProgress();
  if (phase === 'init') {
    showError(message, null);
    setState('failed');
    return;
  }
  if (code === 'aborted') {
    showNotice(message);
  } else if (phase === 'generate' && retry) {
    // The engine failed inside a step: start it afresh and load the model again.
    showError(`${message} Retry restarts the engine and loads the model again.`, () => {
      startWorker();
      lastLoad?.();
    });
  } else {
    showError(message, retry ? lastLoad : null);
  }
  if (phase === 'load') {
    ui.modelInfo.hidden = true;
    ui.engineLine.hidden = true;
    setState('idle');
    refreshSavedBadges();
  } else {
    setState('ready'); // the model stays loaded after a failed generation
  }
}

function showError(message, retryAction) {
  ui.errorMessage.textContent = message;
  ui.retryButton.hidden = !retryAction;
  ui.retryButton.onclick = retryAction
    ? () => {
        hideError();
        retryAction();
      }
    : null;
  ui.error.hidden = false;
}

function hideError() {
  ui.error.hidden = true;
}

function showNotice(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Controls

ui.loadButton.addEventListener('click', () => {
  const model = selectedModel();
  if (model) loadManifestModel(model);
});

// Another engine: load the current model again on it.
ui.engineSelect.addEventListener('change', () => {
  if (state === 'ready') lastLoad?.();
});

ui.cancelButton.addEventListener('click', () => worker?.postMessage({ type: 'abort' }));

ui.fileInput.addEventListener('change', () => {
  loadFile(ui.fileInput.files[0]);
  ui.fileInput.value = ''; // choosing the same file again fires 'change' again
});

// Dropping a file anywhere must not make the browser navigate to it.
for (const type of ['dragover', 'drop']) document.addEventListener(type, (event) => event.preventDefault());
ui.dropZone.addEventListener('dragover', (event) => {
  if (ui.fileInput.disabled) return;
  event.dataTransfer.dropEffect = 'copy';
  ui.dropZone.classList.add('dragging');
});
ui.dropZone.addEventListener('dragleave', () => ui.dropZone.classList.remove('dragging'));
ui.dropZone.addEventListener('drop', (event) => {
  ui.dropZone.classList.remove('dragging');
  if (!ui.fileInput.disabled) loadFile(event.dataTransfer.files[0]);
});

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (state !== 'ready') return;
  hideError();
  ui.output.textContent = '';
  ui.tokenIds.textContent = '';
  ui.tokensHash.textContent = '';
  ui.stats.textContent = '';
  setState('generating');
  worker.postMessage({
    type: 'generate',
    prompt: ui.prompt.value,
    chat: ui.chatToggle.checked,
    max_tokens: Number(ui.maxTokens.value),
  });
});

ui.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (state === 'ready') ui.form.requestSubmit();
  }
});

ui.stopButton.addEventListener('click', () => worker?.postMessage({ type: 'abort' }));

// ---------------------------------------------------------------------------------------------
// Formatting

/** Which engine computes the tokens, in words. */
function engineLabel({ engine, spec }) {
  if (engine === 'exact') return `exact integer engine (${spec}), CPU/wasm`;
  if (engine === 'float') return 'float reference (candle), CPU/wasm';
  return `${engine}, CPU/wasm`;
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function formatSeconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------------------------------------
// Start: the engine and the manifest load side by side; a model saved in this browser loads at once.

setState('starting');
startWorker();
try {
  models = await readManifest();
  if (models.length === 0) throw new Error('it lists no models');
  renderModels();
  await refreshSavedBadges();
  const initial = selectedModel();
  if (initial && savedIds.has(initial.id)) {
    if (state === 'starting') pendingAutoLoad = initial;
    else if (state === 'idle') loadManifestModel(initial);
  }
} catch (error) {
  ui.modelListStatus.textContent = `The list of models could not be read (${error.message}). You can still open a GGUF file from your computer.`;
}
setState(state);
