// The page: lists the manifest's models, drives the engine worker (worker.js) and shows what it
// reports. All text that comes from a file, the manifest or the model is set with textContent.

import { checkModelUrl, displayUrl, tidyLink } from './links.js';
import { hasModel } from './model-cache.js';

const MANIFEST_URL = 'models/manifest.json';
const LAST_MODEL_KEY = 'verbatim.model';
// 'cpu' while "Use the CPU only" is on; absent: WebGPU when it works, else the CPU.
const EXECUTOR_KEY = 'verbatim.executor';
// Stop and Cancel wait this long for the engine to answer, then end its worker.
const STOP_GRACE_MS = 3000;
// ?test-hooks=1: the browser tests may make the engine panic or hang (window.verbatimTestHooks).
const TEST_HOOKS = new URLSearchParams(location.search).get('test-hooks') === '1';

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const ui = {
  app: $('app'),
  modelList: $('model-list'),
  modelListStatus: $('model-list-status'),
  engineSelect: $('engine-select'),
  cpuOnly: $('cpu-only'),
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
  infoExecutor: $('info-executor'),
  form: $('generate-form'),
  prompt: $('prompt'),
  chatToggle: $('chat-toggle'),
  maxTokens: $('max-tokens'),
  generateButton: $('generate-button'),
  stopButton: $('stop-button'),
  engine: $('engine'),
  engineLine: $('engine').parentElement,
  executor: $('executor'),
  runExecutor: $('run-executor'),
  gpuFailure: $('gpu-failure'),
  gpuFailureMessage: $('gpu-failure-message'),
  retryCpuButton: $('retry-cpu-button'),
  output: $('output'),
  genProgress: $('gen-progress'),
  replayProgress: $('replay-progress'),
  stats: $('stats'),
  tokenIds: $('token-ids'),
  tokensHash: $('tokens-hash'),
  version: $('version'),
  temperature: $('temperature'),
  topK: $('top-k'),
  topP: $('top-p'),
  minP: $('min-p'),
  repeatPenalty: $('repeat-penalty'),
  repeatLastN: $('repeat-last-n'),
  seed: $('seed'),
  newSeedButton: $('new-seed-button'),
  stopStrings: $('stop-strings'),
  share: $('share'),
  shareNote: $('share-note'),
  linkText: $('link-text'),
  copyLinkButton: $('copy-link-button'),
  copyStatus: $('copy-status'),
  cite: $('cite'),
  linkPanel: $('link-panel'),
  linkError: $('link-error'),
  linkErrorMessage: $('link-error-message'),
  linkDetails: $('link-details'),
  linkModel: $('link-model'),
  linkSha256: $('link-sha256'),
  linkLicense: $('link-license'),
  linkInput: $('link-input'),
  linkSettings: $('link-settings'),
  linkStops: $('link-stops'),
  linkSpec: $('link-spec'),
  linkExpected: $('link-expected'),
  linkModelMissing: $('link-model-missing'),
  linkModelMissingMessage: $('link-model-missing-message'),
  linkModelUrlBox: $('link-model-url-box'),
  linkModelUrl: $('link-model-url'),
  linkModelHost: $('link-model-host'),
  linkModelUrlRefused: $('link-model-url-refused'),
  linkFetchButton: $('link-fetch-button'),
  replayButton: $('replay-button'),
  replayResult: $('replay-result'),
  replayExecutor: $('replay-executor'),
  replayGpuFailure: $('replay-gpu-failure'),
  replayGpuFailureMessage: $('replay-gpu-failure-message'),
  replayRetryCpuButton: $('replay-retry-cpu-button'),
  replayOutput: $('replay-output'),
  replayDetail: $('replay-detail'),
  replayCite: $('replay-cite'),
};

// 'starting' | 'idle' (no model) | 'loading' | 'ready' | 'generating' | 'failed' (no engine)
let state = 'starting';
let models = []; // validated manifest entries
let worker = null;
let lastLoad = null; // repeats the last load, for Retry; lastLoad({cpuRetry}) loads it on the CPU
let loadingWith = null; // {cpuRetry}: how the load under way was asked for
let pendingAutoLoad = null; // a cached model to load once the engine is up
let runs = 0;
let engineVersion = '';
let engineSpec = null; // the numeric spec this engine implements, e.g. 'exact-1'
let loaded = null; // {sha256, engine, source, label, executor} of the loaded model
let currentRun = null; // {kind: 'generate' | 'replay', run, model, link?}
let failedRun = null; // the run the GPU failed in, with the message: "Retry on CPU" runs it again
let pendingRerun = null; // that run, once the model is loaded on the CPU
let link = null; // the decoded link being shown: {view, url}
let pendingReplay = false; // replay once the model now loading is ready
let linksHandled = 0;
let requestId = 0;
const pendingRequests = new Map(); // id -> {resolve, reject}
let engineReadyResolve;
let engineReadyPromise = new Promise((resolve) => (engineReadyResolve = resolve));
let stopTimer = null; // set after Stop or Cancel until the engine answers
let engineRestarts = 0;
const savedIds = new Set(); // models with a verified copy in this browser

