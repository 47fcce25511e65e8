// Small helpers the browser benchmarks' reports share.

/** The median of the finite numbers in `xs` (null when there are none). */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** `x` with `digits` decimals, or '-' when it is missing or not finite. */
export const fmt = (x, digits = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
