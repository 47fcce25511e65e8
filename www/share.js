// Sharing a run: the "Cite this run" block (plain text and BibTeX, each with a copy button, and the
// link's QR code), copying to the clipboard, the token ids' hash of a stopped run, the address
// bar's link, and beside "Copy link" the link's QR code and "Embed" (an <iframe> of embed.html).

import { plural } from './format.js';
import { QrTooLongError, qrSvg } from './qr.js';

// The embed card's size in the <iframe> snippet (embed.css fits it down to 320 px wide).
const EMBED_WIDTH = 600;
const EMBED_HEIGHT = 400;

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
 * The QR code of `url` in a figure: a button that enlarges it (a long link makes a dense code), and
 * a caption. A link too long for any QR code gets a sentence instead.
 */
export function qrFigure(url, { testid, caption }) {
  const figure = document.createElement('figure');
  figure.className = 'qr';
  figure.dataset.testid = testid;
  let svg;
  try {
    svg = qrSvg(url, { label: `QR code of the link ${url.slice(0, 60)}…` });
  } catch (error) {
    if (!(error instanceof QrTooLongError)) throw error;
    figure.textContent = 'This link is too long for a QR code.';
    return figure;
  }
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'qr-toggle';
  button.setAttribute('aria-pressed', 'false');
  button.title = 'Enlarge the QR code';
  button.append(svg);
  button.addEventListener('click', () => {
    const large = figure.classList.toggle('large');
    button.setAttribute('aria-pressed', String(large));
    button.title = large ? 'Make the QR code smaller' : 'Enlarge the QR code';
  });
  const text = document.createElement('figcaption');
  text.textContent = caption;
  figure.append(button, text);
  return figure;
}

/** The embed view's address for a run's link: embed.html beside the page, with the same fragment. */
export function embedUrl(url) {
  const link = new URL(url);
  return new URL(`embed.html${link.hash}`, link).href;
}

/** The <iframe> snippet that shows a run's embed card; `title` names it for screen readers. */
export function embedSnippet(url, title) {
  const attr = (text) => String(text).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<iframe src="${attr(embedUrl(url))}" title="${attr(title)}" width="${EMBED_WIDTH}" height="${EMBED_HEIGHT}" loading="lazy"></iframe>`;
}

const shareQr = document.querySelector('[data-testid="share-qr"]');
const embedButton = document.querySelector('[data-testid="embed-button"]');
const copyStatus = document.querySelector('[data-testid="copy-status"]');
let embedCode = '';

/** Beside "Copy link", once a run has a link: its QR code, and what "Embed" copies. */
export function showShareExtras(url, modelName) {
  shareQr.replaceChildren(qrFigure(url, { testid: 'share-qr-figure', caption: 'Scan to open this run' }));
  embedCode = embedSnippet(url, `Verbatim: a run of ${modelName} that replays in your browser`);
  embedButton.dataset.snippet = embedCode;
}

embedButton?.addEventListener('click', async () => {
  if (embedCode === '') return;
  await copyText(embedCode, copyStatus);
  if (copyStatus.textContent === 'Copied.') copyStatus.textContent = 'Copied the embed code (an <iframe>): paste it into a web page.';
});

/**
 * A "Cite this run" block: plain text, a BibTeX @misc entry (all set as text) and the link's QR
 * code. `doi`: the archived release's DOI (the site's setting, docs/releasing.md), or null.
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
    qrFigure(url, { testid: 'cite-qr', caption: 'The link as a QR code, for print and slides' }),
  );
  container.hidden = false;
}
