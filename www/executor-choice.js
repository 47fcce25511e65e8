// Which executor runs the exact engine when the page picks it itself ("Automatic"; issue 15): a
// WebGPU adapter emulated in software (it reports isFallbackAdapter: SwiftShader) is not timed,
// the CPU is faster; otherwise both executors decode the same few greedy tokens and the one with
// the shorter time per token runs the model. The tokens are the same on either: the choice changes
// speed only. Pure: no DOM, no engine (worker.js times, format.js words it).

/** The choices under "Executor", as stored in this browser ('auto' when nothing is stored). */
export const EXECUTOR_CHOICES = ['auto', 'gpu', 'cpu'];

/** The timing run: greedy, a one-token prompt; the first step (with the prompt and any warm-up) is not timed. */
export const PROBE_RUN = { prompt: 'Hello', chat: false, max_tokens: 4, temperature: '0' };
export const PROBE_WARM_STEPS = 1;

/** A stored or asked-for choice as one of EXECUTOR_CHOICES (anything else is 'auto'). */
export function executorChoice(value) {
  return EXECUTOR_CHOICES.includes(value) ? value : 'auto';
}

/** The faster executor from the measured milliseconds per token (a tie goes to the CPU). */
export function fasterExecutor({ gpuMsPerToken, cpuMsPerToken }) {
  return gpuMsPerToken < cpuMsPerToken ? 'gpu' : 'cpu';
}


/** Where the choice under "Executor" is kept in this browser (absent: 'auto'). */
export const EXECUTOR_KEY = 'verbatim.executor';

/**
 * The executor an evaluation runs on ('gpu' or 'cpu'): the one the Generate side runs its exact
 * model on when one is loaded (its decision: the user's choice, or Automatic's measurement), else
 * the stored choice, where Automatic means the CPU (scoring times nothing; the bits are the same).
 */
export function evalExecutor({ loaded, stored }) {
  if (loaded?.engine === 'exact' && (loaded.executor?.kind === 'gpu' || loaded.executor?.kind === 'cpu')) {
    return loaded.executor.kind;
  }
  return executorChoice(stored) === 'gpu' ? 'gpu' : 'cpu';
}
