// A link's replay: reads the address's #v… fragment (or a pasted link), shows what it would run,
// loads its model when asked, replays it and gives the verdict (links.js) with a citation.

import { executorLabel, sentenceOf } from './format.js';
import { listRuns } from './history.js';
import { showLinkSummary } from './link-view.js';
import { checkModelUrl, displayUrl, replayVerdict, tidyLink } from './links.js';
import { exactSpecOf } from './manifest.js';
import { renderCite } from './share.js';
import { ui } from './ui.js';
import { announce, engine, focusLater, hideError, hideGpuFailure, recordRun, setState, switchEngine } from './app.js';
import { editRun } from './generate-view.js';
import { beginLoad, executorFor, loadManifestModel, updateLoadLabel } from './model-card.js';
import { page } from './page-state.js';

/** Reads the address's #v… fragment, if any, and shows what it would run. */
export async function handleLocationHash() {
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
  // A link of another spec runs on that spec's engine, where this site keeps it.
  if (view.spec !== page.engineSpec && page.site.engines[view.spec] && !(await switchEngine(view.spec))) {
    showLinkError(`This link needs the ${view.spec} engine, which did not start here. Reload the page to try again.`);
    return;
  }
  if (location.hash.slice(1) !== tidy.payload && location.hash.slice(1) !== fragment) return; // another link arrived meanwhile
  // This engine replays its own spec and, from exact-2 on, the earlier ones it contains.
  const specs = page.engineSpecs ?? [page.engineSpec];
  if (!specs.includes(view.spec)) {
    showLinkError(
      `This link was made with numeric spec ${view.spec}; this page implements ${specs.join(' and ')}, so it cannot replay ` +
        'the run exactly. Open the link with a Verbatim version that implements that spec.',
    );
    return;
  }
  // A listed model that needs a later spec than the link names (Gemma under exact-1): as `verbatim replay` says.
  const listed = page.models.find((m) => m.sha256 === view.model.sha256);
  const needs = listed ? exactSpecOf(listed) : null;
  if (needs === 'exact-2' && view.spec === 'exact-1') {
    showLinkError(`This link names numeric spec exact-1, which does not define ${listed.name} (it needs exact-2), so it cannot be replayed.`);
    return;
  }
  page.link = { view, url: location.href };
  showLink(view);
  linkDone('ready');
  // Your own run, opened again (a reload): not "a shared run".
  const own = (await listRuns()).some((entry) => entry.url === page.link?.url && entry.kind !== 'replayed');
  ui.linkHeading.textContent = own ? 'Replay your run' : 'Replay a shared run';
}

function showLinkError(message) {
  page.link = null;
  ui.linkDetails.hidden = true;
  ui.linkHeading.textContent = 'Replay a shared run';
  ui.linkErrorKept.hidden = ui.output.textContent === '' && ui.replayOutput.textContent === '';
  ui.linkErrorMessage.textContent = message;
  ui.linkError.hidden = false;
  linkDone('error');
}

function linkDone(result) {
  page.linksHandled += 1;
  ui.app.dataset.link = result;
  ui.app.dataset.linksHandled = String(page.linksHandled);
  updateReplayButton();
}

function showLink(view) {
  showLinkSummary(ui, view, page.models.find((m) => m.sha256 === view.model.sha256) ?? null);
  ui.replayResult.textContent = '';
  ui.replayExecutor.textContent = '';
  ui.replayOutput.textContent = '';
  ui.replayDetail.textContent = '';
  ui.replayCite.hidden = true;
  ui.linkDetails.hidden = false;
  showLinkModelStatus();
}

function linkManifestEntry() {
  return page.link ? page.models.find((m) => m.sha256 === page.link.view.model.sha256) ?? null : null;
}

export function loadedMatchesLink() {
  return page.link !== null && page.loaded !== null && page.loaded.sha256 === page.link.view.model.sha256 && page.state !== 'loading';
}

