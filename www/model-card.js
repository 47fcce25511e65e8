// The Model card: the list of models (saved badges, what the chosen engine runs), loading a model
// (from the list, a file, or a link's address) on the executor the page asks for, the load's
// progress, and the loaded model's details. Driven by app.js, which hands it the worker's reports.

import { asksBeforeDownload } from './consent.js';
import { executorChoice } from './executor-choice.js';
import { THREADS_KEY, threadsChoice, threadsFor, threadsLabel, threadsOptions } from './threads-choice.js';
import { engineLabel, executorDetail, executorLabel, executorShort, formatMB, plural } from './format.js';
import { engineRuns, modelRow } from './manifest.js';
import { hasModel } from './model-cache.js';
import { ui } from './ui.js';
import { announce, engine, focusLater, hideError, hideGpuFailure, requestStop, restartWithThreads, setState, showNotice, updateGenerateButton } from './app.js';
import { startGenerate } from './generate-view.js';
import { page } from './page-state.js';
import { loadedMatchesLink, showLinkModelStatus, startReplay } from './replay-view.js';

const LAST_MODEL_KEY = 'verbatim.model';
// The choice under "Executor": 'gpu' or 'cpu'; absent: 'auto' (the faster one, executor-choice.js).
const EXECUTOR_KEY = 'verbatim.executor';

export function renderModels() {
  ui.modelListStatus.hidden = true;
  const preferred = localStorage.getItem(LAST_MODEL_KEY);
  const initial = page.models.find((m) => m.id === preferred) ?? page.models.find((m) => m.default) ?? page.models[0];
  for (const model of page.models) {
    const row = modelRow(model, model === initial, () => {
      updateLoadLabel();
      setState(page.state);
    });
    ui.modelList.append(row);
  }
}

export async function refreshSavedBadges() {
  for (const model of page.models) {
    const saved = await hasModel(model.sha256);
    if (saved) page.savedIds.add(model.id);
    else page.savedIds.delete(model.id);
    const badge = document.querySelector(`[data-testid="model-${CSS.escape(model.id)}"] [data-testid="model-saved"]`);
    badge.hidden = !saved;
  }
  updateLoadLabel();
}

/** Marks the models the selected engine cannot run; they cannot be chosen for it. */
export function markSupported() {
  const kind = ui.engineSelect.value;
  for (const model of page.models) {
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
      const fallback = page.models.find((m) => m.default && engineRuns(kind, m)) ?? page.models.find((m) => engineRuns(kind, m));
      const other = fallback && document.querySelector(`[data-testid="model-option-${CSS.escape(fallback.id)}"]`);
      if (other) other.checked = true;
    }
  }
  updateLoadLabel();
}

export function updateLoadLabel() {
  ui.loadButton.textContent = page.savedIds.has(selectedModel()?.id) ? 'Load' : 'Download and load';
  updateGenerateButton();
}

export function selectedModel() {
  const radio = ui.modelList.querySelector('input[name="model"]:checked');
  return page.models.find((m) => m.id === radio?.value) ?? null;
}

/** Loads a listed model; a download over 100 MB on a metered or slow connection asks first. */
export function loadManifestModel(model, options) {
  if (!engineRuns(ui.engineSelect.value, model)) return;
  if (asksBeforeDownload(model, page.savedIds.has(model.id)) && !options?.consented) {
    ui.consentMessage.textContent =
      `${model.name} is a download of ${formatMB(model.size)}, and this browser says the connection is metered or slow. Download it now?`;
    ui.consent.hidden = false;
    ui.consentYes.onclick = () => {
      ui.consent.hidden = true;
      loadManifestModel(model, { ...options, consented: true });
    };
    ui.consentNo.onclick = () => {
      ui.consent.hidden = true;
      page.pendingGenerate = null;
      page.pendingReplay = false;
      ui.loadButton.focus();
    };
    focusLater(ui.consentYes);
    return;
  }
  ui.consent.hidden = true;
  localStorage.setItem(LAST_MODEL_KEY, model.id);
  page.lastLoad = (again) => loadManifestModel(model, again);
  beginLoad(`Preparing ${model.name}…`);
  const { id, name, file, size, sha256, download } = model;
  const executor = executorFor(options);
  engine.post({
    type: 'load-model',
    model: { id, name, file, size, sha256, download },
    origins: page.site.modelOrigins,
    engine: ui.engineSelect.value,
    executor,
  });
}

function loadFile(file, options) {
  if (!file) return;
  page.lastLoad = (again) => loadFile(file, again);
  beginLoad(`Opening ${file.name}…`);
  engine.post({ type: 'load-file', file, engine: ui.engineSelect.value, executor: executorFor(options) });
}

/**
 * The executor a load asks the worker for: the CPU when the load retries a run the GPU failed in
 * ({cpuRetry: the failure}), else the choice under "Executor" ('auto', 'gpu' or 'cpu').
 */
export function executorFor({ cpuRetry = null } = {}) {
  page.loadingWith = { cpuRetry };
  return cpuRetry !== null ? 'cpu' : executorChoice(ui.executorSelect.value);
}

export function beginLoad(text) {
  hideError();
  hideGpuFailure();
  page.failedRun = null;
  ui.notice.hidden = true;
  ui.modelInfo.hidden = true;
  ui.engineLine.hidden = true;
  ui.progressArea.hidden = false;
  ui.progress.value = 0;
  ui.progressText.textContent = text;
  setState('loading');
}

