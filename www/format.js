// Numbers, engines and executors in words, for the page. No state, no DOM.

/** Which engine computes the tokens, in words. */
export function engineLabel({ engine, spec }) {
  if (engine === 'exact') return `exact integer engine (${spec})`;
  if (engine === 'float') return 'float reference (candle)';
  return engine;
}

/** Which executor runs the loaded model, and why, in a line. */
export function executorLabel({ engine, executor }) {
  if (executor.kind === 'gpu') {
    const selftest = executor.selftest_ms === null ? '' : `, self-test passed in ${formatSeconds(executor.selftest_ms)}`;
    return `GPU (WebGPU adapter ${executor.adapter ?? 'with no name'}${selftest})`;
  }
  if (engine !== 'exact') return 'CPU (wasm; the float reference runs on the CPU only)';
  if (executor.cpuRetry !== null) return 'CPU (wasm; loaded on the CPU after the GPU failed)';
  if (executor.fallback_code === 'gpu-unsupported') return 'CPU (the GPU executor does not run this model yet)';
  if (executor.requested === 'cpu') return 'CPU (wasm; chosen under “Executor”)';
  if (executor.choice?.why === 'emulated') return 'CPU: faster than this device’s WebGPU, which is emulated in software';
  if (executor.choice?.why === 'measured') return 'CPU: faster than this device’s WebGPU, measured';
  if (executor.fallback) return 'CPU (no usable GPU here)';
  return 'CPU (wasm)';
}

/** The executor of a run, in a few words. */
export function executorShort({ executor }) {
  if (executor.kind === 'gpu') return `GPU (WebGPU adapter ${executor.adapter ?? 'with no name'})`;
  return 'CPU (wasm)';
}

/** The executor in full, for the model's details. */
export function executorDetail({ engine, executor }) {
  const choice = executor.choice;
  const measured =
    choice?.why === 'measured'
      ? `a decoded token took ${formatMs(choice.gpu_ms)} on the GPU and ${formatMs(choice.cpu_ms)} on the CPU`
      : null;
  if (executor.kind === 'gpu') {
    const times = [
      executor.compile_ms === null ? null : `kernels compiled in ${formatDuration(executor.compile_ms)}`,
      executor.selftest_ms === null ? null : `self-test passed in ${formatSeconds(executor.selftest_ms)}`,
    ].filter(Boolean);
    const why = measured ? ` Chosen automatically as the faster: ${measured}.` : '';
    return `GPU via WebGPU: ${executor.adapter ?? 'adapter with no name'}${executor.summary ? ` ${executor.summary}` : ''}${times.length ? `; ${times.join(', ')}` : ''}.${why}`;
  }
  if (engine !== 'exact') return 'CPU (wasm). The float reference runs on the CPU only.';
  if (executor.cpuRetry !== null) return `CPU (wasm), loaded again after the GPU failed during a run (${executor.cpuRetry.replace(/\.$/, '')}).`;
  if (executor.fallback_code === 'gpu-unsupported') return `CPU (wasm): ${sentenceOf(executor.fallback_detail ?? executor.fallback)} The tokens are the same as on a GPU.`;
  if (executor.requested === 'cpu') return 'CPU (wasm), because “CPU” is chosen under “Executor”. The tokens are the same on the GPU.';
  const anyway = 'Choose “GPU” under “Executor” to use it anyway; the tokens are the same.';
  if (choice?.why === 'emulated') {
    return `CPU (wasm), chosen automatically: this device’s WebGPU adapter (${executor.adapter ?? 'with no name'}) is emulated in software (it reports isFallbackAdapter), which is far slower than the CPU. ${anyway}`;
  }
  if (measured) return `CPU (wasm), chosen automatically as the faster: ${measured} (adapter ${executor.adapter ?? 'with no name'}). ${anyway}`;
  if (executor.fallback) {
    return `CPU (wasm): ${sentenceOf(executor.fallback_detail ?? executor.fallback)} The tokens are the same as on a GPU.`;
  }
  return 'CPU (wasm).';
}

export function sentenceOf(text) {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function formatDuration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatSeconds(ms);
}

/** Milliseconds to one decimal below 10 ms, else whole: "4.2 ms", "870 ms". */
export function formatMs(ms) {
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms).toLocaleString('en')} ms`;
}

export function formatSeconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

export function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}