function setState(next) {
  state = next;
  ui.app.dataset.state = next;
  const busy = next === 'loading' || next === 'generating';
  ui.modelList.disabled = busy || models.length === 0;
  ui.engineSelect.disabled = busy || next === 'starting' || next === 'failed';
  ui.cpuOnly.disabled = busy || next === 'starting' || next === 'failed';
  ui.retryCpuButton.disabled = busy;
  ui.replayRetryCpuButton.disabled = busy;
  ui.loadButton.disabled = busy || next === 'starting' || next === 'failed' || selectedModel() === null;
  ui.cancelButton.hidden = next !== 'loading';
  ui.fileInput.disabled = busy || next === 'starting' || next === 'failed';
  ui.dropZone.classList.toggle('disabled', ui.fileInput.disabled);
  ui.generateButton.disabled = next !== 'ready';
  updateReplayButton();
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
  clearStopTimer();
  for (const { reject } of pendingRequests.values()) reject(new Error('the engine was restarted'));
  pendingRequests.clear();
  engineReadyPromise = new Promise((resolve) => (engineReadyResolve = resolve));
  const url = new URL('worker.js', import.meta.url);
  if (TEST_HOOKS) url.searchParams.set('test-hooks', '1');
  const current = new Worker(url, { type: 'module', name: 'verbatim-engine' });
  worker = current;
  current.addEventListener('message', ({ data }) => {
    if (worker === current) onWorkerMessage(data);
  });
  current.addEventListener('error', (event) => {
    event.preventDefault();
    if (worker !== current) return;
    if (state === 'starting') {
      // The module itself did not start (a missing build): nothing to restart into.
      current.terminate();
      worker = null;
      showError(`The engine could not be started${event.message ? ` (${event.message})` : ''}. From a source checkout, build it with \`make wasm\`.`, null);
      setState('failed');
      return;
    }
    engineStopped(event.message || 'its worker ended unexpectedly', { gpu: loaded?.executor.kind === 'gpu' });
  });
}

/**
 * The engine stopped (a panic, a trap, a dead or stuck worker): a fresh worker starts at once; the
 * prompt, the output and the saved models stay; Retry loads the model again, on the CPU when the
 * GPU was in use.
 */
function engineStopped(reason, { gpu = false, phase = null } = {}) {
  const during = currentRun;
  const wasLoading = state === 'loading' || phase === 'load';
  currentRun = null;
  pendingReplay = false;
  pendingRerun = null;
  loadingWith = null;
  loaded = null;
  engineRestarts += 1;
  ui.app.dataset.engineRestarts = String(engineRestarts);
  hideProgress();
  hideGpuFailure();
  ui.genProgress.hidden = true;
  ui.replayProgress.hidden = true;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  const text = sentenceOf(/^the engine stopped/i.test(reason) ? reason : `The engine stopped: ${reason}`);
  if (during?.kind === 'replay') ui.replayResult.textContent = 'The replay stopped: the engine stopped.';
  else if (during) {
    ui.stats.textContent = `The run stopped after ${plural(during.tokens ?? 0, 'token')}: the engine stopped.`;
    ui.runExecutor.textContent = '';
  }
  setState('starting');
  startWorker();
  // A file that stops the engine on the CPU would stop it again: no Retry for that.
  const retryable = lastLoad !== null && (gpu || !wasLoading);
  const how = gpu ? ' on the CPU' : '';
  showError(
    `${text} Your prompt and output are kept.${retryable ? ` Retry loads the model again${how} in a fresh engine.` : ' A fresh engine has started.'}`,
    retryable ? () => lastLoad(gpu ? { cpuRetry: text } : undefined) : null,
  );
  ui.error.dataset.code = 'engine-stopped';
  focusLater(retryable ? ui.retryButton : ui.prompt);
}

function clearStopTimer() {
  clearTimeout(stopTimer);
  stopTimer = null;
}

/** Stop and Cancel: asks the engine to stop; ends its worker if it does not answer in time. */
function requestStop() {
  if (!worker || (state !== 'generating' && state !== 'loading')) return;
  worker.postMessage({ type: 'abort' });
  if (stopTimer !== null) return;
  stopTimer = setTimeout(() => {
    stopTimer = null;
    if (state === 'generating' || state === 'loading') {
      engineStopped(`it did not answer ${state === 'loading' ? 'Cancel' : 'Stop'} within ${STOP_GRACE_MS / 1000} s, so it was ended`, {
        gpu: loaded?.executor.kind === 'gpu',
      });
    }
  }, STOP_GRACE_MS);
}

function focusLater(element) {
  requestAnimationFrame(() => {
    if (element && !element.disabled && !element.hidden && element.offsetParent !== null) element.focus();
  });
}