export function showProgress({ phase, loaded: done, total, bytes_per_s }) {
  ui.progress.max = total;
  ui.progress.value = done;
  const percent = total > 0 ? Math.floor((done / total) * 100) : 0;
  if (phase === 'download') {
    const speed = bytes_per_s > 0 ? ` · ${(bytes_per_s / 1e6).toFixed(1)} MB/s` : '';
    ui.progressText.textContent = `Downloading: ${formatMB(done)} of ${formatMB(total)} (${percent}%)${speed}. Checking SHA-256 as it arrives.`;
  } else if (phase === 'read') {
    ui.progressText.textContent = `Reading the file: ${formatMB(done)} of ${formatMB(total)} (${percent}%).`;
  } else {
    ui.progressText.textContent = `Checking the saved copy: ${percent}%.`;
  }
}

export function hideProgress() {
  ui.progressArea.hidden = true;
}

export function onLoaded({ info, executor, sha256, source, label, bytes, cache_error }) {
  hideProgress();
  page.loaded = { sha256, engine: info.engine, source, label, executor: { ...executor, cpuRetry: page.loadingWith?.cpuRetry ?? null } };
  page.loadingWith = null;
  const listed = page.models.find((m) => m.sha256 === sha256);
  ui.infoName.textContent = listed ? listed.name : info.name || label;
  ui.infoArchitecture.textContent = info.architecture;
  ui.infoShape.textContent = `${formatMB(bytes)} · ${plural(info.n_layer, 'layer')} · vocabulary of ${info.n_vocab.toLocaleString('en')} · context of ${info.context_length.toLocaleString('en')} tokens`;
  ui.infoSha256.textContent = sha256;
  if (source === 'network') {
    // A built site downloads from the model's public source (manifest.js `download`).
    const from = listed?.download ? new URL(listed.download) : null;
    const where = from && from.origin !== location.origin ? from.host : 'this site';
    ui.infoSource.textContent = `Downloaded from ${where}, SHA-256 verified, saved in this browser.`;
  } else if (source === 'cache') {
    ui.infoSource.textContent = 'Saved copy in this browser, SHA-256 verified: nothing was downloaded.';
  } else if (source === 'url') {
    ui.infoSource.textContent = `Downloaded from the address in the link, SHA-256 verified (not saved).`;
  } else {
    const known = page.models.find((m) => m.sha256 === sha256);
    ui.infoSource.textContent = known
      ? `Local file ${label}: identical to ${known.name} in the list.`
      : `Local file ${label} (not one of the listed models).`;
  }
  ui.infoSource.dataset.source = source;
  ui.engine.textContent = engineLabel(info);
  ui.executor.textContent = executorLabel(page.loaded);
  ui.executor.dataset.executor = page.loaded.executor.kind;
  const threads = threadsLabel(page.loaded.executor);
  ui.threads.textContent = threads ?? '';
  ui.threadsLine.hidden = threads === null;
  ui.infoExecutor.textContent = executorDetail(page.loaded);
  ui.infoExecutorShort.textContent = executorLabel(page.loaded);
  ui.infoExecutor.dataset.executor = page.loaded.executor.kind;
  ui.engineLine.hidden = false;
  ui.modelInfo.hidden = false;
  if (cache_error) showNotice(cache_error);
  announce(`${ui.infoName.textContent} is loaded, on the ${executorShort(page.loaded)}.`);

  ui.chatToggle.disabled = !info.has_chat_template;
  if (!info.has_chat_template) ui.chatToggle.checked = false;
  ui.chatToggle.title = info.has_chat_template ? '' : 'This model has no chat template.';
  ui.maxTokens.max = String(info.context_length);
  setState('ready');
  refreshSavedBadges();
  if (page.link) showLinkModelStatus();
  if (page.pendingReplay) {
    page.pendingReplay = false;
    if (page.link && loadedMatchesLink()) startReplay();
  } else if (page.pendingGenerate) {
    const run = page.pendingGenerate;
    page.pendingGenerate = null;
    startGenerate(run);
  } else if (page.pendingRerun) {
    // "Retry on CPU": the same request again, now on the CPU.
    const rerun = page.pendingRerun;
    page.pendingRerun = null;
    if (rerun.kind === 'replay') {
      if (page.link && page.link.url === rerun.link.url && loadedMatchesLink()) startReplay();
    } else {
      startGenerate(rerun.run);
    }
  } else {
    focusLater(ui.prompt);
  }
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
  if (page.state === 'ready') page.lastLoad?.();
});

// "Executor": remembered in this browser (Automatic is stored as nothing); the loaded model is
// loaded again on the new choice.
ui.executorSelect.value = executorChoice(localStorage.getItem(EXECUTOR_KEY));
ui.executorSelect.addEventListener('change', () => {
  const choice = executorChoice(ui.executorSelect.value);
  if (choice === 'auto') localStorage.removeItem(EXECUTOR_KEY);
  else localStorage.setItem(EXECUTOR_KEY, choice);
  const onExact = page.state === 'ready' && page.loaded?.engine === 'exact';
  if ((onExact || (page.state === 'idle' && page.failedRun !== null)) && page.lastLoad) page.lastLoad();
});

// "Threads": remembered in this browser (Automatic is stored as nothing); the engine starts again
// with the new count, and the loaded model is loaded again.
for (const { value, label } of threadsOptions(navigator.hardwareConcurrency)) ui.threadsSelect.add(new Option(label, value));
ui.threadsSelect.value = String(threadsChoice(localStorage.getItem(THREADS_KEY)));
ui.threadsSelect.addEventListener('change', () => {
  const choice = threadsChoice(ui.threadsSelect.value);
  if (choice === 'auto') localStorage.removeItem(THREADS_KEY);
  else localStorage.setItem(THREADS_KEY, String(choice));
  const threads = threadsFor(choice, navigator.hardwareConcurrency);
  if (threads !== engine.threads) restartWithThreads(threads);
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

