// QR codes of links, drawn as SVG in the page: byte mode, error correction level M (L when a link
// is too long for M), versions 1 to 40. No DOM outside qrSvg(), so the tests can run the encoder
// in Node too.
//
// Follows ISO/IEC 18004:2015 (QR Code Model 2): data encoding in byte mode (section 7.4.5),
// terminator and pad codewords (7.4.10), Reed–Solomon error correction over GF(256) with the
// polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator roots 2^0 … 2^(n-1) (7.5.2), block
// structure and interleaving (table 9, 7.6), module placement (7.7.3), the eight data masks and
// the penalty rules N1 = 3, N2 = 3, N3 = 40, N4 = 10 (7.8), format information (BCH(15,5),
// generator 0x537, XOR 0x5412, 7.9) and version information (BCH(18,6), generator 0x1F25, 7.10).
// Project Nayuki's "QR Code generator library" (MIT, https://www.nayuki.io/page/qr-code-generator-library)
// is the reference this was written against; the tables below are the standard's, as it gives them.

/** Error correction codewords per block, by level and version (index 0 unused). ISO/IEC 18004 table 9. */
const ECC_PER_BLOCK = {
  L: [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  M: [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
};

/** Number of error correction blocks, by level and version (index 0 unused). ISO/IEC 18004 table 9. */
const BLOCKS = {
  L: [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  M: [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
};

/** The two bits of each level in the format information (7.9.1). */
const LEVEL_BITS = { L: 1, M: 0 };

export const MAX_VERSION = 40;

/** A QR code cannot hold the text: too long even at version 40, level L. */
export class QrTooLongError extends Error {
  constructor(bytes) {
    super(`${bytes} bytes do not fit in a QR code (at most ${dataCodewords(MAX_VERSION, 'L') - 3} in byte mode)`);
    this.name = 'QrTooLongError';
  }
}

/** Modules left for data and error correction (with remainder bits) in a symbol of `version`. */
export function rawDataModules(version) {
  const size = version * 4 + 17;
  let n = size * size;
  n -= 3 * 64; // finder patterns with their separators
  n -= 2 * (size - 16); // timing patterns, between the separators
  n -= 2 * 15 + 1; // format information (two copies) and the dark module
  if (version >= 2) {
    const k = alignmentPositions(version).length;
    n -= (k * k - 3) * 25; // alignment patterns not on a finder
    n += 2 * (k - 2) * 5; // … counted twice where they cross a timing pattern
  }
  if (version >= 7) n -= 2 * 18; // version information (two copies)
  return n;
}

/** Data codewords of a symbol of `version` at `level`. */
export function dataCodewords(version, level) {
  return Math.floor(rawDataModules(version) / 8) - ECC_PER_BLOCK[level][version] * BLOCKS[level][version];
}

/** Centre coordinates of the alignment patterns (the same on both axes); none in version 1. */
export function alignmentPositions(version) {
  if (version === 1) return [];
  const size = version * 4 + 17;
  const count = Math.floor(version / 7) + 2;
  const step = version === 32 ? 26 : Math.ceil((size - 13) / (count * 2 - 2)) * 2;
  const positions = [6];
  for (let pos = size - 7; positions.length < count; pos -= step) positions.splice(1, 0, pos);
  return positions;
}

// ---------------------------------------------------------------------------------------------
// GF(256) and Reed–Solomon

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

function gfMul(a, b) {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]];
}

/** Coefficients of (x - 2^0)(x - 2^1)…(x - 2^(degree-1)), highest power first, without the leading 1. */
export function rsGenerator(degree) {
  let poly = [1];
  for (let i = 0; i < degree; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

/** The remainder of data·x^n divided by the generator: the n error correction codewords. */
export function rsRemainder(data, generator) {
  const rem = new Array(generator.length).fill(0);
  for (const byte of data) {
    const factor = byte ^ rem.shift();
    rem.push(0);
    for (let i = 0; i < generator.length; i++) rem[i] ^= gfMul(generator[i], factor);
  }
  return rem;
}

// ---------------------------------------------------------------------------------------------
// Data codewords

/** The smallest version and level (M preferred, then L) that hold `length` bytes in byte mode. */
function chooseVersion(length) {
  for (const level of ['M', 'L']) {
    for (let version = 1; version <= MAX_VERSION; version++) {
      const countBits = version <= 9 ? 8 : 16;
      const bits = 4 + countBits + 8 * length;
      if (length < 2 ** countBits && bits <= dataCodewords(version, level) * 8) return { version, level };
    }
  }
  throw new QrTooLongError(length);
}

/** Mode indicator, character count, the bytes, terminator and pad codewords (7.4). */
function dataCodewordsOf(bytes, version, level) {
  const capacity = dataCodewords(version, level) * 8;
  const bits = [];
  const push = (value, count) => {
    for (let i = count - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  push(0b0100, 4); // byte mode
  push(bytes.length, version <= 9 ? 8 : 16);
  for (const b of bytes) push(b, 8);
  push(0, Math.min(4, capacity - bits.length)); // terminator
  push(0, (8 - (bits.length % 8)) % 8);
  for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) push(pad, 8);
  const out = new Array(capacity / 8).fill(0);
  bits.forEach((bit, i) => (out[i >>> 3] |= bit << (7 - (i & 7))));
  return out;
}

/** Data split into blocks, each with its error correction, interleaved (7.6). */
function interleave(data, version, level) {
  const blocks = BLOCKS[level][version];
  const eccLength = ECC_PER_BLOCK[level][version];
  const total = Math.floor(rawDataModules(version) / 8);
  const shortBlocks = blocks - (total % blocks);
  const shortData = Math.floor(total / blocks) - eccLength;
  const generator = rsGenerator(eccLength);
  const dataBlocks = [];
  const eccBlocks = [];
  for (let i = 0, k = 0; i < blocks; i++) {
    const length = shortData + (i < shortBlocks ? 0 : 1);
    const block = data.slice(k, k + length);
    k += length;
    dataBlocks.push(block);
    eccBlocks.push(rsRemainder(block, generator));
  }
  const out = [];
  for (let i = 0; i <= shortData; i++) for (const block of dataBlocks) if (i < block.length) out.push(block[i]);
  for (let i = 0; i < eccLength; i++) for (const block of eccBlocks) out.push(block[i]);
  if (out.length !== total) throw new Error('QR codeword count mismatch');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The symbol

class Grid {
  constructor(size) {
    this.size = size;
    this.dark = new Uint8Array(size * size);
    this.reserved = new Uint8Array(size * size); // function patterns: not data, not masked
  }

  get(x, y) {
    return this.dark[y * this.size + x];
  }

  setFunction(x, y, dark) {
    this.dark[y * this.size + x] = dark ? 1 : 0;
    this.reserved[y * this.size + x] = 1;
  }
}

function drawFunctionPatterns(grid, version) {
  const { size } = grid;
  for (let i = 0; i < size; i++) {
    grid.setFunction(6, i, i % 2 === 0);
    grid.setFunction(i, 6, i % 2 === 0);
  }
  // Finder patterns with their light separators (7.3.2, 7.3.3).
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) continue;
        const ring = Math.max(Math.abs(dx), Math.abs(dy));
        grid.setFunction(x, y, ring !== 2 && ring !== 4);
      }
    }
  }
  // Alignment patterns, except where they would overlap a finder (7.3.5).
  const positions = alignmentPositions(version);
  const last = positions.length - 1;
  positions.forEach((cy, i) =>
    positions.forEach((cx, j) => {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) grid.setFunction(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }),
  );
  drawFormat(grid, 'M', 0); // reserves the format areas; drawn again with the chosen mask
  if (version >= 7) {
    let rem = version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) === 1;
      const a = size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      grid.setFunction(a, b, dark);
      grid.setFunction(b, a, dark);
    }
  }
}