if (TEST_HOOKS) {
  window.verbatimTestHooks = {
    panic: (what = 'test') => worker?.postMessage({ type: 'test-panic', what }),
    hang: (ms = 60_000) => worker?.postMessage({ type: 'test-hang', ms }),
    post: (message) => worker?.postMessage(message),
  };
}

function onWorkerMessage(message) {
  switch (message.status) {
    case 'reply': {
      const request = pendingRequests.get(message.id);
      pendingRequests.delete(message.id);
      if (request && 'error' in message) request.reject(new Error(message.error));
      else request?.resolve(message.result);
      break;
    }
    case 'ready':
      ui.version.textContent = message.version;
      engineVersion = message.version;
      engineSpec = message.spec;
      engineReadyResolve();
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
      if (message.step === 'gpu') {
        ui.progressText.textContent = 'Starting WebGPU: compiling the GPU kernels and running their self-test…';
      } else if (message.fallback) {
        ui.progressText.textContent = `Loading the model on the CPU (${message.fallback})…`;
      } else {
        ui.progressText.textContent = 'Loading the model into the engine…';
      }
      break;
    case 'loaded':
      clearStopTimer();
      onLoaded(message);
      break;
    case 'begun': {
      // Progress toward the run's token limit (or, for a replay, the expected count).
      const bar = currentRun?.kind === 'replay' ? ui.replayProgress : ui.genProgress;
      const expected = currentRun?.link?.view?.expect?.token_ids?.length;
      bar.max = Math.max(1, expected ?? currentRun?.run?.max_tokens ?? 1);
      bar.value = 0;
      bar.hidden = false;
      if (currentRun?.kind === 'replay') break;
      ui.stats.textContent = `Prompt: ${plural(message.prompt_tokens, 'token')}. Computing…`;
      break;
    }
    case 'token':
      if (currentRun) currentRun.tokens = message.n;
      (currentRun?.kind === 'replay' ? ui.replayProgress : ui.genProgress).value = message.n;
      if (currentRun?.kind === 'replay') {
        currentRun.texts.push(message.text);
        ui.replayOutput.append(message.text);
        ui.replayResult.textContent = `Replaying: ${plural(message.n, 'token')}…`;
        break;
      }
      ui.output.append(message.text);
      ui.stats.textContent = `${plural(message.n, 'token')} · ${formatSeconds(message.elapsed_ms)}`;
      break;
    case 'done':
      clearStopTimer();
      ui.genProgress.hidden = true;
      ui.replayProgress.hidden = true;
      onDone(message);
      break;
    case 'error':
      clearStopTimer();
      if (message.fatal) {
        engineStopped(message.message, { gpu: message.gpu, phase: message.phase });
        break;
      }
      ui.genProgress.hidden = true;
      ui.replayProgress.hidden = true;
      onWorkerError(message);
      break;
    default:
      console.warn('Unknown message from the engine', message);
  }
}

function loadManifestModel(model, options) {
  if (!worker) startWorker();
  localStorage.setItem(LAST_MODEL_KEY, model.id);
  lastLoad = (again) => loadManifestModel(model, again);
  beginLoad(`Preparing ${model.name}…`);
  const { id, name, file, size, sha256 } = model;
  const executor = executorFor(options);
  worker.postMessage({ type: 'load-model', model: { id, name, file, size, sha256 }, engine: ui.engineSelect.value, executor });
}

function loadFile(file, options) {
  if (!file) return;
  if (!worker) startWorker();
  lastLoad = (again) => loadFile(file, again);
  beginLoad(`Opening ${file.name}…`);
  worker.postMessage({ type: 'load-file', file, engine: ui.engineSelect.value, executor: executorFor(options) });
}

/**
 * The executor a load asks the worker for: the CPU when "Use the CPU only" is on or when the load
 * retries a run the GPU failed in ({cpuRetry: the failure}), else 'auto' (WebGPU if it works).
 */
function executorFor({ cpuRetry = null } = {}) {
  loadingWith = { cpuRetry };
  return cpuRetry !== null || ui.cpuOnly.checked ? 'cpu' : 'auto';
}

