// The engine worker's helpers (worker.js): its error type, the GPU's failures in words (by the
// engine's error codes, crate/src/web.rs), and small conversions. No state here.

/** A failure the user can act on: `message` is shown as it is. */
export class UserError extends Error {
  constructor(code, message, retry = true, gpuError = null) {
    super(message);
    this.code = code;
    this.retry = retry;
    this.gpuError = gpuError; // the GPU's failure, when the run may be retried on the CPU
  }
}

/**
 * Why the GPU was not used, from load_gpu's error (by its code): {short: a few words, detail: all of
 * it, code: 'gpu-unsupported' when the GPU executor does not run this model (else absent)}.
 */
export function gpuLoadFailure(error) {
  const text = describe(error);
  switch (error?.code) {
    case 'gpu-selftest': {
      // "<adapter> failed the self-test: <kernel>: got …, want …; …": the kernels' names are the short story.
      const marker = 'failed the self-test:';
      const failures = text.includes(marker) ? text.slice(text.indexOf(marker) + marker.length).trim() : text;
      const kernels = failures.split('; ').map((failure) => failure.split(':')[0]);
      return { short: `GPU failed the self-test: ${kernels.join(', ')}`, detail: `GPU failed the self-test: ${failures}` };
    }
    case 'no-webgpu':
      return { short: 'WebGPU unavailable: this browser has no WebGPU', detail: `WebGPU unavailable: ${text}` };
    case 'no-adapter':
      return { short: 'WebGPU unavailable: no usable GPU adapter', detail: `WebGPU unavailable: ${text}` };
    case 'gpu-unsupported':
      // The GPU executor lacks a block format or an operation this model needs (spec exact-2's
      // K-quants and gemma3 today): not a fault of this device.
      return {
        short: 'the GPU executor does not run this model yet',
        detail: `the GPU executor does not run this model yet, so the CPU executor runs it (the engine says: ${text.replace(/[.;]?\s*$/, '')})`,
        code: 'gpu-unsupported',
      };
    default:
      return { short: 'the GPU could not load the model', detail: `the GPU could not load the model: ${text}` };
  }
}

/**
 * The default WebGPU adapter as the browser describes it: {name (vendor, architecture, device), or
 * null; fallback: whether it is emulated in software (isFallbackAdapter: SwiftShader)}; null when
 * there is no adapter.
 */
export async function adapterFacts() {
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info;
    const words = [info?.vendor, info?.architecture, info?.device, info?.description].filter((w) => w);
    return {
      name: words.length > 0 ? [...new Set(words)].join(' ') : null,
      fallback: Boolean(info?.isFallbackAdapter ?? adapter.isFallbackAdapter),
    };
  } catch {
    return null;
  }
}

export function oneLine(text) {
  return String(text).replace(/\s+/g, ' ').trim();
}

/** Resolves after pending messages have been handled (a macrotask, without timer clamping). */
export function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });
}

/** The engine returns plain objects or Maps (serde-wasm-bindgen); the page wants plain objects. */
export function toPlain(value) {
  return value instanceof Map ? Object.fromEntries(value) : value;
}

/** A decoded link as plain objects and arrays all the way down. */
export function deepPlain(value) {
  if (value instanceof Map) value = Object.fromEntries(value);
  if (Array.isArray(value)) return value.map(deepPlain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepPlain(v)]));
  }
  return value;
}

export function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/** `text` ending with a full stop (messages from the engine may or may not have one). */
export function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

export function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
