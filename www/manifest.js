// The list of models (models/manifest.json): read, checked entry by entry, and what the page
// shows of an entry. Which engine runs which architecture is stated here too: the exact engine runs
// the architectures its spec defines (docs/numerics.md), the float reference those candle runs.

import { formatMB } from './format.js';

const MANIFEST_URL = 'models/manifest.json';

/** Architectures the exact engine runs, each with the first numeric spec that defines it (docs/numerics.md). */
const EXACT_ARCHITECTURES = new Map([
  ['llama', 'exact-1'],
  ['gemma3', 'exact-2'],
]);
/** Block formats of spec exact-1; every other one the exact engine runs is exact-2's (crate/src/model spec_of). */
const EXACT_1_QUANTIZATIONS = new Set(['Q4_1', 'Q8_0']);

/**
 * The numeric spec the exact engine runs a manifest entry under: exact-2 for gemma3 or for a block
 * format exact-1 does not define, else exact-1; null for an architecture it does not run (or an
 * entry that does not say).
 */
export function exactSpecOf(entry) {
  const spec = EXACT_ARCHITECTURES.get(entry?.architecture);
  if (spec === undefined) return null;
  if (typeof entry.quantization === 'string' && !EXACT_1_QUANTIZATIONS.has(entry.quantization)) return 'exact-2';
  return spec;
}

/**
 * Whether `engine` ('exact' | 'float') can run the manifest entry; unknown architectures are tried.
 * specs: the numeric specs the running engine replays (its `ready` message), null while unknown.
 */
export function engineRuns(engine, entry, specs = null) {
  if (engine !== 'exact' || typeof entry.architecture !== 'string') return true;
  const spec = exactSpecOf(entry);
  return spec !== null && (specs === null || specs.includes(spec));
}

/** Whether the entry is a base model (`base_model` in the manifest): a raw prompt, no chat template. */
export function isBaseModel(entry) {
  return entry?.base_model === true;
}

/**
 * The manifest: {models, site}. Each model gets `download`, the absolute address its file is
 * fetched from: its public `url` where the manifest names one (a built site: docs/releasing.md),
 * else the copy this server keeps under models/cache/ (`make serve`). `site` (a built site only,
 * else defaults): {engines: {spec: folder}, engine: the default spec, model_origins: origins allowed
 * besides https: and this page's own, doi}.
 */
export async function readManifestFile() {
  const address = new URL(MANIFEST_URL, location.href);
  let response;
  try {
    response = await fetch(address, { cache: 'no-cache' });
  } catch (error) {
    throw new Error(`the server could not be reached (${error.message})`);
  }
  if (!response.ok) throw new Error(`the server answered HTTP ${response.status} for ${MANIFEST_URL}`);
  const manifest = await response.json();
  if (!Array.isArray(manifest?.models)) throw new Error(`${MANIFEST_URL} has no "models" list`);
  const models = manifest.models.filter((entry) => {
    const ok =
      typeof entry?.id === 'string' &&
      typeof entry.name === 'string' &&
      typeof entry.file === 'string' &&
      /^[A-Za-z0-9._-]+$/.test(entry.file) &&
      Number.isSafeInteger(entry.size) &&
      entry.size > 0 &&
      /^[0-9a-f]{64}$/.test(entry.sha256 ?? '') &&
      (entry.url === undefined || parses(entry.url));
    if (!ok) console.warn('Skipping a malformed manifest entry', entry);
    return ok;
  });
  for (const entry of models) {
    entry.download = entry.url !== undefined ? new URL(entry.url).href : new URL(`cache/${encodeURIComponent(entry.file)}`, address).href;
  }
  return { models, site: siteSettings(manifest.site) };
}

function parses(text) {
  try {
    new URL(text); // eslint-disable-line no-new
    return true;
  } catch {
    return false;
  }
}

/** The manifest's `site` object, checked; defaults where it is absent (the page served from www/). */
function siteSettings(site) {
  const engines = {};
  for (const [spec, folder] of Object.entries(site?.engines ?? {})) {
    // A relative folder of this site, e.g. "engine/exact-1/".
    if (/^[a-z0-9-]{1,32}$/.test(spec) && typeof folder === 'string' && /^[A-Za-z0-9._/-]+\/$/.test(folder) && !folder.startsWith('/')) {
      engines[spec] = folder;
    }
  }
  const origins = Array.isArray(site?.model_origins) ? site.model_origins.filter((o) => typeof o === 'string' && parses(o) && new URL(o).origin === o) : [];
  return {
    engines,
    engine: typeof site?.engine === 'string' && engines[site.engine] ? site.engine : null,
    modelOrigins: origins,
    doi: typeof site?.doi === 'string' && /^10\.\d{4,9}\/\S+$/.test(site.doi) ? site.doi : null,
  };
}

/** The manifest's models (see readManifestFile). */
export async function readManifest() {
  return (await readManifestFile()).models;
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
  const base = document.createElement('span');
  base.className = 'badge';
  base.dataset.testid = 'model-base';
  base.textContent = 'base model: raw prompt, no chat template';
  base.hidden = !isBaseModel(model);
  const unsupported = document.createElement('span');
  unsupported.className = 'badge warning';
  unsupported.dataset.testid = 'model-unsupported';
  unsupported.hidden = true;
  label.append(name, meta, base, saved, unsupported);

  row.append(radio, label, licenceElement(model));
  return row;
}
