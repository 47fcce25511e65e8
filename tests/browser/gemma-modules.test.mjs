// The page's rules for Gemma and spec exact-2, in Node without a browser: which numeric spec a
// listed model runs under and whether this engine runs it (www/manifest.js), the terms a model asks
// to accept before its download and how the acceptance is kept (www/terms.js), and the GPU
// executor's refusal in words (www/worker-util.js, www/format.js). gemma-page.test.mjs and
// golden-gemma-gpu.test.mjs cover the same paths in the page.

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { engineRuns, exactSpecOf, isBaseModel } from '../../www/manifest.js';
import { TERMS_KEY, acceptTerms, hasTerms, termsPending, termsQuestion } from '../../www/terms.js';
import { gpuLoadFailure } from '../../www/worker-util.js';
import { executorDetail, executorLabel } from '../../www/format.js';
import { readManifest } from './lib/env.mjs';

const manifest = readManifest();
const gemma = manifest.models.find((m) => m.id === 'gemma-3-270m-q4_k_m');
const smollm = manifest.models.find((m) => m.id === 'smollm2-135m-instruct-q4_1');

/** localStorage as a browser has it (Node has none without a flag). */
class MemoryStorage {
  #items = new Map();
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
}

beforeEach(() => {
  globalThis.localStorage = new MemoryStorage();
});

test('the spec each listed model runs under, and which models an engine runs', () => {
  assert.equal(exactSpecOf(smollm), 'exact-1');
  assert.equal(exactSpecOf(gemma), 'exact-2');
  assert.equal(exactSpecOf({ architecture: 'llama', quantization: 'Q4_K_M' }), 'exact-2', 'a K-quant llama needs exact-2');
  assert.equal(exactSpecOf({ architecture: 'llama', quantization: 'Q8_0' }), 'exact-1');
  assert.equal(exactSpecOf({ architecture: 'qwen2', quantization: 'Q8_0' }), null);
  assert.equal(exactSpecOf({}), null);
  // This engine (exact-1 and exact-2) runs both; an archived exact-1 engine runs SmolLM2 only.
  assert.ok(engineRuns('exact', gemma, ['exact-1', 'exact-2']));
  assert.ok(engineRuns('exact', gemma, null), 'before the engine says, listed models are offered');
  assert.ok(!engineRuns('exact', gemma, ['exact-1']));
  assert.ok(engineRuns('exact', smollm, ['exact-1']));
  assert.ok(!engineRuns('exact', { architecture: 'qwen2' }, null));
  assert.ok(engineRuns('float', { architecture: 'qwen2' }, ['exact-1']), 'the float reference tries any architecture');
  assert.ok(isBaseModel(gemma));
  assert.ok(!isBaseModel(smollm));
  assert.ok(!isBaseModel({ base_model: 'yes' }), 'only true marks a base model');
});

test('Gemma’s terms are asked for until accepted; the acceptance is kept per model and terms address', () => {
  assert.ok(hasTerms(gemma));
  assert.ok(!hasTerms(smollm));
  assert.ok(!termsPending(smollm), 'a model without terms never asks');
  assert.ok(termsPending(gemma));
  assert.match(termsQuestion(gemma, '253.1 MB'), /^Gemma 3 270M \(Q4_K_M\) is provided under the Gemma Terms of Use\. .*\(253\.1 MB\).*Declining downloads nothing/);
  acceptTerms(gemma);
  assert.ok(!termsPending(gemma));
  assert.deepEqual(JSON.parse(localStorage.getItem(TERMS_KEY)), { [gemma.id]: gemma.license_url });
  // Terms at a new address are asked for again.
  assert.ok(termsPending({ ...gemma, license_url: 'https://ai.google.dev/gemma/terms-v2' }));
  // Damaged storage asks again, and accepting mends it.
  for (const damaged of ['not json', '[1, 2]', 'null', '"text"']) {
    localStorage.setItem(TERMS_KEY, damaged);
    assert.ok(termsPending(gemma), damaged);
  }
  acceptTerms(gemma);
  assert.ok(!termsPending(gemma));
  // Storage that throws (blocked in this frame): asked every time, never a failure.
  globalThis.localStorage = {
    getItem() {
      throw new Error('blocked');
    },
    setItem() {
      throw new Error('blocked');
    },
  };
  assert.ok(termsPending(gemma));
  assert.doesNotThrow(() => acceptTerms(gemma));
});

test('the GPU executor’s refusal of an exact-2 model, in words', () => {
  const error = Object.assign(new Error("weight tensor 'blk.0.attn_q.weight' has type Q5_0 (not on the GPU executor yet)"), { code: 'gpu-unsupported' });
  const failure = gpuLoadFailure(error);
  assert.equal(failure.code, 'gpu-unsupported');
  assert.equal(failure.short, 'the GPU executor does not run this model yet');
  assert.equal(
    failure.detail,
    "the GPU executor does not run this model yet, so the CPU executor runs it (the engine says: weight tensor 'blk.0.attn_q.weight' has type Q5_0 (not on the GPU executor yet))",
  );
  assert.equal(gpuLoadFailure(Object.assign(new Error('x'), { code: 'no-adapter' })).code, undefined, 'other failures are about the device');
  const executor = {
    kind: 'cpu',
    requested: 'gpu',
    adapter: null,
    choice: null,
    cpuRetry: null,
    fallback: failure.short,
    fallback_detail: failure.detail,
    fallback_code: failure.code,
  };
  assert.equal(executorLabel({ engine: 'exact', executor }), 'CPU (the GPU executor does not run this model yet)');
  assert.equal(
    executorDetail({ engine: 'exact', executor }),
    "CPU (wasm): The GPU executor does not run this model yet, so the CPU executor runs it (the engine says: weight tensor 'blk.0.attn_q.weight' has type Q5_0 (not on the GPU executor yet)). The tokens are the same as on a GPU.",
  );
  // A run the GPU refused, run again on the CPU (requested 'cpu'): the reason is still the model.
  const rerun = { ...executor, requested: 'cpu' };
  assert.equal(executorLabel({ engine: 'exact', executor: rerun }), 'CPU (the GPU executor does not run this model yet)');
  assert.match(executorDetail({ engine: 'exact', executor: rerun }), /^CPU \(wasm\): The GPU executor does not run this model yet/);
  assert.equal(executorLabel({ engine: 'exact', executor: { ...rerun, fallback_code: null } }), 'CPU (wasm; chosen under “Executor”)');
});
