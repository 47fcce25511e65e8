// The page: keeps the state and wires the controls; drives the engine worker (worker.js) and shows
// what it reports. All text that comes from a file, the manifest, a link or the model is set with
// textContent. The rest lives in modules: ui.js (the elements), engine.js (the worker wrapper),
// format.js (words and numbers), links.js (pasted links, model addresses, verdicts), link-view.js
// (a link's summary), manifest.js (the list of models), settings.js (the Generate form),
// history.js + history-view.js (this browser's runs), share.js (links, citations, copying),
// model-cache.js (verified model files).

import { Engine } from './engine.js';
import { engineLabel, executorDetail, executorLabel, executorShort, formatMB, formatSeconds, plural, sentenceOf } from './format.js';
import { historyItem } from './history-view.js';
import { addRun, deleteRun, listRuns } from './history.js';
import { showLinkSummary } from './link-view.js';
import { checkModelUrl, displayUrl, isLocalAddress, replayVerdict, tidyLink } from './links.js';
import { engineRuns, modelRow, readManifest } from './manifest.js';
import { hasModel } from './model-cache.js';
import { fillForm, randomSeed, restoreForm, runFromForm, saveForm, settingsSummary, showConversation, validateForm } from './settings.js';
import { clearAddressLink, copyText, renderCite, tokensHash } from './share.js';
import { ui } from './ui.js';

const LAST_MODEL_KEY = 'verbatim.model';
// 'cpu' while "Use the CPU only" is on; absent: WebGPU when it works, else the CPU.
const EXECUTOR_KEY = 'verbatim.executor';
// Stop and Cancel wait this long for the engine to answer, then end its worker.
const STOP_GRACE_MS = 3000;
// ?test-hooks=1: the browser tests may make the engine panic or hang (window.verbatimTestHooks).
const TEST_HOOKS = new URLSearchParams(location.search).get('test-hooks') === '1';
// Downloads larger than this ask first on a metered or slow connection.
const ASK_ABOVE_BYTES = 100e6;


// 'starting' | 'idle' (no model) | 'loading' | 'ready' | 'generating' | 'failed' (no engine)
let state = 'starting';
let models = []; // validated manifest entries
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
let stopTimer = null; // set after Stop or Cancel until the engine answers
let conversation = []; // earlier turns of a multi-turn chat: [{role, content}]
let pendingGenerate = null; // a run to start once the model now loading is ready
let lastGenerated = null; // {run, text} of the last finished generation, for "Reply"
let engineRestarts = 0;
const savedIds = new Set(); // models with a verified copy in this browser

/** Generate works without a loaded model too: it loads the selected one first, and says so. */
function updateGenerateButton() {
  const model = selectedModel();
  const canLoad = state === 'idle' && model !== null && engineRuns(ui.engineSelect.value, model);
  ui.generateButton.disabled = !(state === 'ready' || canLoad);
  let why = '';
  if (state === 'idle' && canLoad) {
    why = savedIds.has(model.id)
      ? `Generate first loads ${model.name}, saved in this browser.`
      : `Generate first downloads ${model.name} (${formatMB(model.size)}) once; it is then saved in this browser.`;
  } else if (state === 'idle') why = 'Choose a model under “Model” (or open a GGUF file) to generate.';
  else if (state === 'loading') why = 'The model is loading…';
  else if (state === 'starting') why = 'The engine is starting…';
  else if (state === 'failed') why = 'The engine could not start: see the message under “Model”.';
  ui.generateWhy.textContent = why;
  ui.generateWhy.hidden = why === '';
}

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
  updateGenerateButton();
  updateReplayButton();
  const replaying = next === 'generating' && currentRun?.kind === 'replay';
  ui.stopButton.hidden = next !== 'generating' || replaying;
  ui.replayStopButton.hidden = !replaying;
  ui.escHint.hidden = next !== 'generating' || replaying;
  ui.app.setAttribute('aria-busy', String(busy));
}