function beginLoad(text) {
  hideError();
  hideGpuFailure();
  failedRun = null;
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

function onLoaded({ info, executor, sha256, source, label, bytes, cache_error }) {
  hideProgress();
  loaded = { sha256, engine: info.engine, source, label, executor: { ...executor, cpuRetry: loadingWith?.cpuRetry ?? null } };
  loadingWith = null;
  ui.infoName.textContent = info.name || label;
  ui.infoArchitecture.textContent = info.architecture;
  ui.infoShape.textContent = `${formatMB(bytes)} · ${plural(info.n_layer, 'layer')} · vocabulary of ${info.n_vocab.toLocaleString('en')} · context of ${info.context_length.toLocaleString('en')} tokens`;
  ui.infoSha256.textContent = sha256;
  if (source === 'network') {
    ui.infoSource.textContent = 'Downloaded from this site, SHA-256 verified, saved in this browser.';
  } else if (source === 'cache') {
    ui.infoSource.textContent = 'Saved copy in this browser, SHA-256 verified: nothing was downloaded.';
  } else if (source === 'url') {
    ui.infoSource.textContent = `Downloaded from the address in the link, SHA-256 verified (not saved).`;
  } else {
    const known = models.find((m) => m.sha256 === sha256);
    ui.infoSource.textContent = known
      ? `Local file ${label}: identical to ${known.name} in the list.`
      : `Local file ${label} (not one of the listed models).`;
  }
  ui.infoSource.dataset.source = source;
  ui.engine.textContent = engineLabel(info);
  ui.executor.textContent = executorLabel(loaded);
  ui.executor.dataset.executor = loaded.executor.kind;
  ui.infoExecutor.textContent = executorDetail(loaded);
  ui.infoExecutor.dataset.executor = loaded.executor.kind;
  ui.engineLine.hidden = false;
  ui.modelInfo.hidden = false;
  if (cache_error) showNotice(cache_error);

  ui.chatToggle.disabled = !info.has_chat_template;
  if (!info.has_chat_template) ui.chatToggle.checked = false;
  ui.chatToggle.title = info.has_chat_template ? '' : 'This model has no chat template.';
  ui.maxTokens.max = String(info.context_length);
  setState('ready');
  refreshSavedBadges();
  if (link) showLinkModelStatus();
  if (pendingReplay) {
    pendingReplay = false;
    if (link && loadedMatchesLink()) startReplay();
  } else if (pendingRerun) {
    // "Retry on CPU": the same request again, now on the CPU.
    const rerun = pendingRerun;
    pendingRerun = null;
    if (rerun.kind === 'replay') {
      if (link && link.url === rerun.link.url && loadedMatchesLink()) startReplay();
    } else {
      startGenerate(rerun.run);
    }
  }
}

function onDone(message) {
  const finished = currentRun;
  currentRun = null;
  if (finished?.kind === 'replay') {
    onReplayDone(finished, message);
    return;
  }
  onGenerateDone(finished, message);
  if (finished && message.tokens_hash) makeRunLink(finished, message);
}

function onGenerateDone(finished, { reason, token_ids, tokens_hash, prompt_tokens, first_token_ms, elapsed_ms, decode_tokens_per_s }) {
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
  if (finished?.model) ui.runExecutor.textContent = `Ran on the ${executorShort(finished.model)}.`;
  ui.tokenIds.textContent = token_ids.join(' ');
  ui.tokensHash.textContent = tokens_hash ?? 'not given (the run was stopped)';
  runs += 1;
  ui.app.dataset.runs = String(runs);
  setState('ready');
}

function onWorkerError({ phase, code, message, retry, cpu_retry, gpu_error }) {
  hideProgress();
  pendingReplay = false;
  pendingRerun = null;
  loadingWith = null;
  if (phase === 'generate' && cpu_retry) {
    onGpuFailure(message, gpu_error);
    return;
  }
  if (phase === 'generate' && currentRun?.kind === 'replay') {
    ui.replayResult.textContent = `The replay failed: ${message}`;
  }
  if (phase === 'generate') currentRun = null;
  if (phase === 'init') {
    worker?.terminate();
    worker = null;
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

/**
 * The GPU failed during a run (a lost device, a GPU error): the worker unloaded the model. Says so
 * where the run was shown, with "Retry on CPU", which loads the model on the CPU and runs the same
 * request again.
 */
function onGpuFailure(message, gpuError) {
  failedRun = currentRun ? { ...currentRun, gpuError: gpuError ?? message } : null;
  currentRun = null;
  loaded = null;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  const box = failedRun?.kind === 'replay' ? ui.replayGpuFailure : ui.gpuFailure;
  const text = failedRun?.kind === 'replay' ? ui.replayGpuFailureMessage : ui.gpuFailureMessage;
  if (failedRun?.kind === 'replay') {
    ui.replayResult.textContent = 'The replay stopped: the GPU failed.';
  } else {
    ui.stats.textContent = 'The run stopped: the GPU failed.';
    if (failedRun) ui.runExecutor.textContent = `Ran on the ${executorShort(failedRun.model)} until it failed.`;
  }
  text.textContent = message;
  box.hidden = false;
  showNotice('The model was unloaded because the GPU failed during a run.');
  setState('idle');
  refreshSavedBadges();
  if (link) showLinkModelStatus();
}

function hideGpuFailure() {
  ui.gpuFailure.hidden = true;
  ui.replayGpuFailure.hidden = true;
}

function retryOnCpu() {
  if (!failedRun || !lastLoad || state === 'loading' || state === 'generating') return;
  const rerun = failedRun;
  lastLoad({ cpuRetry: rerun.gpuError }); // clears failedRun and the failure boxes
  pendingRerun = rerun;
  if (rerun.kind === 'replay') ui.replayResult.textContent = 'Loading the model on the CPU to replay again…';
  else ui.stats.textContent = 'Loading the model on the CPU to run again…';
}

ui.retryCpuButton.addEventListener('click', retryOnCpu);
ui.replayRetryCpuButton.addEventListener('click', retryOnCpu);

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

// "Use the CPU only": remembered in this browser; the loaded model moves to the other executor.
ui.cpuOnly.checked = localStorage.getItem(EXECUTOR_KEY) === 'cpu';
ui.cpuOnly.addEventListener('change', () => {
  if (ui.cpuOnly.checked) localStorage.setItem(EXECUTOR_KEY, 'cpu');
  else localStorage.removeItem(EXECUTOR_KEY);
  const onExact = state === 'ready' && loaded?.engine === 'exact';
  if ((onExact || (state === 'idle' && failedRun !== null)) && lastLoad) lastLoad();
});

ui.cancelButton.addEventListener('click', requestStop);

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
  startGenerate(runFromForm());
});

/** Runs `run` (begin() options) and streams it into the output. */
function startGenerate(run) {
  hideError();
  hideGpuFailure();
  ui.output.textContent = '';
  ui.tokenIds.textContent = '';
  ui.tokensHash.textContent = '';
  ui.stats.textContent = '';
  ui.share.hidden = true;
  ui.shareNote.hidden = true;
  ui.cite.hidden = true;
  ui.runExecutor.textContent = `Running on the ${executorShort(loaded)}…`;
  ui.runExecutor.dataset.executor = loaded.executor.kind;
  currentRun = { kind: 'generate', run, model: loaded };
  setState('generating');
  worker.postMessage({ type: 'generate', run });
}

/** The engine's begin() options from the form; decimals stay strings (the engine parses them exactly). */
function runFromForm() {
  const decimal = (input) => input.value.trim();
  const integer = (input) => Number(input.value);
  return {
    prompt: ui.prompt.value,
    chat: ui.chatToggle.checked,
    max_tokens: integer(ui.maxTokens),
    temperature: decimal(ui.temperature),
    top_k: integer(ui.topK),
    top_p: decimal(ui.topP),
    min_p: decimal(ui.minP),
    repeat_penalty: decimal(ui.repeatPenalty),
    repeat_last_n: integer(ui.repeatLastN),
    seed: ui.seed.value.trim(),
    stop: ui.stopStrings.value.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== ''),
  };
}