/** The 15 format bits (level and mask with their BCH code) in both places, and the dark module. */
function drawFormat(grid, level, mask) {
  const data = (LEVEL_BITS[level] << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  const bits = ((data << 10) | rem) ^ 0x5412;
  const bit = (i) => ((bits >>> i) & 1) === 1;
  const { size } = grid;
  for (let i = 0; i <= 5; i++) grid.setFunction(8, i, bit(i));
  grid.setFunction(8, 7, bit(6));
  grid.setFunction(8, 8, bit(7));
  grid.setFunction(7, 8, bit(8));
  for (let i = 9; i < 15; i++) grid.setFunction(14 - i, 8, bit(i));
  for (let i = 0; i < 8; i++) grid.setFunction(size - 1 - i, 8, bit(i));
  for (let i = 8; i < 15; i++) grid.setFunction(8, size - 15 + i, bit(i));
  grid.setFunction(8, size - 8, true);
}

/** Codeword bits in the two-module-wide zigzag from the bottom right (7.7.3). */
function drawCodewords(grid, codewords) {
  const { size } = grid;
  let i = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5; // the vertical timing pattern's column is skipped
    const upward = ((right + 1) & 2) === 0;
    for (let step = 0; step < size; step++) {
      const y = upward ? size - 1 - step : step;
      for (const x of [right, right - 1]) {
        if (grid.reserved[y * size + x]) continue;
        if (i < codewords.length * 8) {
          grid.dark[y * size + x] = (codewords[i >>> 3] >>> (7 - (i & 7))) & 1;
          i += 1;
        } // remainder bits stay light
      }
    }
  }
}

