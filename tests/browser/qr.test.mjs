// The page's QR encoder (www/qr.js): Reed–Solomon against a published vector, the version and
// level chosen for a length, and, decoded back by an independent decoder (jsQR), the SVG the page
// draws, rendered by Chromium onto a canvas, for links from 40 to 2,600 characters (versions 3 to
// 40, levels M and L), with every mask.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import jsQR from 'jsqr';
import { launchBrowser } from './lib/browser.mjs';
import { startServer } from './lib/server.mjs';
import { QrTooLongError, encodeQr, rsGenerator, rsRemainder } from '../../www/qr.js';

let server;
let browser;
let page;

before(async () => {
  server = await startServer();
  browser = await launchBrowser({ webgpu: false });
  page = await browser.context.newPage();
  // Any page of the site: qr.js is imported from it (same origin, under its CSP).
  await page.goto(`${server.url}conformance.html`);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('Reed–Solomon codewords match the published "HELLO WORLD" 1-M example', () => {
  // Data and error correction codewords of "HELLO WORLD", version 1-M (thonky.com's QR tutorial,
  // "Error Correction Coding", which follows ISO/IEC 18004).
  const data = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17];
  assert.deepEqual(rsRemainder(data, rsGenerator(10)), [196, 35, 39, 119, 235, 215, 231, 226, 93, 23]);
});

test('the smallest version is chosen, level M while it fits and L beyond', () => {
  // Byte-mode capacities (ISO/IEC 18004 table 7): 1-M holds 14 bytes, 40-M 2,331, 40-L 2,953.
  assert.deepEqual([encodeQr('a'.repeat(14)).version, encodeQr('a'.repeat(14)).level], [1, 'M']);
  assert.equal(encodeQr('a'.repeat(15)).version, 2);
  assert.deepEqual([encodeQr('a'.repeat(2331)).version, encodeQr('a'.repeat(2331)).level], [40, 'M']);
  // Past 40-M, level L from the smallest version that holds it.
  assert.deepEqual([encodeQr('a'.repeat(2332)).version, encodeQr('a'.repeat(2332)).level], [36, 'L']);
  assert.equal(encodeQr('a'.repeat(2953)).level, 'L');
  assert.throws(() => encodeQr('a'.repeat(2954)), QrTooLongError);
});

/** A link of exactly `length` characters, like the page makes (base64url after "#v1."). */
function linkOfLength(length, seed) {
  const head = 'https://example.org/verbatim/#v1.';
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let x = seed;
  let body = '';
  while (head.length + body.length < length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    body += alphabet[x % 64];
  }
  return head + body;
}

/**
 * Draws qrSvg(text) as the page does, rasterised by Chromium at 4 px per module, and decodes the
 * pixels with jsQR. Resolves to {text, version, level}.
 */
async function renderAndDecode(text, mask = null) {
  const { width, height, gray, version, level } = await page.evaluate(
    async ({ text, mask }) => {
      const { encodeQr, qrSvg } = await import('/qr.js');
      const svg = qrSvg(text);
      if (mask !== null) {
        // The same symbol with a forced mask, drawn by the same path code.
        const { qrPath } = await import('/qr.js');
        svg.querySelector('path').setAttribute('d', qrPath(encodeQr(text, { mask })));
      }
      document.body.replaceChildren(svg);
      const extent = Number(svg.getAttribute('viewBox').split(' ')[2]);
      const scale = 4;
      const source = new XMLSerializer().serializeToString(svg);
      const image = new Image();
      image.src = `data:image/svg+xml;base64,${btoa(source)}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = extent * scale;
      const ctx = canvas.getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let gray = '';
      for (let i = 0; i < data.length; i += 4) gray += String.fromCharCode(data[i]);
      return { width: canvas.width, height: canvas.height, gray: btoa(gray), version: svg.dataset.version, level: svg.dataset.level };
    },
    { text, mask },
  );
  const g = Buffer.from(gray, 'base64');
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < g.length; i++) {
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = g[i];
    rgba[4 * i + 3] = 255;
  }
  const decoded = jsQR(rgba, width, height, { inversionAttempts: 'dontInvert' });
  return { text: decoded?.data ?? null, version: Number(version), level };
}

test('the SVG the page draws decodes back to the link, from 40 to 2,600 characters', async () => {
  const seen = [];
  for (const [length, seed] of [[40, 1], [120, 2], [400, 3], [900, 4], [1500, 5], [2300, 6], [2600, 7]]) {
    const link = linkOfLength(length, seed);
    const got = await renderAndDecode(link);
    assert.equal(got.text, link, `a ${length}-character link (version ${got.version}-${got.level}) did not decode back`);
    seen.push(`${length}:${got.version}-${got.level}`);
  }
  // Long links reach the top versions, and past 2,331 bytes level L.
  assert.deepEqual(seen, ['40:3-M', '120:7-M', '400:15-M', '900:24-M', '1500:32-M', '2300:40-M', '2600:38-L']);
});

test('every mask gives a symbol that decodes', async () => {
  const link = linkOfLength(300, 9);
  for (let mask = 0; mask < 8; mask++) {
    const got = await renderAndDecode(link, mask);
    assert.equal(got.text, link, `mask ${mask}`);
  }
});