function renderModels() {
  ui.modelListStatus.hidden = true;
  const preferred = localStorage.getItem(LAST_MODEL_KEY);
  const initial = models.find((m) => m.id === preferred) ?? models.find((m) => m.default) ?? models[0];
  for (const model of models) {
    const row = modelRow(model, model === initial, () => {
      updateLoadLabel();
      setState(state);
    });
    ui.modelList.append(row);
  }
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

/** Marks the models the selected engine cannot run; they cannot be chosen for it. */
function markSupported() {
  const kind = ui.engineSelect.value;
  for (const model of models) {
    const row = document.querySelector(`[data-testid="model-${CSS.escape(model.id)}"]`);
    if (!row) continue;
    const supported = engineRuns(kind, model);
    const radio = row.querySelector('input[type="radio"]');
    const badge = row.querySelector('[data-testid="model-unsupported"]');
    badge.textContent = supported ? '' : `the ${kind} engine does not run ${model.architecture} yet: choose the float reference to use it`;
    badge.hidden = supported;
    radio.disabled = !supported;
    row.classList.toggle('unsupported', !supported);
    if (!supported && radio.checked) {
      radio.checked = false;
      const fallback = models.find((m) => m.default && engineRuns(kind, m)) ?? models.find((m) => engineRuns(kind, m));
      const other = fallback && document.querySelector(`[data-testid="model-option-${CSS.escape(fallback.id)}"]`);
      if (other) other.checked = true;
    }
  }
  updateLoadLabel();
}

function updateLoadLabel() {
  ui.loadButton.textContent = savedIds.has(selectedModel()?.id) ? 'Load' : 'Download and load';
  updateGenerateButton();
}

function selectedModel() {
  const radio = ui.modelList.querySelector('input[name="model"]:checked');
  return models.find((m) => m.id === radio?.value) ?? null;
}

// ---------------------------------------------------------------------------------------------
// Engine worker

const engine = new Engine({
  testHooks: TEST_HOOKS,
  onMessage: (message) => onWorkerMessage(message),
  onError: (event) => {
    if (state === 'starting') {
      // The module itself did not start (a missing build): nothing to restart into.
      engine.terminate();
      showError(`The engine could not be started${event.message ? ` (${event.message})` : ''}. From a source checkout, build it with \`make wasm\`.`, null);
      setState('failed');
      return;
    }
    engineStopped(event.message || 'its worker ended unexpectedly', { gpu: loaded?.executor.kind === 'gpu' });
  },
});

/** Starts a fresh engine worker (after a failure, or at the start). */
function startWorker() {
  clearStopTimer();
  engine.start();
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
  if (!engine.running || (state !== 'generating' && state !== 'loading')) return;
  engine.post({ type: 'abort' });
  if (stopTimer !== null) return;
  stopTimer = setTimeout(() => {
    stopTimer = null;
    if (state === 'loading') {
      // Cancel asked for exactly this: a fresh engine, nothing loaded.
      startWorker();
      pendingReplay = false;
      pendingGenerate = null;
      loadingWith = null;
      loaded = null;
      hideProgress();
      setState('starting');
      showNotice('Loading was cancelled; nothing was saved.');
    } else if (state === 'generating') {
      engineStopped(`it did not answer Stop within ${STOP_GRACE_MS / 1000} s, so it was ended`, { gpu: loaded?.executor.kind === 'gpu' });
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
    panic: (what = 'test') => engine.post({ type: 'test-panic', what }),
    hang: (ms = 60_000) => engine.post({ type: 'test-hang', ms }),
    post: (message) => engine.post(message),
  };
}

function onWorkerMessage(message) {
  switch (message.status) {
    case 'ready':
      ui.version.textContent = message.version;
      engineVersion = message.version;
      engineSpec = message.spec;
      engine.markReady();
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

/** Whether this connection asks to save data or is slow (Network Information API, where there is one). */
function meteredConnection() {
  const connection = navigator.connection;
  return Boolean(connection && (connection.saveData || /^(slow-2g|2g|3g)$/.test(connection.effectiveType ?? '')));
}

/** Loads a listed model; a download over 100 MB on a metered or slow connection asks first. */
function loadManifestModel(model, options) {
  if (!engineRuns(ui.engineSelect.value, model)) return;
  if (!savedIds.has(model.id) && model.size > ASK_ABOVE_BYTES && meteredConnection() && !options?.consented) {
    ui.consentMessage.textContent =
      `${model.name} is a download of ${formatMB(model.size)}, and this browser says the connection is metered or slow. Download it now?`;
    ui.consent.hidden = false;
    ui.consentYes.onclick = () => {
      ui.consent.hidden = true;
      loadManifestModel(model, { ...options, consented: true });
    };
    ui.consentNo.onclick = () => {
      ui.consent.hidden = true;
      pendingGenerate = null;
      pendingReplay = false;
      ui.loadButton.focus();
    };
    focusLater(ui.consentYes);
    return;
  }
  ui.consent.hidden = true;
  localStorage.setItem(LAST_MODEL_KEY, model.id);
  lastLoad = (again) => loadManifestModel(model, again);
  beginLoad(`Preparing ${model.name}…`);
  const { id, name, file, size, sha256 } = model;
  const executor = executorFor(options);
  engine.post({ type: 'load-model', model: { id, name, file, size, sha256 }, engine: ui.engineSelect.value, executor });
}

function loadFile(file, options) {
  if (!file) return;
  lastLoad = (again) => loadFile(file, again);
  beginLoad(`Opening ${file.name}…`);
  engine.post({ type: 'load-file', file, engine: ui.engineSelect.value, executor: executorFor(options) });
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
  const listed = models.find((m) => m.sha256 === sha256);
  ui.infoName.textContent = listed ? listed.name : info.name || label;
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
  ui.infoExecutorShort.textContent = executorLabel(loaded);
  ui.infoExecutor.dataset.executor = loaded.executor.kind;
  ui.engineLine.hidden = false;
  ui.modelInfo.hidden = false;
  if (cache_error) showNotice(cache_error);
  announce(`${ui.infoName.textContent} is loaded, on the ${executorShort(loaded)}.`);

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
  } else if (pendingGenerate) {
    const run = pendingGenerate;
    pendingGenerate = null;
    startGenerate(run);
  } else if (pendingRerun) {
    // "Retry on CPU": the same request again, now on the CPU.
    const rerun = pendingRerun;
    pendingRerun = null;
    if (rerun.kind === 'replay') {
      if (link && link.url === rerun.link.url && loadedMatchesLink()) startReplay();
    } else {
      startGenerate(rerun.run);
    }
  } else {
    focusLater(ui.prompt);
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
  if (finished) makeRunLink(finished, message);
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
  lastGenerated = finished ? { run: finished.run, text: ui.output.textContent } : null;
  ui.runAfter.hidden = false;
  ui.copyOutputStatus.textContent = '';
  ui.replyButton.hidden = !(finished?.run.chat && token_ids.length > 0);
  announce(`Run finished: ${plural(token_ids.length, 'token')}; ${why}.`);
  runs += 1;
  ui.app.dataset.runs = String(runs);
  setState('ready');
  focusLater(reason === 'aborted' ? ui.generateButton : ui.copyOutputButton);
}

/** One announcement for assistive technology (the status region), once per finished run. */
function announce(text) {
  ui.announce.textContent = text;
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
  if (phase === 'generate') {
    ui.runExecutor.textContent = '';
    if (code === 'bad-request' && currentRun?.kind === 'generate') {
      // The engine refused the request: said at the form, where it can be fixed.
      currentRun = null;
      ui.stats.textContent = '';
      showFormError(`Nothing ran: ${sentenceOf(message)}`);
      setState('ready');
      return;
    }
    currentRun = null;
  }
  pendingGenerate = null;
  if (phase === 'init') {
    engine.terminate();
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
  delete ui.error.dataset.code;
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
  markSupported();
  updateGenerateButton();
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
  if (state !== 'ready' && !(state === 'idle' && !ui.generateButton.disabled)) return;
  const failures = validateForm(ui);
  if (failures.length > 0) {
    ui.settings.open = true;
    showFormError(`Nothing ran: ${failures.map((f) => `${f.label}: ${f.message}`).join('; ')}.`);
    failures[0].input.focus();
    return;
  }
  if (ui.prompt.value.trim() === '' && conversation.length === 0) {
    showFormError('Nothing ran: write a prompt first.');
    ui.prompt.focus();
    return;
  }
  hideFormError();
  const run = runFromForm(ui, conversation);
  if (state === 'idle') {
    // No model yet: load the selected one, then run.
    pendingGenerate = run;
    loadManifestModel(selectedModel());
    return;
  }
  startGenerate(run);
});

function showFormError(message) {
  ui.formErrorMessage.textContent = message;
  ui.formError.hidden = false;
}

function hideFormError() {
  ui.formError.hidden = true;
}

/** Runs `run` (begin() options) and streams it into the output. */
function startGenerate(run) {
  hideError();
  hideGpuFailure();
  hideFormError();
  clearAddressLink();
  ui.runAfter.hidden = true;
  ui.shareLocalWarning.hidden = true;
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
  engine.post({ type: 'generate', run });
}

ui.newSeedButton.addEventListener('click', () => {
  ui.seed.value = randomSeed();
  formChanged();
});

// Ctrl/Cmd+Enter anywhere in the form generates.
ui.form.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!ui.generateButton.disabled) ui.form.requestSubmit();
  }
});

// Esc stops a run, wherever the focus is.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && state === 'generating') {
    event.preventDefault();
    requestStop();
  }
});