/** A random u64 as a decimal string. */
function randomSeed() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return ((BigInt(words[0]) << 32n) | BigInt(words[1])).toString();
}

ui.newSeedButton.addEventListener('click', () => {
  ui.seed.value = randomSeed();
});

ui.prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (state === 'ready') ui.form.requestSubmit();
  }
});

ui.stopButton.addEventListener('click', requestStop);

// ---------------------------------------------------------------------------------------------
// Links

/** Asks the worker's wasm module (link_encode / link_decode). */
async function engineRequest(type, fields) {
  await engineReadyPromise;
  if (!worker) throw new Error('the engine is not running');
  const id = ++requestId;
  return new Promise((resolve, reject) => {
    pendingRequests.set(id, { resolve, reject });
    worker.postMessage({ type, id, ...fields });
  });
}

/** After a finished run on the exact engine: the link, in the address bar and ready to copy. */
async function makeRunLink(finished, { token_ids, tokens_hash, reason }) {
  if (reason === 'aborted' || !tokens_hash) return;
  const model = finished.model;
  if (!model || model.engine !== 'exact') {
    ui.shareNote.textContent = 'Links are made for runs on the exact engine, which gives the same tokens on every machine.';
    ui.shareNote.hidden = false;
    return;
  }
  const known = models.find((m) => m.sha256 === model.sha256);
  const view = {
    spec: engineSpec,
    model: { id: known ? known.id : model.label, sha256: model.sha256 },
    run: finished.run,
    expect: { token_ids, tokens_hash },
  };
  let payload;
  try {
    payload = await engineRequest('link-encode', { view });
  } catch (error) {
    ui.shareNote.textContent = `No link could be made for this run: ${error.message}`;
    ui.shareNote.hidden = false;
    return;
  }
  history.replaceState(null, '', `#${payload}`);
  const url = location.href;
  ui.linkText.value = url;
  ui.copyStatus.textContent = '';
  ui.share.hidden = false;
  renderCite(ui.cite, {
    url,
    modelId: view.model.id,
    modelName: known?.name ?? model.label,
    sha256: model.sha256,
    spec: engineSpec,
    tokens: token_ids.length,
    tokensHash: tokens_hash,
  });
  ui.app.dataset.linkMade = String(Number(ui.app.dataset.linkMade ?? 0) + 1);
}

