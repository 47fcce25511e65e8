// Replay links in Node: the page's own wasm module (link_encode / link_decode), and a raw v1
// encoder (docs/links.md) for links the wasm encoder refuses to make, such as out-of-range values.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { WWW_DIR, requireWasm } from './env.mjs';

let pkg = null;

/** The wasm module of www/pkg, initialised in this process. */
export async function wasmLinks() {
  if (pkg === null) {
    requireWasm();
    const module = await import(pathToFileURL(join(WWW_DIR, 'pkg/verbatim.js')).href);
    module.initSync({ module: readFileSync(join(WWW_DIR, 'pkg/verbatim_bg.wasm')) });
    pkg = module;
  }
  return pkg;
}

function varint(value) {
  let n = BigInt(value);
  const out = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    out.push(byte);
  } while (n > 0n);
  return Buffer.from(out);
}

const str = (text) => {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([varint(bytes.length), bytes]);
};

/**
 * A v1 payload ("v1.…") written field by field, with no range checks: a raw prompt, no stop strings,
 * no expectation. Numbers are in the link's units (thousandths, millionths).
 */
export function rawLinkPayload({
  spec = 'exact-1',
  id,
  sha256,
  prompt,
  maxTokens = 4,
  temperatureMilli = 0,
  topK = 40,
  topPMicro = 950_000,
  minPMicro = 50_000,
  repeatPenaltyMilli = 1000,
  repeatLastN = 64,
  seed = 0,
}) {
  const fields = Buffer.concat([
    Buffer.from('VB'),
    Buffer.from([1]),
    str(spec),
    str(id),
    Buffer.from(sha256, 'hex'),
    str(''),
    varint(0),
    str(prompt),
    varint(maxTokens),
    varint(temperatureMilli),
    varint(topK),
    varint(topPMicro),
    varint(minPMicro),
    varint(repeatPenaltyMilli),
    varint(repeatLastN),
    varint(seed),
    varint(0),
    varint(0),
  ]);
  const checksum = createHash('sha256').update(fields).digest().subarray(0, 4);
  return `v1.${deflateRawSync(Buffer.concat([fields, checksum])).toString('base64url')}`;
}
