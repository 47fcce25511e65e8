// The page: starts it, keeps its state (page-state.js) and drives the engine worker (worker.js),
// handing what it reports to the views; errors, notices, Stop and the engine's restarts are here.
// All text that comes from a file, the manifest, a link or the model is set with textContent. The
// rest lives in modules: model-card.js (the model list and loads), generate-view.js (the form,
// runs, their links), replay-view.js (opened links and their replay), ui.js (the elements),
// engine.js (the worker wrapper), format.js (words and numbers), links.js (pasted links, model
// addresses, verdicts), link-view.js (a link's summary), manifest.js (the list of models),
// settings.js (the Generate form), history.js + history-view.js (this browser's runs), share.js
// (links, citations, copying, QR codes, embed code), model-cache.js (verified model files),
// offline.js (the service worker sw.js and its update banner).

import { Engine } from './engine.js';
import { THREADS_KEY, threadsChoice, threadsFor } from './threads-choice.js';
import { executorShort, formatMB, formatSeconds, plural, sentenceOf } from './format.js';
import { historyItem } from './history-view.js';
import { addRun, deleteRun, listRuns } from './history.js';
import { engineRuns, readManifestFile } from './manifest.js';
import { randomSeed, restoreForm } from './settings.js';
import { ui } from './ui.js';
import { editRun, formChanged, makeRunLink, onGenerateDone, renderConversation, showFormError } from './generate-view.js';
import { hideProgress, loadManifestModel, markSupported, onLoaded, refreshSavedBadges, renderModels, selectedModel, showProgress } from './model-card.js';
import { page } from './page-state.js';
import { handleLocationHash, onReplayDone, showLinkModelStatus, updateReplayButton } from './replay-view.js';
import './offline.js';

// Stop and Cancel wait this long for the engine to answer, then end its worker.
const STOP_GRACE_MS = 3000;
// ?test-hooks=1: the browser tests may make the engine panic or hang (window.verbatimTestHooks).
const TEST_HOOKS = new URLSearchParams(location.search).get('test-hooks') === '1';

/** Generate works without a loaded model too: it loads the selected one first, and says so. */
export function updateGenerateButton() {
  const model = selectedModel();
  const canLoad = page.state === 'idle' && model !== null && engineRuns(ui.engineSelect.value, model, page.engineSpecs);
  ui.generateButton.disabled = !(page.state === 'ready' || canLoad);
  let why = '';
  if (page.state === 'idle' && canLoad) {
    why = page.savedIds.has(model.id)
      ? `Generate first loads ${model.name}, saved in this browser.`
      : `Generate first downloads ${model.name} (${formatMB(model.size)}) once; it is then saved in this browser.`;
  } else if (page.state === 'idle') why = 'Choose a model under “Model” (or open a GGUF file) to generate.';
  else if (page.state === 'loading') why = 'The model is loading…';
  else if (page.state === 'starting') why = 'The engine is starting…';
  else if (page.state === 'failed') why = 'The engine could not start: see the message under “Model”.';
  ui.generateWhy.textContent = why;
  ui.generateWhy.hidden = why === '';
}

export function setState(next) {
  page.state = next;
  ui.app.dataset.state = next;
  const busy = next === 'loading' || next === 'generating';
  ui.modelList.disabled = busy || page.models.length === 0;
  ui.engineSelect.disabled = busy || next === 'starting' || next === 'failed';
  ui.executorSelect.disabled = busy || next === 'starting' || next === 'failed';
  ui.threadsSelect.disabled = busy || next === 'starting' || next === 'failed';
  ui.retryCpuButton.disabled = busy;
  ui.replayRetryCpuButton.disabled = busy;
  ui.loadButton.disabled = busy || next === 'starting' || next === 'failed' || selectedModel() === null;
  ui.cancelButton.hidden = next !== 'loading';
  ui.fileInput.disabled = busy || next === 'starting' || next === 'failed';
  ui.dropZone.classList.toggle('disabled', ui.fileInput.disabled);
  updateGenerateButton();
  updateReplayButton();
  const replaying = next === 'generating' && page.currentRun?.kind === 'replay';
  ui.stopButton.hidden = next !== 'generating' || replaying;
  ui.replayStopButton.hidden = !replaying;
  ui.escHint.hidden = next !== 'generating' || replaying;
  ui.app.setAttribute('aria-busy', String(busy));
}

