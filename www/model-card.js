// The Model card: the list of models (saved badges, what the chosen engine runs), loading a model
// (from the list, a file, or a link's address) on the executor the page asks for, the load's
// progress, and the loaded model's details. Driven by app.js, which hands it the worker's reports.

import { asksBeforeDownload } from './consent.js';
import { acceptTerms, termsPending, termsQuestion } from './terms.js';
import { executorChoice } from './executor-choice.js';
import { THREADS_KEY, threadsChoice, threadsFor, threadsLabel, threadsOptions } from './threads-choice.js';
import { engineLabel, executorDetail, executorLabel, executorShort, formatMB, plural } from './format.js';
import { engineRuns, isBaseModel, modelRow } from './manifest.js';
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
      updateChatToggle();
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
    const supported = engineRuns(kind, model, page.engineSpecs);
    const radio = row.querySelector('input[type="radio"]');
    const badge = row.querySelector('[data-testid="model-unsupported"]');
    badge.textContent = supported ? '' : `the ${kind} engine does not run ${model.architecture} yet: choose the float reference to use it`;
    badge.hidden = supported;
    radio.disabled = !supported;
    row.classList.toggle('unsupported', !supported);
    if (!supported && radio.checked) {
      radio.checked = false;
      const fallback =
        page.models.find((m) => m.default && engineRuns(kind, m, page.engineSpecs)) ?? page.models.find((m) => engineRuns(kind, m, page.engineSpecs));
      const other = fallback && document.querySelector(`[data-testid="model-option-${CSS.escape(fallback.id)}"]`);
      if (other) other.checked = true;
    }
  }
  updateLoadLabel();
  updateChatToggle();
}

/**
 * The chat toggle follows the model a run would use (the loaded one, else the one chosen in the
 * list): a model without a chat template, such as a base model, takes the prompt raw, and the note
 * under the toggle says why it is off.
 */
export function updateChatToggle() {
  const loaded = page.loaded;
  const listed = loaded ? page.models.find((m) => m.sha256 === loaded.sha256) ?? null : selectedModel();
  const noTemplate = loaded ? !loaded.hasChatTemplate : isBaseModel(listed);
  const name = listed?.name ?? loaded?.label ?? 'This model';
  ui.chatToggle.disabled = noTemplate;
  if (noTemplate) ui.chatToggle.checked = false;
  ui.chatToggle.title = noTemplate ? 'This model has no chat template.' : '';
  let note = '';
  if (noTemplate && isBaseModel(listed)) {
    note = `${name} is a base model: it continues your text as written. There is no chat template, so the prompt is sent raw.`;
  } else if (noTemplate) {
    note = `${name} has no chat template, so the prompt is sent raw.`;
  }
  ui.chatNote.textContent = note;
  ui.chatNote.hidden = note === '';
}

export function updateLoadLabel() {
  ui.loadButton.textContent = page.savedIds.has(selectedModel()?.id) ? 'Load' : 'Download and load';
  updateGenerateButton();
}

export function selectedModel() {
  const radio = ui.modelList.querySelector('input[name="model"]:checked');
  return page.models.find((m) => m.id === radio?.value) ?? null;
}

/**
 * Loads a listed model. A model with terms (Gemma's) asks for them to be accepted first, once in
 * this browser; a download over 100 MB on a metered or slow connection asks first too.
 */