ui.copyLinkButton.addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(ui.linkText.value);
    ui.copyStatus.textContent = 'Copied.';
  } catch {
    ui.linkText.focus();
    ui.linkText.select();
    ui.copyStatus.textContent = 'The browser did not allow copying: the link is selected, copy it with Ctrl+C.';
  }
});

ui.linkText.addEventListener('focus', () => ui.linkText.select());

/** A "Cite this run" block: plain text and a BibTeX @misc entry, all set as text. */
function renderCite(container, { url, modelId, modelName, sha256, spec, tokens, tokensHash }) {
  const date = new Date().toISOString().slice(0, 10);
  const plainText =
    `${modelName} (${modelId}, GGUF SHA-256 ${sha256}), ${plural(tokens, 'token')} generated with ` +
    `Verbatim ${engineVersion}, numeric spec ${spec}; token ids SHA-256 ${tokensHash}. ` +
    `Replay: ${url} (accessed ${date}).`;
  const clean = (text) => String(text).replace(/[{}\\]/g, '');
  const bibtex = [
    `@misc{verbatim-${tokensHash.slice(0, 16)},`,
    `  title        = {Verbatim run of ${clean(modelId)}},`,
    `  howpublished = {\\url{${clean(url)}}},`,
    `  note         = {Model ${clean(modelId)}, GGUF SHA-256 ${sha256}; numeric spec ${clean(spec)}; ` +
      `${tokens} tokens, token ids SHA-256 ${tokensHash}; Verbatim ${clean(engineVersion)}},`,
    `  year         = {${date.slice(0, 4)}},`,
    `  urldate      = {${date}}`,
    '}',
  ].join('\n');
  const heading = document.createElement('h3');
  heading.textContent = 'Cite this run';
  const plain = document.createElement('pre');
  plain.dataset.testid = 'cite-text';
  plain.textContent = plainText;
  const bib = document.createElement('pre');
  bib.dataset.testid = 'cite-bibtex';
  bib.textContent = bibtex;
  container.replaceChildren(heading, plain, bib);
  container.hidden = false;
}

/** Reads the address's #v… fragment, if any, and shows what it would run. */
async function handleLocationHash() {
  const fragment = location.hash.slice(1);
  if (!/^v\d/.test(fragment)) return;
  ui.linkPanel.hidden = false;
  ui.linkError.hidden = true;
  ui.app.dataset.link = 'decoding';
  let view;
  try {
    view = await engineRequest('link-decode', { text: fragment });
  } catch (error) {
    showLinkError(`This link cannot be opened: ${error.message}`);
    return;
  }
  if (location.hash.slice(1) !== fragment) return; // another link arrived meanwhile
  if (view.spec !== engineSpec) {
    showLinkError(
      `This link was made with numeric spec ${view.spec}; this page implements ${engineSpec}, so it cannot replay ` +
        'the run exactly. Open the link with a Verbatim version that implements that spec.',
    );
    return;
  }
  link = { view, url: location.href };
  showLink(view);
  linkDone('ready');
}

function showLinkError(message) {
  link = null;
  ui.linkDetails.hidden = true;
  ui.linkErrorMessage.textContent = message;
  ui.linkError.hidden = false;
  linkDone('error');
}

function linkDone(result) {
  linksHandled += 1;
  ui.app.dataset.link = result;
  ui.app.dataset.linksHandled = String(linksHandled);
  updateReplayButton();
}

function showLink(view) {
  const { model, run, expect } = view;
  const entry = models.find((m) => m.sha256 === model.sha256);
  ui.linkModel.textContent = entry ? `${entry.name} (${entry.id}) · ${formatMB(entry.size)}` : `${model.id} (not in the list of models)`;
  ui.linkSha256.textContent = model.sha256;
  const licence = entry ? licenceElement(entry) : document.createTextNode('unknown (not in the list of models)');
  if (entry) {
    licence.dataset.testid = 'link-license-text';
    licence.textContent = entry.license || 'not stated';
  }
  ui.linkLicense.replaceChildren(licence);
  if (run.chat && Array.isArray(run.messages) && run.messages.length > 0) {
    ui.linkInput.textContent = run.messages.map((m) => `${m.role}: ${m.content}`).join('\n\n');
  } else {
    ui.linkInput.textContent = run.prompt;
  }
  const template = run.chat ? 'chat template on' : 'raw prompt (no chat template)';
  ui.linkSettings.textContent =
    `${template} · max ${plural(run.max_tokens, 'token')} · temperature ${run.temperature}` +
    `${run.temperature === '0' ? ' (greedy)' : ''} · top-k ${run.top_k} · top-p ${run.top_p} · min-p ${run.min_p} · ` +
    `repetition penalty ${run.repeat_penalty} over ${run.repeat_last_n} · seed ${run.seed}`;
  const stops = run.stop ?? [];
  ui.linkStops.textContent = stops.length === 0 ? '(none)' : stops.join('\n');
  ui.linkSpec.textContent = view.spec;
  ui.linkExpected.textContent = expect
    ? `${plural(expect.token_ids.length, 'token')}, token ids SHA-256 ${expect.tokens_hash.slice(0, 16)}…`
    : 'no recorded output: a replay just runs it';
  ui.replayResult.textContent = '';
  ui.replayExecutor.textContent = '';
  ui.replayOutput.textContent = '';
  ui.replayDetail.textContent = '';
  ui.replayCite.hidden = true;
  ui.linkDetails.hidden = false;
  showLinkModelStatus();
}