/** The form changed: keep it, update the settings' summary and what is not used at temperature 0. */
function formChanged() {
  saveForm(ui, conversation);
  const { text, greedy } = settingsSummary(ui);
  ui.settingsSummary.textContent = text;
  ui.greedyNote.hidden = !greedy;
  for (const field of ui.form.querySelectorAll('.sampled')) field.classList.toggle('unused', greedy);
  ui.newSeedButton.disabled = greedy;
}

ui.form.addEventListener('input', formChanged);
ui.form.addEventListener('change', formChanged);

/** Shows the conversation so far above the prompt (multi-turn chat). */
function renderConversation() {
  showConversation(ui, conversation);
}

// "Reply to this answer": the last prompt and answer become turns of the conversation.
ui.replyButton.addEventListener('click', () => {
  if (!lastGenerated) return;
  const { run, text } = lastGenerated;
  conversation = [...(run.messages ?? [{ role: 'user', content: run.prompt }]), { role: 'assistant', content: text }];
  lastGenerated = null;
  ui.replyButton.hidden = true;
  ui.chatToggle.checked = true;
  ui.prompt.value = '';
  renderConversation();
  formChanged();
  ui.prompt.focus();
});

ui.newConversationButton.addEventListener('click', () => {
  conversation = [];
  renderConversation();
  formChanged();
  ui.prompt.focus();
});

