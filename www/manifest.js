// The list of models (models/manifest.json): read, checked entry by entry, and what the page
// shows of an entry. Which engine runs which architecture is stated here too: the exact engine runs
// the architectures its spec defines (docs/numerics.md), the float reference those candle runs.

import { formatMB } from './format.js';

const MANIFEST_URL = 'models/manifest.json';

/** Architectures the exact engine runs today (crate/src/model). */
const EXACT_ARCHITECTURES = new Set(['llama']);

/** Whether `engine` ('exact' | 'float') can run the manifest entry; unknown architectures are tried. */
export function engineRuns(engine, entry) {
  if (engine !== 'exact' || typeof entry.architecture !== 'string') return true;
  return EXACT_ARCHITECTURES.has(entry.architecture);
}

export async function readManifest() {
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

/** The licence as a link when the manifest gives an http(s) address, else as plain text. */
export function licenceElement(model) {
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

/** The list row of a manifest entry: a radio (onChange when chosen), name, size, licence and badges. */
export function modelRow(model, checked, onChange) {
  const row = document.createElement('div');
  row.className = 'model';
  row.dataset.testid = `model-${model.id}`;

  const radio = document.createElement('input');
  radio.type = 'radio';
  radio.name = 'model';
  radio.value = model.id;
  radio.id = `model-option-${model.id}`;
  radio.dataset.testid = `model-option-${model.id}`;
  radio.checked = checked;
  radio.addEventListener('change', onChange);

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
  const unsupported = document.createElement('span');
  unsupported.className = 'badge warning';
  unsupported.dataset.testid = 'model-unsupported';
  unsupported.hidden = true;
  label.append(name, meta, saved, unsupported);

  row.append(radio, label, licenceElement(model));
  return row;
}