export function loadManifestModel(model, options) {
  if (!engineRuns(ui.engineSelect.value, model, page.engineSpecs)) return;
  if (termsPending(model)) {
    askTerms(model, options);
    return;
  }
  ui.terms.hidden = true;
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

/** Shows the terms of `model`: Accept remembers them and loads it; Decline leaves everything as it was. */
function askTerms(model, options) {
  ui.consent.hidden = true;
  ui.termsMessage.textContent = termsQuestion(model, formatMB(model.size));
  ui.termsLink.textContent = `Read the ${model.license || 'terms'}`;
  ui.termsLink.href = model.license_url;
  ui.terms.hidden = false;
  ui.app.dataset.terms = 'asked';
  ui.termsAccept.onclick = () => {
    ui.terms.hidden = true;
    acceptTerms(model);
    ui.app.dataset.terms = 'accepted';
    loadManifestModel(model, options);
  };
  ui.termsDecline.onclick = () => {
    ui.terms.hidden = true;
    ui.app.dataset.terms = 'declined';
    // Nothing was started: only the wait for this model ends.
    page.pendingGenerate = null;
    page.pendingReplay = false;
    if (page.link && ui.replayResult.textContent.startsWith('Loading')) ui.replayResult.textContent = '';
    showNotice(`${model.name} was not downloaded: its terms were not accepted.`);
    focusLater(ui.loadButton);
  };
  focusLater(ui.termsAccept);
}

function loadFile(file, options) {
  if (!file) return;
  page.lastLoad = (again) => loadFile(file, again);
  beginLoad(`Opening ${file.name}…`);
  engine.post({ type: 'load-file', file, engine: ui.engineSelect.value, executor: executorFor(options) });
}

/**
 * The executor a load asks the worker for: the CPU when the load retries a run the GPU failed in
 * ({cpuRetry: the failure}) or refused ({unsupported: the engine's words}: the GPU executor does not
 * run this model yet), else the choice under "Executor" ('auto', 'gpu' or 'cpu').
 */
export function executorFor({ cpuRetry = null, unsupported = null } = {}) {
  page.loadingWith = { cpuRetry, unsupported };
  return cpuRetry !== null || unsupported !== null ? 'cpu' : executorChoice(ui.executorSelect.value);
}

/**
 * Next to "Executor": why the loaded model runs on the CPU although the GPU was asked for, when the
 * reason is the model (the GPU executor does not run it yet), not this device.
 */
function showExecutorWhy(name) {
  const executor = page.loaded?.executor;
  const refused = executor?.kind === 'cpu' && executor.fallback_code === 'gpu-unsupported';
  ui.executorWhy.textContent = refused
    ? `${name} runs on the CPU: the GPU executor does not run this model’s block formats and operations (numeric spec ${page.loaded.spec ?? 'exact-2'}) yet. The tokens are the same as on a GPU.`
    : '';
  ui.executorWhy.hidden = !refused;
}

export function beginLoad(text) {
  hideError();
  ui.terms.hidden = true;
  ui.executorWhy.hidden = true;
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

export function onLoaded({ info, executor, sha256, source, label, bytes, cache_error, wasm_memory_bytes }) {
  hideProgress();
  // A run the GPU executor refused (a model it does not run yet) is on the CPU for that reason.
  const unsupported = page.loadingWith?.unsupported ?? null;
  const onCpu =
    unsupported === null
      ? {}
      : {
          fallback: 'the GPU executor does not run this model yet',
          fallback_detail: `the GPU executor does not run this model yet, so the CPU executor runs it (the engine says: ${unsupported.replace(/[.;]?\s*$/, '')})`,
          fallback_code: 'gpu-unsupported',
        };
  page.loaded = {
    sha256,
    engine: info.engine,
    spec: info.spec ?? null,
    hasChatTemplate: info.has_chat_template,
    source,
    label,
    wasmMemoryBytes: wasm_memory_bytes ?? null,
    executor: { ...executor, ...onCpu, cpuRetry: unsupported === null ? page.loadingWith?.cpuRetry ?? null : null },
  };
  page.loadingWith = null;
  const listed = page.models.find((m) => m.sha256 === sha256);
  ui.infoName.textContent = listed ? listed.name : info.name || label;
  ui.infoArchitecture.textContent = isBaseModel(listed) ? `${info.architecture} · base model: raw prompt, no chat template` : info.architecture;
  const memory = Number.isFinite(wasm_memory_bytes) ? ` · engine memory ${formatMB(wasm_memory_bytes)}` : '';
  ui.infoShape.textContent = `${formatMB(bytes)} · ${plural(info.n_layer, 'layer')} · vocabulary of ${info.n_vocab.toLocaleString('en')} · context of ${info.context_length.toLocaleString('en')} tokens${memory}`;
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
  showExecutorWhy(listed?.name ?? ui.infoName.textContent);
  ui.engineLine.hidden = false;
  ui.modelInfo.hidden = false;
  if (cache_error) showNotice(cache_error);
  announce(`${ui.infoName.textContent} is loaded, on the ${executorShort(page.loaded)}.`);

  updateChatToggle();
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

