// The Generate card: the form and its conversation (multi-turn chat), starting a run, showing how
// it ended, and the link, citation and history entry made for it (share.js, history.js).

import { executorShort, formatSeconds, plural } from './format.js';
import { isLocalAddress } from './links.js';
import { fillForm, randomSeed, runFromForm, saveForm, settingsSummary, showConversation, validateForm } from './settings.js';
import { clearAddressLink, copyText, renderCite, showShareExtras, tokensHash } from './share.js';
import { ui } from './ui.js';
import { announce, engine, focusLater, hideError, hideGpuFailure, recordRun, requestStop, setState } from './app.js';
import { loadManifestModel, selectedModel } from './model-card.js';
import { page } from './page-state.js';

export function onGenerateDone(finished, { reason, token_ids, tokens_hash, prompt_tokens, first_token_ms, elapsed_ms, decode_tokens_per_s }) {
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
  page.lastGenerated = finished ? { run: finished.run, text: ui.output.textContent } : null;
  ui.runAfter.hidden = false;
  ui.copyOutputStatus.textContent = '';
  ui.replyButton.hidden = !(finished?.run.chat && token_ids.length > 0);
  announce(`Run finished: ${plural(token_ids.length, 'token')}; ${why}.`);
  page.runs += 1;
  ui.app.dataset.runs = String(page.runs);
  setState('ready');
  focusLater(reason === 'aborted' ? ui.generateButton : ui.copyOutputButton);
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (page.state !== 'ready' && !(page.state === 'idle' && !ui.generateButton.disabled)) return;
  const failures = validateForm(ui);
  if (failures.length > 0) {
    ui.settings.open = true;
    showFormError(`Nothing ran: ${failures.map((f) => `${f.label}: ${f.message}`).join('; ')}.`);
    failures[0].input.focus();
    return;
  }
  if (ui.prompt.value.trim() === '' && page.conversation.length === 0) {
    showFormError('Nothing ran: write a prompt first.');
    ui.prompt.focus();
    return;
  }
  hideFormError();
  const run = runFromForm(ui, page.conversation);
  if (page.state === 'idle') {
    // No model yet: load the selected one, then run.
    page.pendingGenerate = run;
    loadManifestModel(selectedModel());
    return;
  }
  startGenerate(run);
});

export function showFormError(message) {
  ui.formErrorMessage.textContent = message;
  ui.formError.hidden = false;
}

function hideFormError() {
  ui.formError.hidden = true;
}

/** Runs `run` (begin() options) and streams it into the output. */
export function startGenerate(run) {
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
  ui.runExecutor.textContent = `Running on the ${executorShort(page.loaded)}…`;
  ui.runExecutor.dataset.executor = page.loaded.executor.kind;
  page.currentRun = { kind: 'generate', run, model: page.loaded };
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
  if (event.key === 'Escape' && page.state === 'generating') {
    event.preventDefault();
    requestStop();
  }
});

/** The form changed: keep it, update the settings' summary and what is not used at temperature 0. */
export function formChanged() {
  saveForm(ui, page.conversation);
  const { text, greedy } = settingsSummary(ui);
  ui.settingsSummary.textContent = text;
  ui.greedyNote.hidden = !greedy;
  for (const field of ui.form.querySelectorAll('.sampled')) field.classList.toggle('unused', greedy);
  ui.newSeedButton.disabled = greedy;
}

ui.form.addEventListener('input', formChanged);
ui.form.addEventListener('change', formChanged);

/** Shows the conversation so far above the prompt (multi-turn chat). */
export function renderConversation() {
  showConversation(ui, page.conversation);
}

// "Reply to this answer": the last prompt and answer become turns of the conversation.
ui.replyButton.addEventListener('click', () => {
  if (!page.lastGenerated) return;
  const { run, text } = page.lastGenerated;
  page.conversation = [...(run.messages ?? [{ role: 'user', content: run.prompt }]), { role: 'assistant', content: text }];
  page.lastGenerated = null;
  ui.replyButton.hidden = true;
  ui.chatToggle.checked = true;
  ui.prompt.value = '';
  renderConversation();
  formChanged();
  ui.prompt.focus();
});

ui.newConversationButton.addEventListener('click', () => {
  page.conversation = [];
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
export async function makeRunLink(finished, done) {
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
  const known = page.models.find((m) => m.sha256 === model.sha256);
  // A stopped run: the link asks for exactly the tokens it produced, and records them.
  if (stopped) tokens_hash = await tokensHash(token_ids);
  const run = stopped ? { ...finished.run, max_tokens: token_ids.length } : finished.run;
  const view = {
    // The spec the model ran under (exact-2 for Gemma); an engine before exact-2 reports none.
    spec: model.spec ?? page.engineSpec,
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
  if (page.currentRun !== null) return; // another run started meanwhile
  history.replaceState(null, '', `#${payload}`);
  const url = location.href;
  ui.linkText.value = url;
  ui.copyStatus.textContent = '';
  ui.shareLabel.textContent = stopped
    ? `Link to this run as far as it went (stopped after ${plural(token_ids.length, 'token')}; the link asks for that many). It contains your prompt: anyone with it can read the prompt and replay the run, getting the same tokens.`
    : 'Link to this run. It contains your prompt: anyone with it can read the prompt and replay the run, getting the same tokens.';
  ui.shareLocalWarning.hidden = !isLocalAddress(url);
  showShareExtras(url, known?.name ?? model.label);
  ui.share.hidden = false;
  recordRun({
    kind: stopped ? 'stopped' : 'generated',
    run,
    model: known?.name ?? model.label,
    verdict: stopped ? `stopped after ${plural(token_ids.length, 'token')}` : plural(token_ids.length, 'token'),
    url,
  });
  renderCite(ui.cite, {
    version: page.engineVersion,
    url,
    modelId: view.model.id,
    modelName: known?.name ?? model.label,
    sha256: model.sha256,
    spec: view.spec,
    tokens: token_ids.length,
    tokensHash: tokens_hash,
    doi: page.site.doi,
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

export function editRun(run) {
  page.conversation = fillForm(ui, run);
  renderConversation();
  formChanged();
  validateForm(ui);
  ui.prompt.focus();
  ui.prompt.scrollIntoView({ block: 'center' });
}