// ---------------------------------------------------------------------------------------------
// Engine worker

export const engine = new Engine({
  testHooks: TEST_HOOKS,
  threads: threadsFor(threadsChoice(localStorage.getItem(THREADS_KEY)), navigator.hardwareConcurrency),
  onMessage: (message) => onWorkerMessage(message),
  onError: (event) => {
    if (page.state === 'starting') {
      // The module itself did not start (a missing build): nothing to restart into.
      engine.terminate();
      engine.markReady(); // whoever waits for this engine goes on: its requests fail, it does not run
      showError(`The engine could not be started${event.message ? ` (${event.message})` : ''}. From a source checkout, build it with \`make wasm\`.`, null);
      setState('failed');
      return;
    }
    engineStopped(event.message || 'its worker ended unexpectedly', { gpu: page.loaded?.executor.kind === 'gpu' });
  },
});

/** Starts a fresh engine worker (after a failure, or at the start). */
function startWorker() {
  clearStopTimer();
  engine.start();
}

/**
 * Runs the engine of numeric spec `spec` from now on (a link made with an earlier spec, on a site
 * that keeps that spec's engine: docs/releasing.md). The loaded model belongs to the engine that
 * is replaced, so it is unloaded; the saved models stay. Resolves to whether that engine runs now.
 */
export async function switchEngine(spec) {
  const folder = page.site.engines[spec];
  if (!folder) return false;
  engine.useFolder(folder);
  page.loaded = null;
  page.loadingWith = null;
  page.pendingAutoLoad = null;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.executorWhy.hidden = true;
  setState('starting');
  startWorker();
  await engine.ready;
  return page.engineSpec === spec;
}

/**
 * Runs the CPU executor on `threads` threads from now on: the engine's worker starts again with
 * that count (worker.js), and a model that was loaded is loaded again (from this browser's copy).
 */
export async function restartWithThreads(threads) {
  engine.threads = threads;
  const reload = page.state === 'ready' ? page.lastLoad : null;
  page.loaded = null;
  page.loadingWith = null;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  setState('starting');
  startWorker();
  await engine.ready;
  reload?.();
}

/**
 * The engine stopped (a panic, a trap, a dead or stuck worker): a fresh worker starts at once; the
 * prompt, the output and the saved models stay; Retry loads the model again, on the CPU when the
 * GPU was in use.
 */
function engineStopped(reason, { gpu = false, phase = null } = {}) {
  const during = page.currentRun;
  const wasLoading = page.state === 'loading' || phase === 'load';
  page.currentRun = null;
  page.pendingReplay = false;
  page.pendingRerun = null;
  page.loadingWith = null;
  page.loaded = null;
  page.engineRestarts += 1;
  ui.app.dataset.engineRestarts = String(page.engineRestarts);
  hideProgress();
  hideGpuFailure();
  ui.genProgress.hidden = true;
  ui.replayProgress.hidden = true;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.executorWhy.hidden = true;
  const text = sentenceOf(/^the engine stopped/i.test(reason) ? reason : `The engine stopped: ${reason}`);
  if (during?.kind === 'replay') ui.replayResult.textContent = 'The replay stopped: the engine stopped.';
  else if (during) {
    ui.stats.textContent = `The run stopped after ${plural(during.tokens ?? 0, 'token')}: the engine stopped.`;
    ui.runExecutor.textContent = '';
  }
  setState('starting');
  startWorker();
  // A file that stops the engine on the CPU would stop it again: no Retry for that.
  const retryable = page.lastLoad !== null && (gpu || !wasLoading);
  const how = gpu ? ' on the CPU' : '';
  showError(
    `${text} Your prompt and output are kept.${retryable ? ` Retry loads the model again${how} in a fresh engine.` : ' A fresh engine has started.'}`,
    retryable ? () => page.lastLoad(gpu ? { cpuRetry: text } : undefined) : null,
  );
  ui.error.dataset.code = 'engine-stopped';
  focusLater(retryable ? ui.retryButton : ui.prompt);
}

