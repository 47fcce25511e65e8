#!/usr/bin/env node
// Ground truth for the tokenizer: llama.cpp's own tokenization of each test string.
//
// llama.cpp runs here as wasm, from the npm package @wllama/wllama (pinned in package.json),
// inside headless Chromium driven by playwright-core. The package's JS API has no tokenize call
// (v3 talks to llama.cpp's server layer), so this script, and only this script, adds a narrow probe:
//   - the wasm module is served with three extra *exports* of functions already in it
//     (llama_vocab::tokenize, llama_vocab_get_text, llama_vocab::impl::token_to_piece; malloc and
//     free are exported as shipped). llama.cpp's code is not changed, only made callable. Function
//     indices come from the package's own name table (src/wasm/source-map.ts) and each signature
//     is checked before use;
//   - wllama's worker script gets one extra message verb that calls those exports;
//   - the llama_vocab of the model wllama loaded is found in the wasm heap by its structure (a
//     pointer to its impl, whose id_to_token vector holds exactly n_vocab 32-byte entries and which
//     points back to the llama_vocab), then confirmed by reading known token texts through
//     llama_vocab_get_text (the `anchors` below).
// Each string is tokenized with llama_vocab::tokenize(text, add_special = false,
// parse_special = true): no BOS, special tokens in the text become single ids. The ids are turned
// back into text with token_to_piece(id, lstrip = 0, special = true), concatenated.
//
// Usage (from the repository root):
//   (cd tests/browser && npm ci) && node tests/browser/tokenizer-golden.mjs
// Models are read from $VERBATIM_MODELS_DIR (default: <repo>/models/cache); run `make models` first.
// Writes tests/golden/tokenizer/<model-id>.json.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const MODELS_DIR = process.env.VERBATIM_MODELS_DIR || path.join(ROOT, 'models', 'cache');
const OUT_DIR = path.join(ROOT, 'tests', 'golden', 'tokenizer');
const WLLAMA_DIR = path.join(HERE, 'node_modules', '@wllama', 'wllama');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Strings every model is checked on. Each one exists for a reason named beside it.
const COMMON_CASES = [
  '', // empty input: no ids
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "Don't stop; it's 5 o'clock. We'll see, they've said: I'd, you're.", // contractions
  'Café naïve façade résumé coöperate Ångström', // precomposed accents
  'e\u0301 a\u0308 n\u0303', // combining marks: no normalization may happen
  'Ünïcödé: ñ ç ø ß ę ł ğ ş ő ű',
  'I love 🦀 and 🐍!', // 4-byte UTF-8
  'Family: 👩‍👩‍👧‍👦 flag: 🏳️‍🌈 thumbs: 👍🏽', // ZWJ sequences, variation selector, skin tone
  ' leading space',
  '   three leading spaces',
  'repeated    spaces   here',
  'trailing spaces   ',
  'a                                        b', // 40 spaces: longer than any space-run token
  'tab\tseparated\tvalues',
  '\t\t indented\n\t',
  'line one\nline two\n',
  '\n\n\n',
  ' \n ',
  'x\n  y\n\n  z\r\n', // mixed newlines, CRLF
  'def add(a, b):\n    """Return the sum."""\n    return a + b\n\n\nprint(add(2, 3))  # 5\n',
  'fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!("{:?} {}", v, v.len());\n}\n',
  '<table><tr><td>x</td></tr></table> <b>bold</b>', // HTML: user-defined tokens in Gemma
  '你好，世界！日本語のテキスト。한국어 텍스트.', // CJK
  'مرحبا بالعالم', // Arabic
  'Привет, мир! Ελληνικά', // Cyrillic, Greek
  '12345 3.14159',
  '1,000,000 and 2024-01-01 and ١٢٣ and ½', // grouping, dates, Arabic-Indic digits, vulgar fraction
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{E000}\u{F8FF} \u{10FFFF}', // rare planes, private use: byte fallback
  'bell\u0007 null-free control\u001b[0m', // control characters
  'https://example.com/path?q=1&r=2#frag',
  '~!@#$%^&*()_+-=[]{}|;\':",./<>?`',
  "DON'T SHOUT, I'M HERE AND IT'S LOUD", // upper-case contractions are not GPT-2 contractions
  '3141592653589793238462643383279 000 007',
  'नमस्ते दुनिया สวัสดีชาวโลก', // combining marks (Devanagari, Thai)
  'Ĳ ﬁ ① ™ ｆｕｌｌ', // compatibility characters: no NFKC anywhere
  'a🦀b🦀🦀c', // emoji inside words
  '\u2581literal lower-one-eighth block \u2581\u2581', // SentencePiece's own space marker
  '   ',
  '\t',
  '\n',
  '<|im_start|> and <start_of_turn> are plain text for the other model',
  '<|im_end|><|im_start|> <|im_end|> \n<start_of_turn> <end_of_turn>\n', // adjacent specials
  '<tr><td> </td></tr>',
  'In 1869, Dmitri Mendeleev published the periodic table; its 118 elements (as of 2016) ' +
    "range from hydrogen (H, Z=1) to oganesson (Og, Z=118). Isn't that neat? " +
    'Les éléments « lourds » — ceux au-delà de l’uranium — sont synthétiques.\n\n' +
    '    indented_code = {"key": [1, 2.5, -3e10]}  # comment\n',
];

