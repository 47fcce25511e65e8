// Where the things under test live, and checks that they were built. A missing build is a test
// failure that says which make target builds it, never a skip.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The page's folder; VERBATIM_WWW serves another build of it. */
export const WWW_DIR = resolve(REPO_ROOT, process.env.VERBATIM_WWW ?? 'www');
export const MODELS_DIR = join(REPO_ROOT, 'models');
export const DEFAULT_MODEL_ID = 'smollm2-135m-instruct-q4_1';

/** Throws unless `make wasm` has built the engine into the page's pkg/ folder. */
export function requireWasm() {
  for (const file of ['pkg/verbatim.js', 'pkg/verbatim_bg.wasm']) {
    if (!existsSync(join(WWW_DIR, file))) {
      throw new Error(`${join(WWW_DIR, file)} is missing: build the engine with \`make wasm\` first.`);
    }
  }
}

/** The manifest the page lists (models/manifest.json). */
export function readManifest() {
  const path = join(MODELS_DIR, 'manifest.json');
  if (!existsSync(path)) throw new Error(`${path} is missing: it is part of the repository.`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The manifest entry of a model plus the path of its fetched file; throws unless `make models` ran. */
export function requireModel(id = DEFAULT_MODEL_ID) {
  const entry = readManifest().models.find((m) => m.id === id);
  if (!entry) throw new Error(`models/manifest.json has no model ${id}.`);
  const path = join(MODELS_DIR, 'cache', entry.file);
  if (!existsSync(path) || statSync(path).size !== entry.size) {
    throw new Error(`${path} is missing or incomplete: fetch the models with \`make models\` first.`);
  }
  return { entry, path };
}

/** The native CLI (VERBATIM_BIN, default target/release/verbatim); throws unless it was built. */
export function requireNativeBinary() {
  const path = resolve(REPO_ROOT, process.env.VERBATIM_BIN ?? 'target/release/verbatim');
  if (!existsSync(path)) throw new Error(`${path} is missing: build the native CLI with \`make native\` first.`);
  return path;
}