/** Whether the link's model can be had: loaded, in the list, or only by a file or an address. */
export function showLinkModelStatus() {
  if (!page.link) return;
  const { model } = page.link.view;
  const missing = !linkManifestEntry() && !(page.loaded && page.loaded.sha256 === model.sha256);
  ui.linkModelMissing.hidden = !missing;
  if (missing) {
    ui.linkModelMissingMessage.textContent =
      `This link needs model ${model.id} with SHA-256 ${model.sha256}, which is not in the list; ` +
      "open the file with “Choose a file…” under “Or open a GGUF file” in the Model section.";
    // Only https: (or this site) is fetched; the address is shown normalised, invisible characters escaped.
    const allowed = model.url ? checkModelUrl(model.url, location.origin, page.site.modelOrigins) : { ok: false, why: '' };
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

export function updateReplayButton() {
  const busy = page.state === 'loading' || page.state === 'generating' || page.state === 'starting' || page.state === 'failed';
  const available = page.link !== null && (linkManifestEntry() !== null || (page.loaded !== null && page.loaded.sha256 === page.link.view.model.sha256));
  ui.replayButton.disabled = busy || !available;
  const ready = page.link !== null && page.loaded !== null && page.loaded.sha256 === page.link.view.model.sha256 && page.loaded.engine === 'exact';
  ui.replayButton.textContent = ready || !available ? 'Replay' : 'Load the model and replay';
}

ui.replayButton.addEventListener('click', () => {
  if (!page.link || ui.replayButton.disabled) return;
  hideError();
  if (loadedMatchesLink() && page.loaded.engine === 'exact') {
    startReplay();
    return;
  }
  ui.engineSelect.value = 'exact';
  page.pendingReplay = true;
  const entry = linkManifestEntry();
  if (page.loaded && page.loaded.sha256 === page.link.view.model.sha256 && page.lastLoad) {
    page.lastLoad(); // the same file again, on the exact engine
  } else if (entry) {
    const radio = ui.modelList.querySelector(`input[value="${CSS.escape(entry.id)}"]`);
    if (radio) radio.checked = true;
    updateLoadLabel();
    ui.replayResult.textContent = `Loading ${entry.name}…`;
    loadManifestModel(entry);
  } else {
    page.pendingReplay = false;
  }
});

ui.linkFetchButton.addEventListener('click', () => {
  if (!page.link?.view.model.url || page.state === 'loading' || page.state === 'generating') return;
  const { id, sha256 } = page.link.view.model;
  const allowed = checkModelUrl(page.link.view.model.url, location.origin, page.site.modelOrigins);
  if (!allowed.ok) return;
  const url = allowed.url.href;
  ui.engineSelect.value = 'exact';
  page.pendingReplay = true;
  page.lastLoad = (options) => {
    beginLoad(`Downloading ${id} from ${url}…`);
    engine.post({ type: 'load-url', url, sha256, name: id, origins: page.site.modelOrigins, engine: 'exact', executor: executorFor(options) });
  };
  page.lastLoad();
});

export function startReplay() {
  if (!page.link || page.state !== 'ready') return;
  const { run } = page.link.view;
  ui.replayOutput.textContent = '';
  ui.replayDetail.textContent = '';
  ui.replayCite.hidden = true;
  ui.replayResult.textContent = 'Replaying…';
  hideGpuFailure();
  ui.replayExecutor.textContent = `Executor: ${executorLabel(page.loaded)}`;
  ui.replayExecutor.dataset.executor = page.loaded.executor.kind;
  page.currentRun = { kind: 'replay', run, model: page.loaded, link: page.link, texts: [] };
  setState('generating');
  engine.post({ type: 'generate', run, expect: page.link.view.expect?.token_ids });
}

export function onReplayDone(finished, { reason, token_ids, tokens_hash, divergence }) {
  page.runs += 1;
  ui.app.dataset.runs = String(page.runs);
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
  const entry = page.models.find((m) => m.sha256 === finished.link.view.model.sha256);
  if (tokens_hash) {
    renderCite(ui.replayCite, {
      version: page.engineVersion,
      url: finished.link.url,
      modelId: finished.link.view.model.id,
      modelName: entry?.name ?? finished.link.view.model.id,
      sha256: finished.link.view.model.sha256,
      spec: finished.link.view.spec,
      tokens: got.length,
      tokensHash: tokens_hash,
      doi: page.site.doi,
    });
  }
}

window.addEventListener('hashchange', () => handleLocationHash());

// "Edit this run": the link's prompt and settings into the Generate form.
ui.editRunButton.addEventListener('click', () => {
  if (page.link) editRun(page.link.view.run);
});

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