function linkManifestEntry() {
  return link ? models.find((m) => m.sha256 === link.view.model.sha256) ?? null : null;
}

function loadedMatchesLink() {
  return link !== null && loaded !== null && loaded.sha256 === link.view.model.sha256 && state !== 'loading';
}

/** Whether the link's model can be had: loaded, in the list, or only by a file or an address. */
function showLinkModelStatus() {
  if (!link) return;
  const { model } = link.view;
  const missing = !linkManifestEntry() && !(loaded && loaded.sha256 === model.sha256);
  ui.linkModelMissing.hidden = !missing;
  if (missing) {
    ui.linkModelMissingMessage.textContent =
      `This link needs model ${model.id} with SHA-256 ${model.sha256}, which is not in the list; ` +
      "open the file with “Choose a file…” under “Or open a GGUF file” in the Model section.";
    // Only https: (or this site) is fetched; the address is shown normalised, invisible characters escaped.
    const allowed = model.url ? checkModelUrl(model.url, location.origin) : { ok: false, why: '' };
    const shown = displayUrl(model.url ?? '');
    ui.linkModelUrlBox.hidden = !model.url;
    ui.linkModelUrl.textContent = shown.text;
    ui.linkModelHost.textContent = allowed.ok ? shown.host : 'that address';
    ui.linkFetchButton.disabled = !allowed.ok;
    ui.linkFetchButton.hidden = !allowed.ok;
    ui.linkModelUrlRefused.textContent = allowed.ok ? '' : `It is not fetched: ${allowed.why}.`;
    ui.linkModelUrlRefused.hidden = allowed.ok;
  }
  updateReplayButton();
}

function updateReplayButton() {
  const busy = state === 'loading' || state === 'generating' || state === 'starting' || state === 'failed';
  const available = link !== null && (linkManifestEntry() !== null || (loaded !== null && loaded.sha256 === link.view.model.sha256));
  ui.replayButton.disabled = busy || !available;
  const ready = link !== null && loaded !== null && loaded.sha256 === link.view.model.sha256 && loaded.engine === 'exact';
  ui.replayButton.textContent = ready || !available ? 'Replay' : 'Load the model and replay';
}

ui.replayButton.addEventListener('click', () => {
  if (!link || ui.replayButton.disabled) return;
  hideError();
  if (loadedMatchesLink() && loaded.engine === 'exact') {
    startReplay();
    return;
  }
  ui.engineSelect.value = 'exact';
  pendingReplay = true;
  const entry = linkManifestEntry();
  if (loaded && loaded.sha256 === link.view.model.sha256 && lastLoad) {
    lastLoad(); // the same file again, on the exact engine
  } else if (entry) {
    const radio = ui.modelList.querySelector(`input[value="${CSS.escape(entry.id)}"]`);
    if (radio) radio.checked = true;
    updateLoadLabel();
    ui.replayResult.textContent = `Loading ${entry.name}…`;
    loadManifestModel(entry);
  } else {
    pendingReplay = false;
  }
});

ui.linkFetchButton.addEventListener('click', () => {
  if (!link?.view.model.url || state === 'loading' || state === 'generating') return;
  const { id, sha256 } = link.view.model;
  const allowed = checkModelUrl(link.view.model.url, location.origin);
  if (!allowed.ok) return;
  const url = allowed.url.href;
  if (!worker) startWorker();
  ui.engineSelect.value = 'exact';
  pendingReplay = true;
  lastLoad = (options) => {
    beginLoad(`Downloading ${id} from ${url}…`);
    worker.postMessage({ type: 'load-url', url, sha256, name: id, engine: 'exact', executor: executorFor(options) });
  };
  lastLoad();
});

function startReplay() {
  if (!link || state !== 'ready') return;
  const { run } = link.view;
  ui.replayOutput.textContent = '';
  ui.replayDetail.textContent = '';
  ui.replayCite.hidden = true;
  ui.replayResult.textContent = 'Replaying…';
  hideGpuFailure();
  ui.replayExecutor.textContent = `Executor: ${executorLabel(loaded)}`;
  ui.replayExecutor.dataset.executor = loaded.executor.kind;
  currentRun = { kind: 'replay', run, model: loaded, link, texts: [] };
  setState('generating');
  worker.postMessage({ type: 'generate', run, expect: link.view.expect?.token_ids });
}

