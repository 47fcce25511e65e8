// The page's pure modules in Node, without a browser: how pasted links are tidied, which model
// addresses may be fetched and how they are shown, the engine's rules for the form's fields, and
// replay verdicts (www/links.js, www/settings.js). The browser tests cover the same paths end to end.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkModelUrl, displayUrl, escapeInvisible, isLocalAddress, replayVerdict, tidyLink } from '../../www/links.js';
import { decimalError, integerError, parseFixed, seedError } from '../../www/settings.js';

const PAYLOAD = 'v1.AbC-_09xyzXYZ';

test('a link survives what mail, Markdown and PDFs do to it; what cannot be mended says what to do', () => {
  for (const pasted of [
    PAYLOAD,
    `#${PAYLOAD}`,
    `https://example.org/verbatim/#${PAYLOAD}`,
    `  https://example.org/#${PAYLOAD}.  `,
    `<https://example.org/#${PAYLOAD}>`,
    `(https://example.org/#${PAYLOAD}).`,
    `"${PAYLOAD}",`,
    `https://example.org/#v1.AbC-\n_09xyz\r\nXYZ`,
    `https://example.org/#${PAYLOAD}%20`,
    `${PAYLOAD}!?`,
  ]) {
    assert.deepEqual(tidyLink(pasted), { payload: PAYLOAD }, JSON.stringify(pasted));
  }
  for (const [pasted, message] of [
    ['', /not a Verbatim link/],
    ['hello', /not a Verbatim link/],
    ['https://example.org/', /not a Verbatim link/],
    ['v1.abc<def', /the character “<”.*copy it again from its source/],
    ['v1.abc\u202edef', /the character “\\u\{202E\}”/],
  ]) {
    assert.match(tidyLink(pasted).error ?? '(no error)', message, JSON.stringify(pasted));
  }
});

test('only https: or the page’s own site is fetched, and addresses are shown normalised', () => {
  const origin = 'http://127.0.0.1:8080';
  assert.equal(checkModelUrl('https://example.org/m.gguf', origin).ok, true);
  assert.equal(checkModelUrl('http://127.0.0.1:8080/models/cache/m.gguf', origin).ok, true);
  for (const [address, why] of [
    ['http://example.org/m.gguf', /only https: .* http:/],
    ['http://127.0.0.1:9999/m.gguf', /only https: .* http:/],
    ['javascript:alert(1)', /only https: .* javascript:/],
    ['data:application/octet-stream;base64,R0dVRg==', /only https: .* data:/],
    ['blob:https://example.org/1234', /only https: .* blob:/],
    ['file:///etc/passwd', /only https: .* file:/],
    ['ftp://example.org/m.gguf', /only https: .* ftp:/],
    ['https://user:secret@example.org/m.gguf', /user name or password/],
    ['https://ex\u202eample.org/m.gguf', /not a valid web address/],
    ['not a url', /not a valid web address/],
  ]) {
    const got = checkModelUrl(address, origin);
    assert.equal(got.ok, false, address);
    assert.match(got.why, why, address);
  }
  assert.deepEqual(displayUrl('https://b\u00fccher.example/m\u202egguf'), {
    host: 'xn--bcher-kva.example',
    text: 'https://xn--bcher-kva.example/m%E2%80%AEgguf',
  });
  assert.deepEqual(displayUrl('https://ex\u202eample.org/\u200bm'), { host: null, text: 'https://ex\\u{202E}ample.org/\\u{200B}m' });
  assert.equal(escapeInvisible('a\u0000b\u2066c\ufeffd\u{e0041}'), 'a\\u{0}b\\u{2066}c\\u{FEFF}d\\u{E0041}');
  assert.equal(isLocalAddress('http://127.0.0.1:8080/#v1.x'), true);
  assert.equal(isLocalAddress('http://localhost/'), true);
  assert.equal(isLocalAddress('https://example.org/'), false);
});

test('the form’s fields follow the engine’s rules exactly', () => {
  assert.equal(parseFixed('0.7', 3).value, 700n);
  assert.equal(parseFixed('0.7000', 3).value, 700n, 'extra zero digits are allowed, as in the engine');
  assert.equal(parseFixed('10', 3).value, 10_000n);
  assert.equal(parseFixed('0.000001', 6).value, 1n);
  assert.equal(decimalError('temperature', '0.0005'), 'at most three decimals (the engine computes in thousandths)');
  assert.equal(decimalError('temperature', '10.001'), 'from 0 to 10');
  assert.equal(decimalError('temperature', '1e-3'), 'write a decimal number such as 0.7');
  assert.equal(decimalError('temperature', '-1'), 'write a decimal number such as 0.7');
  assert.equal(decimalError('temperature', ''), 'required');
  assert.equal(decimalError('top_p', '0.0000001'), 'at most six decimals (the engine computes in millionths)');
  assert.equal(decimalError('top_p', '1.5'), 'from 0 to 1');
  assert.equal(decimalError('repeat_penalty', '0.05'), 'from 0.1 to 10');
  assert.equal(decimalError('repeat_penalty', '1.25'), null);
  assert.equal(integerError('0', 1, 4096), 'a whole number from 1 to 4096');
  assert.equal(integerError('2.5', 1, 4096), 'a whole number');
  assert.equal(integerError('64', 1, 4096), null);
  assert.equal(seedError('18446744073709551615'), null);
  assert.match(seedError('18446744073709551616'), /from 0 to 18446744073709551615/);
  assert.match(seedError('-1'), /whole number/);
});

test('replay verdicts: exact, diverged (also at an id outside the vocabulary), stopped, nothing to compare', () => {
  const expect = { token_ids: [1, 2, 3], tokens_hash: 'ab'.repeat(32) };
  const texts = ['a', 'b', 'c'];
  assert.equal(
    replayVerdict({ expect, got: [1, 2, 3], texts, tokensHash: expect.tokens_hash, divergence: null, stopped: false, where: 'CPU' }).result,
    'Reproduced exactly: 3/3 tokens (sha256 abababababababab) on the CPU',
  );
  const oov = replayVerdict({
    expect: { token_ids: [1, 4_000_000], tokens_hash: 'cd'.repeat(32) },
    got: [1, 7],
    texts: ['a', 'x'],
    tokensHash: 'ef'.repeat(32),
    divergence: { index: 1, expected_text: null },
    stopped: false,
    where: 'CPU',
  });
  assert.equal(oov.result, 'Diverged at token 2: expected token id 4000000 (not in this model’s vocabulary), got token id 7 ("x")');
  assert.equal(oov.detail, 'Same text up to the divergence (1 token): "a"');
  assert.equal(
    replayVerdict({ expect, got: [1, 2, 3, 4], texts: [...texts, 'd'], tokensHash: 'x', divergence: null, stopped: false, where: 'GPU' }).result,
    'Diverged at token 4: expected the end of the output, got token id 4 ("d")',
  );
  assert.equal(replayVerdict({ expect, got: [1], texts, tokensHash: null, divergence: null, stopped: true, where: 'CPU' }).result, 'The replay was stopped after 1 token.');
  assert.match(replayVerdict({ expect: null, got: [5, 6], texts, tokensHash: '12'.repeat(32), stopped: false, where: 'CPU' }).result, /^Ran 2 tokens .*no output to compare/);
});