function clearStopTimer() {
  clearTimeout(page.stopTimer);
  page.stopTimer = null;
}

/** Stop and Cancel: asks the engine to stop; ends its worker if it does not answer in time. */
export function requestStop() {
  if (!engine.running || (page.state !== 'generating' && page.state !== 'loading')) return;
  engine.post({ type: 'abort' });
  if (page.stopTimer !== null) return;
  page.stopTimer = setTimeout(() => {
    page.stopTimer = null;
    if (page.state === 'loading') {
      // Cancel asked for exactly this: a fresh engine, nothing loaded.
      startWorker();
      page.pendingReplay = false;
      page.pendingGenerate = null;
      page.loadingWith = null;
      page.loaded = null;
      hideProgress();
      setState('starting');
      showNotice('Loading was cancelled; nothing was saved.');
    } else if (page.state === 'generating') {
      engineStopped(`it did not answer Stop within ${STOP_GRACE_MS / 1000} s, so it was ended`, { gpu: page.loaded?.executor.kind === 'gpu' });
    }
  }, STOP_GRACE_MS);
}

export function focusLater(element) {
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
      page.engineVersion = message.version;
      page.engineSpec = message.spec;
      // Its own spec and every earlier one it replays (an engine before exact-2 names only its own).
      page.engineSpecs = [...new Set([message.spec, ...(Array.isArray(message.specs) ? message.specs : [])])];
      if (page.models.length > 0) markSupported(); // this engine's specs say which models it runs
      engine.markReady();
      if (page.state === 'starting' || page.state === 'failed') setState('idle'); // a restart may be loading already
      if (page.pendingAutoLoad) {
        const model = page.pendingAutoLoad;
        page.pendingAutoLoad = null;
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
      } else if (message.step === 'timing') {
        ui.progressText.textContent = 'Timing a few tokens on the GPU and on the CPU, to run on the faster…';
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
      const bar = page.currentRun?.kind === 'replay' ? ui.replayProgress : ui.genProgress;
      const expected = page.currentRun?.link?.view?.expect?.token_ids?.length;
      bar.max = Math.max(1, expected ?? page.currentRun?.run?.max_tokens ?? 1);
      bar.value = 0;
      bar.hidden = false;
      if (page.currentRun?.kind === 'replay') break;
      ui.stats.textContent = `Prompt: ${plural(message.prompt_tokens, 'token')}. Computing…`;
      break;
    }
    case 'token':
      if (page.currentRun) page.currentRun.tokens = message.n;
      (page.currentRun?.kind === 'replay' ? ui.replayProgress : ui.genProgress).value = message.n;
      if (page.currentRun?.kind === 'replay') {
        page.currentRun.texts.push(message.text);
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

function onDone(message) {
  const finished = page.currentRun;
  page.currentRun = null;
  if (finished?.kind === 'replay') {
    onReplayDone(finished, message);
    return;
  }
  onGenerateDone(finished, message);
  if (finished) makeRunLink(finished, message);
}

/** One announcement for assistive technology (the status region), once per finished run. */
export function announce(text) {
  ui.announce.textContent = text;
}

function onWorkerError({ phase, code, message, retry, cpu_retry, gpu_error }) {
  hideProgress();
  page.pendingReplay = false;
  page.pendingRerun = null;
  page.loadingWith = null;
  if (phase === 'generate' && cpu_retry && code === 'gpu-unsupported') {
    onGpuRefusal(message, gpu_error);
    return;
  }
  if (phase === 'generate' && cpu_retry) {
    onGpuFailure(message, gpu_error);
    return;
  }
  if (phase === 'generate' && page.currentRun?.kind === 'replay') {
    ui.replayResult.textContent = `The replay failed: ${message}`;
  }
  if (phase === 'generate') {
    ui.runExecutor.textContent = '';
    if (code === 'bad-request' && page.currentRun?.kind === 'generate') {
      // The engine refused the request: said at the form, where it can be fixed.
      page.currentRun = null;
      ui.stats.textContent = '';
      showFormError(`Nothing ran: ${sentenceOf(message)}`);
      setState('ready');
      return;
    }
    page.currentRun = null;
  }
  page.pendingGenerate = null;
  if (phase === 'init') {
    engine.terminate();
    engine.markReady(); // as above: waiting for it ends, its requests fail
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
      page.lastLoad?.();
    });
  } else {
    showError(message, retry ? page.lastLoad : null);
  }
  if (phase === 'load') {
    ui.modelInfo.hidden = true;
    ui.engineLine.hidden = true;
    ui.executorWhy.hidden = true;
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
  page.failedRun = page.currentRun ? { ...page.currentRun, gpuError: gpuError ?? message } : null;
  page.currentRun = null;
  page.loaded = null;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.executorWhy.hidden = true;
  const box = page.failedRun?.kind === 'replay' ? ui.replayGpuFailure : ui.gpuFailure;
  const text = page.failedRun?.kind === 'replay' ? ui.replayGpuFailureMessage : ui.gpuFailureMessage;
  if (page.failedRun?.kind === 'replay') {
    ui.replayResult.textContent = 'The replay stopped: the GPU failed.';
  } else {
    ui.stats.textContent = 'The run stopped: the GPU failed.';
    if (page.failedRun) ui.runExecutor.textContent = `Ran on the ${executorShort(page.failedRun.model)} until it failed.`;
  }
  text.textContent = message;
  box.hidden = false;
  showNotice('The model was unloaded because the GPU failed during a run.');
  setState('idle');
  refreshSavedBadges();
  if (page.link) showLinkModelStatus();
}

/**
 * The GPU executor refused the run (an operation this model needs, which it does not have yet): the
 * worker unloaded the model; the same request runs on the CPU at once, which gives the same tokens.
 */
function onGpuRefusal(message, gpuError) {
  const rerun = page.currentRun;
  page.currentRun = null;
  page.loaded = null;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.executorWhy.hidden = true;
  setState('idle');
  if (!page.lastLoad) return;
  page.lastLoad({ unsupported: gpuError ?? message });
  page.pendingRerun = rerun;
  const text = `${message} Loading it on the CPU…`;
  if (rerun?.kind === 'replay') ui.replayResult.textContent = text;
  else ui.stats.textContent = text;
}

export function hideGpuFailure() {
  ui.gpuFailure.hidden = true;
  ui.replayGpuFailure.hidden = true;
}

function retryOnCpu() {
  if (!page.failedRun || !page.lastLoad || page.state === 'loading' || page.state === 'generating') return;
  const rerun = page.failedRun;
  page.lastLoad({ cpuRetry: rerun.gpuError }); // clears failedRun and the failure boxes
  page.pendingRerun = rerun;
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

export function hideError() {
  ui.error.hidden = true;
}

export function showNotice(message) {
  ui.notice.textContent = message;
  ui.notice.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// History: this browser's runs (history.js)

export async function recordRun({ kind, run, model, verdict, url }) {
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
  else page.conversation = saved;
  renderConversation();
  formChanged();
}
renderHistory();
// The manifest first: on a built site it names the engine to start (engine/<spec>/).
const manifest = await readManifestFile().catch((error) => error);
if (!(manifest instanceof Error)) {
  page.site = manifest.site;
  if (page.site.engine !== null) engine.useFolder(page.site.engines[page.site.engine]);
}
startWorker();
try {
  if (manifest instanceof Error) throw manifest;
  page.models = manifest.models;
  if (page.models.length === 0) throw new Error('it lists no models');
  renderModels();
  markSupported();
  await refreshSavedBadges();
  const initial = selectedModel();
  if (initial && page.savedIds.has(initial.id)) {
    if (page.state === 'starting') page.pendingAutoLoad = initial;
    else if (page.state === 'idle') loadManifestModel(initial);
  }
} catch (error) {
  ui.modelListStatus.textContent = `The list of models could not be read (${error.message}). You can still open a GGUF file from your computer.`;
}
setState(page.state);
handleLocationHash();