ui.copyOutputButton.addEventListener('click', () => copyText(ui.output.textContent, ui.copyOutputStatus));

ui.stopButton.addEventListener('click', requestStop);
ui.replayStopButton.addEventListener('click', requestStop);

// ---------------------------------------------------------------------------------------------
// Links

/** After a finished run on the exact engine: the link, in the address bar and ready to copy. */
async function makeRunLink(finished, done) {
  const { token_ids, reason } = done;
  let { tokens_hash } = done;
  const stopped = reason === 'aborted';
  if (stopped && token_ids.length === 0) {
    ui.shareNote.textContent = 'No link: the run was stopped before its first token.';
    ui.shareNote.hidden = false;
    return;
  }
  const model = finished.model;
  if (!model || model.engine !== 'exact') {
    ui.shareNote.textContent = 'Links are made for runs on the exact engine, which gives the same tokens on every machine.';
    ui.shareNote.hidden = false;
    return;
  }
  const known = models.find((m) => m.sha256 === model.sha256);
  // A stopped run: the link asks for exactly the tokens it produced, and records them.
  if (stopped) tokens_hash = await tokensHash(token_ids);
  const run = stopped ? { ...finished.run, max_tokens: token_ids.length } : finished.run;
  const view = {
    spec: engineSpec,
    model: { id: known ? known.id : model.label, sha256: model.sha256 },
    run,
    expect: { token_ids, tokens_hash },
  };
  let payload;
  try {
    payload = await engine.request('link-encode', { view });
  } catch (error) {
    ui.shareNote.textContent = `No link could be made for this run: ${error.message}`;
    ui.shareNote.hidden = false;
    return;
  }
  if (currentRun !== null) return; // another run started meanwhile
  history.replaceState(null, '', `#${payload}`);
  const url = location.href;
  ui.linkText.value = url;
  ui.copyStatus.textContent = '';
  ui.shareLabel.textContent = stopped
    ? `Link to this run as far as it went (stopped after ${plural(token_ids.length, 'token')}; the link asks for that many). It contains your prompt: anyone with it can read the prompt and replay the run, getting the same tokens.`
    : 'Link to this run. It contains your prompt: anyone with it can read the prompt and replay the run, getting the same tokens.';
  ui.shareLocalWarning.hidden = !isLocalAddress(url);
  ui.share.hidden = false;
  recordRun({
    kind: stopped ? 'stopped' : 'generated',
    run,
    model: known?.name ?? model.label,
    verdict: stopped ? `stopped after ${plural(token_ids.length, 'token')}` : plural(token_ids.length, 'token'),
    url,
  });
  renderCite(ui.cite, {
    version: engineVersion,
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

/** Reads the address's #v… fragment, if any, and shows what it would run. */
async function handleLocationHash() {
  const raw = location.hash.slice(1);
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // left as it is
  }
  if (!/^\W*v\d/.test(decoded)) return;
  const fragment = raw;
  ui.linkPanel.hidden = false;
  ui.linkError.hidden = true;
  ui.app.dataset.link = 'decoding';
  const tidy = tidyLink(raw);
  if (tidy.error) {
    showLinkError(`This link cannot be opened: ${tidy.error}`);
    return;
  }
  if (tidy.payload !== raw) history.replaceState(null, '', `#${tidy.payload}`); // the tidy form, for copying
  let view;
  try {
    view = await engine.request('link-decode', { text: tidy.payload });
  } catch (error) {
    showLinkError(`This link cannot be opened: ${sentenceOf(error.message)} Copy it again from its source, or ask whoever sent it for a new one.`);
    return;
  }
  if (location.hash.slice(1) !== tidy.payload && location.hash.slice(1) !== fragment) return; // another link arrived meanwhile
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
  // Your own run, opened again (a reload): not "a shared run".
  const own = (await listRuns()).some((entry) => entry.url === link?.url && entry.kind !== 'replayed');
  ui.linkHeading.textContent = own ? 'Replay your run' : 'Replay a shared run';
}

function showLinkError(message) {
  link = null;
  ui.linkDetails.hidden = true;
  ui.linkHeading.textContent = 'Replay a shared run';
  ui.linkErrorKept.hidden = ui.output.textContent === '' && ui.replayOutput.textContent === '';
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
  showLinkSummary(ui, view, models.find((m) => m.sha256 === view.model.sha256) ?? null);
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
  ui.engineSelect.value = 'exact';
  pendingReplay = true;
  lastLoad = (options) => {
    beginLoad(`Downloading ${id} from ${url}…`);
    engine.post({ type: 'load-url', url, sha256, name: id, engine: 'exact', executor: executorFor(options) });
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
  engine.post({ type: 'generate', run, expect: link.view.expect?.token_ids });
}

function onReplayDone(finished, { reason, token_ids, tokens_hash, divergence }) {
  runs += 1;
  ui.app.dataset.runs = String(runs);
  setState('ready');
  const got = token_ids;
  const { result, detail } = replayVerdict({
    expect: finished.link.view.expect,
    got,
    texts: finished.texts,
    tokensHash: tokens_hash,
    divergence,
    stopped: reason === 'aborted',
    where: finished.model.executor.kind === 'gpu' ? 'GPU' : 'CPU',
  });
  ui.replayDetail.textContent = detail;
  ui.replayResult.textContent = result;
  announce(result);
  recordRun({ kind: 'replayed', run: finished.link.view.run, model: finished.link.view.model.id, verdict: result, url: finished.link.url });
  focusLater(ui.replayButton);
  ui.app.dataset.replays = String(Number(ui.app.dataset.replays ?? 0) + 1);
  const entry = models.find((m) => m.sha256 === finished.link.view.model.sha256);
  if (tokens_hash) {
    renderCite(ui.replayCite, {
      version: engineVersion,
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

// "Edit this run": the link's prompt and settings into the Generate form.
ui.editRunButton.addEventListener('click', () => {
  if (link) editRun(link.view.run);
});

function editRun(run) {
  conversation = fillForm(ui, run);
  renderConversation();
  formChanged();
  validateForm(ui);
  ui.prompt.focus();
  ui.prompt.scrollIntoView({ block: 'center' });
}

// "Open a link": a pasted address or fragment, tidied.
ui.openLinkForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const tidy = tidyLink(ui.openLinkInput.value);
  if (tidy.error) {
    ui.openLinkError.textContent = tidy.error;
    ui.openLinkError.hidden = false;
    ui.openLinkInput.setAttribute('aria-invalid', 'true');
    ui.openLinkInput.focus();
    return;
  }
  ui.openLinkError.hidden = true;
  ui.openLinkInput.removeAttribute('aria-invalid');
  ui.openLinkInput.value = '';
  if (location.hash.slice(1) === tidy.payload) handleLocationHash();
  else location.hash = tidy.payload;
  ui.linkPanel.scrollIntoView({ block: 'start' });
  focusLater(ui.replayButton.disabled ? ui.linkHeading : ui.replayButton);
});

// ---------------------------------------------------------------------------------------------
// History: this browser's runs (history.js)

async function recordRun({ kind, run, model, verdict, url }) {
  const input = run.chat && Array.isArray(run.messages) && run.messages.length > 0 ? run.messages[run.messages.length - 1].content : run.prompt;
  await addRun({ kind, input: String(input ?? '').slice(0, 200), model, verdict, url, run });
  await renderHistory();
}

async function renderHistory() {
  const entries = await listRuns();
  ui.historyEmpty.hidden = entries.length > 0;
  ui.historyList.replaceChildren(
    ...entries.map((entry) =>
      historyItem(entry, {
        onEdit: () => editRun(entry.run),
        onDelete: async () => {
          await deleteRun(entry.id);
          await renderHistory();
          focusLater(ui.historyList.querySelector('[data-testid="history-delete"]') ?? ui.openLinkInput);
        },
      }),
    ),
  );
  ui.app.dataset.history = String(entries.length);
}

// ---------------------------------------------------------------------------------------------
// Start: the engine and the manifest load side by side; a model saved in this browser loads at once.

setState('starting');
{
  const saved = restoreForm(ui);
  if (saved === null) ui.seed.value = randomSeed();
  else conversation = saved;
  renderConversation();
  formChanged();
}
renderHistory();
startWorker();
try {
  models = await readManifest();
  if (models.length === 0) throw new Error('it lists no models');
  renderModels();
  markSupported();
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
