// What a decoded link will run, shown in the link panel: model (with the list's name, size and
// licence when it is listed), input, settings, stop strings, spec and the expected output. All
// text from the link is set as text.

import { formatMB, plural } from './format.js';
import { licenceElement } from './manifest.js';

/** Fills the link panel's summary from `view` (link_decode's object); `entry`: its manifest entry or null. */
export function showLinkSummary(ui, view, entry) {
  const { model, run, expect } = view;
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
    `${run.temperature === '0' ? ' (greedy: top-k, top-p, min-p and the seed are not used)' : ''} · top-k ${run.top_k} · ` +
    `top-p ${run.top_p} · min-p ${run.min_p} · repetition penalty ${run.repeat_penalty} over ${run.repeat_last_n} · seed ${run.seed}`;
  const stops = run.stop ?? [];
  ui.linkStops.textContent = stops.length === 0 ? '(none)' : stops.join('\n');
  ui.linkSpec.textContent = view.spec;
  ui.linkExpected.textContent = expect
    ? `${plural(expect.token_ids.length, 'token')}, token ids SHA-256 ${expect.tokens_hash.slice(0, 16)}…`
    : 'no recorded output: a replay just runs it';
}
