// Sharing a run: the "Cite this run" block (plain text and BibTeX, each with a copy button), copying
// to the clipboard, the token ids' hash of a stopped run, and the address bar's link.

import { plural } from './format.js';

/** Copies `text`; says so in `status`. */
export async function copyText(text, status) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = 'Copied.';
  } catch {
    status.textContent = 'The browser did not allow copying: select the text and copy it with Ctrl+C.';
  }
}

/** Removes a link from the address bar (a new run is not the old link's run). */
export function clearAddressLink() {
  if (location.hash !== '') history.replaceState(null, '', `${location.pathname}${location.search}`);
}

/** SHA-256 of token ids as the engine writes it (each id as 4 little-endian bytes, crate/src/engine.rs). */
export async function tokensHash(ids) {
  const bytes = new Uint8Array(ids.length * 4);
  const view = new DataView(bytes.buffer);
  ids.forEach((id, i) => view.setUint32(i * 4, id, true));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A "Cite this run" block: plain text and a BibTeX @misc entry, all set as text. `doi`: the
 * archived release's DOI (the site's setting, docs/releasing.md), or null.
 */
export function renderCite(container, { version, url, modelId, modelName, sha256, spec, tokens, tokensHash, doi = null }) {
  const date = new Date().toISOString().slice(0, 10);
  const software = doi ? `Verbatim ${version} (https://doi.org/${doi})` : `Verbatim ${version}`;
  const plainText =
    `${modelName} (${modelId}, GGUF SHA-256 ${sha256}), ${plural(tokens, 'token')} generated with ` +
    `${software}, numeric spec ${spec}; token ids SHA-256 ${tokensHash}. ` +
    `Replay: ${url} (accessed ${date}).`;
  const clean = (text) => String(text).replace(/[{}\\]/g, '');
  const bibtex = [
    `@misc{verbatim-${tokensHash.slice(0, 16)},`,
    `  title        = {Verbatim run of ${clean(modelId)}},`,
    `  howpublished = {\\url{${clean(url)}}},`,
    `  note         = {Model ${clean(modelId)}, GGUF SHA-256 ${sha256}; numeric spec ${clean(spec)}; ` +
      `${tokens} tokens, token ids SHA-256 ${tokensHash}; Verbatim ${clean(version)}${doi ? `, doi:${clean(doi)}` : ''}},`,
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
  const status = document.createElement('p');
  status.className = 'muted';
  status.setAttribute('aria-live', 'polite');
  const copyButton = (label, testid, text) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = label;
    button.dataset.testid = testid;
    button.addEventListener('click', () => copyText(text, status));
    return button;
  };
  container.replaceChildren(
    heading,
    plain,
    copyButton('Copy citation', 'copy-cite-text', plainText),
    bib,
    copyButton('Copy BibTeX', 'copy-cite-bibtex', bibtex),
    status,
  );
  container.hidden = false;
}
