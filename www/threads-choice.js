// How many threads the wasm CPU executor computes on (issue 15): "Automatic" is this device's
// logical processors, at most DEFAULT_MAX (a page shares the machine with everything else); the
// user's number is remembered in this browser. More than one thread needs a cross-origin isolated
// page (worker.js says why it runs one otherwise). The tokens are the same on any count: the
// choice changes speed only. Pure: no DOM, no engine.

/** Where the choice under "Threads" is kept in this browser (absent: automatic). */
export const THREADS_KEY = 'verbatim.threads';
/** Automatic's most threads, and the most a user may choose (worker.js's limit). */
export const DEFAULT_MAX = 4;
export const MAX_THREADS = 16;

/** Automatic's count on a device with `cores` logical processors (navigator.hardwareConcurrency). */
export function automaticThreads(cores) {
  const n = Number.isInteger(cores) && cores > 0 ? cores : 1;
  return Math.min(n, DEFAULT_MAX);
}

/** A stored or chosen value as 'auto' or a count from 1 to MAX_THREADS (anything else is 'auto'). */
export function threadsChoice(value) {
  if (typeof value !== 'string' || !/^[0-9]{1,2}$/.test(value)) return 'auto';
  const n = Number(value);
  return n >= 1 && n <= MAX_THREADS ? n : 'auto';
}

/** The thread count the engine is started with for `choice` on a device with `cores`. */
export function threadsFor(choice, cores) {
  return choice === 'auto' ? automaticThreads(cores) : choice;
}

/** The options under "Threads": [{value, label}], Automatic first. */
export function threadsOptions(cores) {
  const options = [{ value: 'auto', label: `Automatic (${automaticThreads(cores)} here)` }];
  const most = Math.min(MAX_THREADS, Math.max(DEFAULT_MAX, Number.isInteger(cores) ? cores : 1));
  for (let n = 1; n <= most; n += 1) options.push({ value: String(n), label: n === 1 ? '1 thread' : `${n} threads` });
  return options;
}

/** The CPU executor's threads, in words: "CPU, 2 threads"; with the reason when one runs instead of more. */
export function threadsLabel({ kind, threads, threads_why: why }) {
  if (kind !== 'cpu' || !Number.isInteger(threads)) return null;
  const count = threads === 1 ? 'CPU, 1 thread' : `CPU, ${threads} threads`;
  return why ? `${count} (${why})` : count;
}