function onReplayDone(finished, { reason, token_ids, tokens_hash, divergence }) {
  runs += 1;
  ui.app.dataset.runs = String(runs);
  setState('ready');
  const expect = finished.link.view.expect;
  const got = token_ids;
  const where = finished.model.executor.kind === 'gpu' ? 'GPU' : 'CPU';
  let result;
  if (reason === 'aborted') {
    result = `The replay was stopped after ${plural(got.length, 'token')}.`;
  } else if (!expect) {
    result = `Ran ${plural(got.length, 'token')} (sha256 ${String(tokens_hash).slice(0, 16)}); the link records no output to compare with.`;
  } else {
    const want = expect.token_ids;
    let k = 0;
    while (k < want.length && k < got.length && want[k] === got[k]) k += 1;
    if (k === want.length && k === got.length && tokens_hash === expect.tokens_hash) {
      result = `Reproduced exactly: ${got.length}/${want.length} tokens (sha256 ${tokens_hash.slice(0, 16)}) on the ${where}`;
    } else {
      const expectedText = divergence?.index === k ? ` (${JSON.stringify(divergence.expected_text)})` : '';
      const expected = k < want.length ? `token id ${want[k]}${expectedText}` : 'the end of the output';
      const produced = k < got.length ? `token id ${got[k]} (${JSON.stringify(finished.texts[k] ?? '')})` : 'the end of the output';
      result = `Diverged at token ${k + 1}: expected ${expected}, got ${produced}`;
      const same = finished.texts.slice(0, k).join('');
      ui.replayDetail.textContent = `Same text up to the divergence (${plural(k, 'token')}): ${JSON.stringify(same)}`;
    }
  }
  ui.replayResult.textContent = result;
  ui.app.dataset.replays = String(Number(ui.app.dataset.replays ?? 0) + 1);
  const entry = models.find((m) => m.sha256 === finished.link.view.model.sha256);
  if (tokens_hash) {
    renderCite(ui.replayCite, {
      url: finished.link.url,
      modelId: finished.link.view.model.id,
      modelName: entry?.name ?? finished.link.view.model.id,
      sha256: finished.link.view.model.sha256,
      spec: finished.link.view.spec,
      tokens: got.length,
      tokensHash: tokens_hash,
    });
  }
}

window.addEventListener('hashchange', () => handleLocationHash());

// ---------------------------------------------------------------------------------------------
// Formatting

/** Which engine computes the tokens, in words. */
function engineLabel({ engine, spec }) {
  if (engine === 'exact') return `exact integer engine (${spec})`;
  if (engine === 'float') return 'float reference (candle)';
  return engine;
}

/** Which executor runs the loaded model, and why, in a line. */
function executorLabel({ engine, executor }) {
  if (executor.kind === 'gpu') {
    const selftest = executor.selftest_ms === null ? '' : `, self-test passed in ${formatSeconds(executor.selftest_ms)}`;
    return `GPU (WebGPU adapter ${executor.adapter ?? 'with no name'}${selftest})`;
  }
  if (engine !== 'exact') return 'CPU (wasm; the float reference runs on the CPU only)';
  if (executor.cpuRetry !== null) return 'CPU (wasm; loaded on the CPU after the GPU failed)';
  if (executor.requested === 'cpu') return 'CPU (wasm; “Use the CPU only” is on)';
  if (executor.fallback) return `CPU (${executor.fallback})`;
  return 'CPU (wasm)';
}

/** The executor of a run, in a few words. */
function executorShort({ executor }) {
  if (executor.kind === 'gpu') return `GPU (WebGPU adapter ${executor.adapter ?? 'with no name'})`;
  return 'CPU (wasm)';
}

/** The executor in full, for the model's details. */
function executorDetail({ engine, executor }) {
  if (executor.kind === 'gpu') {
    const times = [
      executor.compile_ms === null ? null : `kernels compiled in ${formatDuration(executor.compile_ms)}`,
      executor.selftest_ms === null ? null : `self-test passed in ${formatSeconds(executor.selftest_ms)}`,
    ].filter(Boolean);
    return `GPU via WebGPU: ${executor.adapter ?? 'adapter with no name'}${executor.summary ? ` ${executor.summary}` : ''}${times.length ? `; ${times.join(', ')}` : ''}.`;
  }
  if (engine !== 'exact') return 'CPU (wasm). The float reference runs on the CPU only.';
  if (executor.cpuRetry !== null) return `CPU (wasm), loaded again after the GPU failed during a run (${executor.cpuRetry.replace(/\.$/, '')}).`;
  if (executor.requested === 'cpu') return 'CPU (wasm), because “Use the CPU only” is on. The tokens are the same on the GPU.';
  if (executor.fallback) {
    return `CPU (wasm): ${sentenceOf(executor.fallback_detail ?? executor.fallback)} The tokens are the same as on a GPU.`;
  }
  return 'CPU (wasm).';
}

function sentenceOf(text) {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function formatDuration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatSeconds(ms);
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
ui.seed.value = randomSeed();
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
handleLocationHash();