/** Whether data mask `mask` inverts the module at (x, y) (7.8.2, table 10; i = row, j = column). */
const MASKS = [
  (x, y) => (x + y) % 2 === 0,
  (x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(y / 2) + Math.floor(x / 3)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

function applyMask(grid, mask) {
  const { size } = grid;
  const inverts = MASKS[mask];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!grid.reserved[y * size + x] && inverts(x, y)) grid.dark[y * size + x] ^= 1;
    }
  }
}

// A finder-like pattern, dark-light-dark×3-light-dark, with four light modules after or before it,
// as 11-bit windows (first module in the highest bit): 1011101 0000 and 0000 1011101.
const FINDER_AFTER = 0b10111010000;
const FINDER_BEFORE = 0b00001011101;

/** The penalty score of the symbol as it stands (7.8.3): N1 runs, N2 blocks, N3 finder-like, N4 balance. */
export function penalty(grid) {
  const { size } = grid;
  let score = 0;
  // Outside the symbol is the light quiet zone.
  const at = (x, y) => (x < 0 || y < 0 || x >= size || y >= size ? 0 : grid.dark[y * size + x]);
  for (const line of [(i, j) => at(j, i), (i, j) => at(i, j)]) {
    for (let i = 0; i < size; i++) {
      let run = 1;
      for (let j = 1; j <= size; j++) {
        if (j < size && line(i, j) === line(i, j - 1)) {
          run += 1;
          continue;
        }
        if (run >= 5) score += 3 + (run - 5);
        run = 1;
      }
      // Every 11-module window of the line, the quiet zone included.
      let window = 0;
      for (let j = -10; j < size + 10; j++) {
        window = ((window << 1) | line(i, j)) & 0x7ff;
        if (window === FINDER_AFTER || window === FINDER_BEFORE) score += 40;
      }
    }
  }
  for (let y = 0; y < size - 1; y++) {
    for (let x = 0; x < size - 1; x++) {
      const c = at(x, y);
      if (c === at(x + 1, y) && c === at(x, y + 1) && c === at(x + 1, y + 1)) score += 3;
    }
  }
  let dark = 0;
  for (const v of grid.dark) dark += v;
  const total = size * size;
  // The smallest k with (45 - 5k)% <= dark share <= (55 + 5k)%.
  const k = Math.ceil(Math.abs(dark * 20 - total * 10) / total) - 1;
  score += Math.max(0, k) * 10;
  return score;
}

/**
 * The QR code of `text` (UTF-8 bytes in byte mode): {version, level, mask, size, dark}, where
 * dark[y * size + x] is 1 for a dark module. `mask` forces a mask (0–7), for tests.
 */
export function encodeQr(text, { mask = null } = {}) {
  const bytes = new TextEncoder().encode(String(text));
  const { version, level } = chooseVersion(bytes.length);
  const grid = new Grid(version * 4 + 17);
  drawFunctionPatterns(grid, version);
  drawCodewords(grid, interleave(dataCodewordsOf(bytes, version, level), version, level));
  let chosen = mask;
  if (chosen === null) {
    let best = Infinity;
    for (let m = 0; m < 8; m++) {
      applyMask(grid, m);
      drawFormat(grid, level, m);
      const score = penalty(grid);
      if (score < best) {
        best = score;
        chosen = m;
      }
      applyMask(grid, m); // undone: the mask is an XOR
    }
  }
  applyMask(grid, chosen);
  drawFormat(grid, level, chosen);
  return { version, level, mask: chosen, size: grid.size, dark: grid.dark };
}

/** The SVG path of the dark modules, one unit per module, offset by the quiet zone `border`. */
export function qrPath(qr, border = 4) {
  const parts = [];
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) {
      if (qr.dark[y * qr.size + x]) parts.push(`M${x + border},${y + border}h1v1h-1z`);
    }
  }
  return parts.join('');
}

/**
 * An <svg> element with the QR code of `text` and a four-module quiet zone, made with DOM calls (no
 * markup is parsed). `label` is its accessible name.
 */
export function qrSvg(text, { label = 'QR code of the link', border = 4 } = {}) {
  const qr = encodeQr(text);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const extent = qr.size + border * 2;
  svg.setAttribute('viewBox', `0 0 ${extent} ${extent}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.dataset.version = String(qr.version);
  svg.dataset.level = qr.level;
  const background = document.createElementNS(ns, 'rect');
  background.setAttribute('width', String(extent));
  background.setAttribute('height', String(extent));
  background.setAttribute('fill', '#fff');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', qrPath(qr, border));
  path.setAttribute('fill', '#000');
  svg.append(background, path);
  return svg;
}