const MODELS = [
  {
    id: 'smollm2-135m-instruct-q4_1',
    // token texts that identify this vocabulary in the wasm heap
    anchors: [[1, '<|im_start|>'], [2, '<|im_end|>'], [49151, 'ectable']],
    cases: [
      '<|im_start|>user\nhi<|im_end|>',
      '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n',
      '<|endoftext|>text after<|endoftext|>',
      'no special: <|im_start without end',
    ],
  },
  {
    id: 'gemma-3-270m-q4_k_m',
    anchors: [[2, '<bos>'], [106, '<end_of_turn>'], [236743, '\u2581']],
    cases: [
      '<start_of_turn>user\nhi<end_of_turn>',
      '<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n',
      '<bos>text<eos>',
      'no special: <start_of_turn without end',
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// wasm: name table and export patch

function readLeb(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[pos++];
    result |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if ((byte & 0x80) === 0) return [Number(result), pos];
  }
}

function encodeLeb(value) {
  const out = [];
  let v = value;
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return Buffer.from(out);
}

function encodeName(name) {
  const bytes = Buffer.from(name, 'utf8');
  return Buffer.concat([encodeLeb(bytes.length), bytes]);
}

// Function names by wasm function index, from the package's gzip+base64 name table.
function loadFunctionNames() {
  const src = fs.readFileSync(path.join(WLLAMA_DIR, 'src', 'wasm', 'source-map.ts'), 'utf8');
  const m = src.match(/"default":\s*"([^"]+)"/);
  if (!m) throw new Error('name table not found in source-map.ts');
  const raw = zlib.gunzipSync(Buffer.from(m[1], 'base64'));
  const first = raw.readUInt32LE(0);
  const count = raw.readUInt32LE(4);
  const numNames = raw.readUInt32LE(8);
  let p = 12;
  const names = [];
  for (let i = 0; i < numNames; i++) {
    const len = raw[p++];
    names.push(raw.subarray(p, p + len).toString('utf8'));
    p += len;
  }
  const byName = new Map();
  for (let k = 0; k < count; k++) {
    const v = raw.readUInt16LE(p + 2 * k);
    if (v === 0xffff) continue;
    if (!byName.has(names[v])) byName.set(names[v], []);
    byName.get(names[v]).push(first + k);
  }
  return byName;
}

const VALTYPES = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128' };

// Returns the sections and the signature of each function index.
function parseWasm(buf) {
  const sections = [];
  const types = [];
  const funcTypes = [];
  let pos = 8;
  while (pos < buf.length) {
    const id = buf[pos];
    const [size, bodyStart] = readLeb(buf, pos + 1);
    sections.push({ id, start: pos, bodyStart, end: bodyStart + size });
    let p = bodyStart;
    if (id === 1) {
      let n;
      [n, p] = readLeb(buf, p);
      for (let i = 0; i < n; i++) {
        p++; // 0x60
        let np, nr;
        [np, p] = readLeb(buf, p);
        const params = [...buf.subarray(p, p + np)].map((b) => VALTYPES[b]);
        p += np;
        [nr, p] = readLeb(buf, p);
        const results = [...buf.subarray(p, p + nr)].map((b) => VALTYPES[b]);
        p += nr;
        types.push(`(${params.join(',')})->(${results.join(',')})`);
      }
    } else if (id === 2) {
      let n;
      [n, p] = readLeb(buf, p);
      for (let i = 0; i < n; i++) {
        let len;
        [len, p] = readLeb(buf, p);
        p += len;
        [len, p] = readLeb(buf, p);
        p += len;
        const kind = buf[p++];
        if (kind === 0) {
          let t;
          [t, p] = readLeb(buf, p);
          funcTypes.push(t);
        } else if (kind === 1) {
          p++; // reftype
          const flags = buf[p++];
          [, p] = readLeb(buf, p);
          if (flags & 1) [, p] = readLeb(buf, p);
        } else if (kind === 2) {
          const flags = buf[p++];
          [, p] = readLeb(buf, p);
          if (flags & 1) [, p] = readLeb(buf, p);
        } else if (kind === 3) {
          p += 2;
        } else {
          throw new Error(`unknown import kind ${kind}`);
        }
      }
    } else if (id === 3) {
      let n;
      [n, p] = readLeb(buf, p);
      for (let i = 0; i < n; i++) {
        let t;
        [t, p] = readLeb(buf, p);
        funcTypes.push(t);
      }
    }
    pos = bodyStart + size;
  }
  return { sections, signature: (index) => types[funcTypes[index]] };
}

// The functions the probe calls, with the signature each must have (memory64: pointers are i64).
const PROBE_EXPORTS = [
  // int32_t llama_vocab::tokenize(const char * text, int32_t text_len, llama_token * tokens,
  //                               int32_t n_tokens_max, bool add_special, bool parse_special) const
  { export: 'vbt_vocab_tokenize', fn: 'llama_vocab::tokenize', sig: '(i64,i64,i32,i64,i32,i32,i32)->(i32)' },
  // const char * llama_vocab_get_text(const struct llama_vocab * vocab, llama_token token)
  { export: 'vbt_vocab_get_text', fn: 'llama_vocab_get_text', sig: '(i64,i32)->(i64)' },
  // int32_t llama_vocab::impl::token_to_piece(llama_token token, char * buf, int32_t length,
  //                                           int32_t lstrip, bool special) const
  { export: 'vbt_token_to_piece', fn: 'llama_vocab::impl::token_to_piece', sig: '(i64,i32,i64,i32,i32,i32)->(i32)' },
];

function patchedWasm() {
  const buf = fs.readFileSync(path.join(WLLAMA_DIR, 'esm', 'wasm', 'wllama.wasm'));
  const names = loadFunctionNames();
  const { sections, signature } = parseWasm(buf);
  const extra = [];
  for (const probe of PROBE_EXPORTS) {
    const candidates = names.get(probe.fn) || [];
    const index = candidates.find((i) => signature(i) === probe.sig);
    if (index === undefined) {
      const seen = candidates.map((i) => signature(i)).join(', ') || 'none';
      throw new Error(`${probe.fn} ${probe.sig} not in the wasm (found: ${seen})`);
    }
    extra.push(Buffer.concat([encodeName(probe.export), Buffer.from([0]), encodeLeb(index)]));
  }
  const exp = sections.find((s) => s.id === 7);
  if (!exp) throw new Error('wasm has no export section');
  const [count, entriesStart] = readLeb(buf, exp.bodyStart);
  const body = Buffer.concat([
    encodeLeb(count + extra.length),
    buf.subarray(entriesStart, exp.end),
    ...extra,
  ]);
  return Buffer.concat([
    buf.subarray(0, exp.start),
    Buffer.from([7]),
    encodeLeb(body.length),
    body,
    buf.subarray(exp.end),
  ]);
}

// ---------------------------------------------------------------------------------------------
// worker probe (runs inside wllama's worker, next to its Module)

function workerProbe() {
  /* global Module, msg */
  const heap = () => Module.wasmMemory.buffer;
  const readCString = (ptr) => {
    const u8 = new Uint8Array(heap());
    let end = ptr;
    while (u8[end] !== 0) end++;
    return new TextDecoder().decode(u8.slice(ptr, end));
  };
  let vocab = 0;

  // Finds the llama_vocab: [vocab] -> impl; impl holds id_to_token = {begin, end, cap} with
  // end - begin == 32 * n_vocab (a token_data is 32 bytes: std::string, float, enum) and a
  // reference back to the vocab, which lives outside the impl (inside llama_model).
  // Pointers fit in 32 bits here (the heap is < 4 GiB), so words are scanned as u32 pairs.
  const findVocab = async (nVocab, anchors) => {
    const ex = Module.__vbtExports;
    const u32 = new Uint32Array(heap());
    const nWords = u32.length >> 1;
    const want = 32 * nVocab;
    const vectors = [];
    for (let i = 0; i + 2 < nWords; i++) {
      const begin = u32[2 * i];
      if (begin === 0 || u32[2 * i + 1] !== 0 || u32[2 * i + 3] !== 0) continue;
      if (u32[2 * i + 2] - begin === want) vectors.push(i * 8);
    }
    const window = 4096;
    const candidates = [];
    for (let i = 0; i < nWords; i++) {
      const v = u32[2 * i];
      if (v === 0 || v % 8 !== 0 || u32[2 * i + 1] !== 0) continue;
      const self = i * 8;
      if (self >= v - 16 && self < v + 16384) continue; // a pointer inside the impl itself
      for (const loc of vectors) {
        if (v > loc || loc - v >= window) continue;
        for (let k = 0; k < 2048 && v / 8 + k < nWords; k++) {
          if (u32[2 * (v / 8 + k)] === self && u32[2 * (v / 8 + k) + 1] === 0) {
            candidates.push(self);
            break;
          }
        }
      }
    }
    for (const cand of candidates) {
      let ok = true;
      for (const [id, text] of anchors) {
        const ptr = Number(await ex.vbt_vocab_get_text(BigInt(cand), id));
        if (readCString(ptr) !== text) {
          ok = false;
          break;
        }
      }
      if (ok) return BigInt(cand);
    }
    throw new Error(`llama_vocab not found (${vectors.length} vectors, ${candidates.length} candidates)`);
  };

  const tokenize = async (text) => {
    const ex = Module.__vbtExports;
    const bytes = new TextEncoder().encode(text);
    const textPtr = ex.malloc(bytes.length + 1);
    new Uint8Array(heap()).set(bytes, textPtr);
    new Uint8Array(heap())[textPtr + bytes.length] = 0;
    const max = bytes.length + 8;
    const outPtr = ex.malloc(4 * max);
    try {
      const n = await ex.vbt_vocab_tokenize(
        vocab, BigInt(textPtr), bytes.length, BigInt(outPtr), max, 0, 1);
      if (n < 0) throw new Error(`tokenize needs ${-n} ids`);
      return Array.from(new Int32Array(heap(), outPtr, n));
    } finally {
      ex.free(textPtr);
      ex.free(outPtr);
    }
  };

  // llama.cpp's text for ids: token_to_piece(id, lstrip = 0, special = true) per token, bytes
  // concatenated, then UTF-8 decoded with U+FFFD for invalid sequences
  const detokenize = async (ids) => {
    const ex = Module.__vbtExports;
    const impl = new BigUint64Array(heap(), Number(vocab), 1)[0];
    const cap = 1024;
    const buf = ex.malloc(cap);
    const bytes = [];
    try {
      for (const id of ids) {
        const n = await ex.vbt_token_to_piece(impl, id, BigInt(buf), cap, 0, 1);
        if (n < 0) throw new Error(`piece of ${id} needs ${-n} bytes`);
        bytes.push(...new Uint8Array(heap(), buf, n));
      }
    } finally {
      ex.free(buf);
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  };

  self.__vbtCall = async (data) => {
    const { args, callbackId } = data;
    try {
      const [op, a, b] = args;
      let result;
      if (op === 'find_vocab') {
        vocab = await findVocab(a, b);
        result = Number(vocab);
      } else if (op === 'tokenize') {
        result = await tokenize(a);
      } else if (op === 'detokenize') {
        result = await detokenize(a);
      } else {
        throw new Error(`unknown probe op ${op}`);
      }
      msg({ callbackId, result });
    } catch (err) {
      msg({ callbackId, err: String((err && err.stack) || err) });
    }
  };
}

function patchedIndexJs() {
  let js = fs.readFileSync(path.join(WLLAMA_DIR, 'esm', 'index.js'), 'utf8');
  const replaceOnce = (from, to) => {
    const at = js.indexOf(from);
    if (at < 0 || js.indexOf(from, at + 1) >= 0) throw new Error(`patch anchor not unique: ${from}`);
    js = js.slice(0, at) + to + js.slice(at + from.length);
  };
  // keep the instance's exports (the probe's among them) where the worker can reach them
  replaceOnce(
    'function assignWasmExports(wasmExports){',
    'function assignWasmExports(wasmExports){Module["__vbtExports"]=wasmExports;',
  );
  // run the probe's calls under JSPI like wllama's own entry points
  replaceOnce(
    'exportPattern=/^(wllama_start|wllama_action|main|__main_argc_argv)$/',
    'exportPattern=/^(wllama_start|wllama_action|main|__main_argc_argv|vbt_vocab_tokenize|vbt_vocab_get_text|vbt_token_to_piece)$/',
  );
  // one more message verb in the worker
  const probeSrc = `(${workerProbe.toString()})();\n`;
  const escaped = JSON.stringify(probeSrc).slice(1, -1);
  replaceOnce(
    "if (verb === 'wllama.debug') {",
    `if (verb === 'vbt.probe') {\\n    await runWasmCall(callbackId, () => self.__vbtCall(e.data));\\n    return;\\n  }\\n  if (verb === 'wllama.debug') {`,
  );
  replaceOnce('// Start the main llama.cpp\\n', `// Start the main llama.cpp\\n${escaped}`);
  return js;
}

// ---------------------------------------------------------------------------------------------
// page side

async function pageRun({ modelUrl, cases, anchors }) {
  const { Wllama } = await import('/wllama/index.js');
  const w = new Wllama({ default: '/wllama/wllama.wasm' }, { suppressNativeLog: true });
  const blob = await (await fetch(modelUrl)).blob();
  await w.loadModel([blob], { n_ctx: 128, n_threads: 1, n_gpu_layers: 0, n_parallel: 1 });
  const proxy = w.proxy;
  const probe = (...args) => proxy.pushTask({ verb: 'vbt.probe', args, callbackId: proxy.taskId++ });
  const nVocab = w.getModelMetadata().hparams.nVocab;
  await probe('find_vocab', nVocab, anchors);
  const out = [];
  for (const text of cases) {
    const ids = await probe('tokenize', text);
    out.push({ text, ids, decoded: await probe('detokenize', ids) });
  }
  const eog = [];
  for (let id = 0; id < nVocab; id++) if (w.isTokenEOG(id)) eog.push(id);
  const result = {
    version: Wllama.getLibllamaVersion(),
    n_vocab: nVocab,
    bos: w.getBOS(),
    eos: w.getEOS(),
    eot: w.getEOT(),
    eog,
    add_bos: w.mustAddBosToken(),
    add_eos: w.mustAddEosToken(),
    cases: out,
  };
  await w.exit();
  return result;
}

function serve(wasm, indexJs) {
  const server = http.createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><meta charset="utf-8"><title>tokenizer golden</title>');
    } else if (url.pathname === '/wllama/index.js') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(indexJs);
    } else if (url.pathname === '/wllama/wllama.wasm') {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/wasm' });
      res.end(wasm);
    } else if (/^\/models\/[a-z0-9_.-]+\.gguf$/.test(url.pathname)) {
      const file = path.join(MODELS_DIR, path.basename(url.pathname));
      fs.stat(file, (err, st) => {
        if (err) {
          res.writeHead(404, headers);
          res.end();
          return;
        }
        res.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': st.size });
        fs.createReadStream(file).pipe(res);
      });
    } else {
      res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404, headers);
      res.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  for (const model of MODELS) {
    const file = path.join(MODELS_DIR, `${model.id}.gguf`);
    if (!fs.existsSync(file)) {
      throw new Error(`${file} is missing: run \`make models\` first`);
    }
  }
  const server = await serve(patchedWasm(), patchedIndexJs());
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'verbatim-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') console.error(`[page] ${m.text()}`);
    });
    page.on('pageerror', (e) => console.error(`[page] ${e}`));
    await page.goto(`${base}/`);
    fs.mkdirSync(OUT_DIR, { recursive: true });
    for (const model of MODELS) {
      const cases = [...COMMON_CASES, ...model.cases];
      const r = await page.evaluate(pageRun, { modelUrl: `/models/${model.id}.gguf`, cases, anchors: model.anchors });
      const golden = {
        generator: `wllama 3.8.1 (llama.cpp ${r.version.split('-')[0]}, commit ${r.version.split('-')[1]})`,
        model: model.id,
        note:
          'ids: llama_vocab::tokenize(text, add_special=false, parse_special=true); ' +
          'decoded: token_to_piece(id, lstrip=0, special=true) of each id, concatenated; ' +
          'regenerate with tests/browser/tokenizer-golden.mjs',
        n_vocab: r.n_vocab,
        bos: r.bos,
        eos: r.eos,
        eot: r.eot,
        eog: r.eog,
        add_bos: r.add_bos,
        add_eos: r.add_eos,
        cases: r.cases,
      };
      const out = path.join(OUT_DIR, `${model.id}.json`);
      fs.writeFileSync(out, formatGolden(golden));
      console.log(`${out}: ${r.cases.length} cases`);
    }
  } finally {
    await context.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// One case per line keeps diffs readable.
function formatGolden(g) {
  const { cases, ...head } = g;
  const lines = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  const caseLines = cases.map((c, i) => `    ${JSON.stringify(c)}${i + 1 < cases.length ? ',' : ''}`);
  return `{\n${lines.join('\n')}\n  "cases": [\n${caseLines.join('\n')}\n  ]\n}\n`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
