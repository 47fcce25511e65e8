// Links as people paste them, and the model addresses links name. No DOM here: the worker imports
// this module too, so that a model address is checked in the page and again in the worker.
//
// Link payloads are "v<digits>." followed by base64url (docs/links.md), so no character outside
// [A-Za-z0-9._-] belongs to one: whatever an e-mail, a Markdown file or a PDF adds around or inside
// a link (spaces, line breaks, a closing "." or ")", angle brackets) can be removed safely.

import { plural } from './format.js';

/** Characters that are invisible or reorder text: shown escaped wherever an address is shown. */
// C0/C1 controls, soft hyphen, combining grapheme joiner, Arabic letter mark, Hangul fillers,
// zero-width and bidi marks, embeddings/overrides/isolates, word joiner and invisible operators,
// BOM, interlinear annotation and Unicode tags.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

/** `text` with every invisible or reordering character written as \u{…}. */
export function escapeInvisible(text) {
  return String(text).replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0).toString(16).toUpperCase()}}`);
}

/**
 * The link payload ("v1.…") in what someone pasted: a full address, "#v1.…" or the bare payload,
 * with surrounding or inserted whitespace, line breaks, quotes, brackets and trailing punctuation
 * removed. Returns {payload} or {error: what to do}.
 */
export function tidyLink(text) {
  let s = String(text ?? '');
  // An address bar percent-encodes spaces and quotes after the link ("%20", "%22").
  try {
    s = decodeURIComponent(s);
  } catch {
    // a lone '%': left for the checks below
  }
  // Line breaks and spaces inside: a link wrapped by a mail program or a PDF.
  s = s.replace(/\s+/g, '');
  const hash = s.indexOf('#');
  if (hash >= 0) s = s.slice(hash + 1);
  // Characters that cannot be in a payload, around it: <…>, (…), "…", a closing full stop.
  s = s.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9_-]+$/, '');
  if (s === '') return { error: 'This is not a Verbatim link: paste a whole link, which has “#v1.” in it.' };
  const match = /^v(\d+)\.([A-Za-z0-9_-]*)$/.exec(s);
  if (!match) {
    if (!/^v\d/.test(s)) return { error: 'This is not a Verbatim link: paste a whole link, which has “#v1.” in it.' };
    const bad = /[^A-Za-z0-9._-]/u.exec(s.replace(/^v\d+\./, ''));
    return {
      error:
        `The link contains ${bad ? `the character “${escapeInvisible(bad[0])}”, which cannot be in a link` : 'something that cannot be in a link'}: ` +
        'copy it again from its source.',
    };
  }
  return { payload: s };
}

/**
 * Whether a model address may be fetched: only https:, this page's own origin, or one of
 * `extraOrigins` (the site's `model_origins`, e.g. a test's local model host). `origin` is the
 * page's (or the worker's) location.origin. Returns {ok: true, url} or {ok: false, why}.
 */
export function checkModelUrl(address, origin, extraOrigins = []) {
  let url;
  try {
    url = new URL(String(address));
  } catch {
    return { ok: false, why: 'it is not a valid web address' };
  }
  const web = url.protocol === 'https:' || url.protocol === 'http:';
  if (web && (url.origin === origin || extraOrigins.includes(url.origin))) return { ok: true, url };
  if (url.protocol !== 'https:') {
    return { ok: false, why: `only https: addresses are fetched, and this one is ${escapeInvisible(url.protocol)}` };
  }
  if (url.username || url.password) return { ok: false, why: 'it contains a user name or password' };
  return { ok: true, url };
}

/**
 * An address as it is safe to show: {host, text}. A valid URL is shown normalised (punycode host,
 * percent-encoded path, via `new URL()`); anything else with its invisible characters escaped.
 */
export function displayUrl(address) {
  try {
    const url = new URL(String(address));
    return { host: escapeInvisible(url.host || url.protocol), text: escapeInvisible(url.href) };
  } catch {
    return { host: null, text: escapeInvisible(address) };
  }
}

/** Whether a page address is only reachable from this machine (a link made there works only here). */
export function isLocalAddress(href) {
  try {
    const { hostname } = new URL(href);
    return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname) || hostname === '0.0.0.0';
  } catch {
    return false;
  }
}

/**
 * A replay's verdict in words: {result, detail}. `expect` is the link's {token_ids, tokens_hash}
 * or null; `got` the ids the replay produced, `texts` their texts; `divergence` the worker's
 * {index, expected_text} (expected_text null for an id outside the vocabulary, which is a
 * divergence like any other).
 */
export function replayVerdict({ expect, got, texts, tokensHash, divergence, stopped, where }) {
  if (stopped) return { result: `The replay was stopped after ${plural(got.length, 'token')}.`, detail: '' };
  if (!expect) {
    return {
      result: `Ran ${plural(got.length, 'token')} (sha256 ${String(tokensHash).slice(0, 16)}); the link records no output to compare with.`,
      detail: '',
    };
  }
  const want = expect.token_ids;
  let k = 0;
  while (k < want.length && k < got.length && want[k] === got[k]) k += 1;
  if (k === want.length && k === got.length && tokensHash === expect.tokens_hash) {
    return { result: `Reproduced exactly: ${got.length}/${want.length} tokens (sha256 ${tokensHash.slice(0, 16)}) on the ${where}`, detail: '' };
  }
  let expectedText = '';
  if (divergence?.index === k) {
    expectedText = divergence.expected_text === null ? ' (not in this model’s vocabulary)' : ` (${JSON.stringify(divergence.expected_text)})`;
  }
  const expected = k < want.length ? `token id ${want[k]}${expectedText}` : 'the end of the output';
  const produced = k < got.length ? `token id ${got[k]} (${JSON.stringify(texts[k] ?? '')})` : 'the end of the output';
  return {
    result: `Diverged at token ${k + 1}: expected ${expected}, got ${produced}`,
    detail: `Same text up to the divergence (${plural(k, 'token')}): ${JSON.stringify(texts.slice(0, k).join(''))}`,
  };
}
