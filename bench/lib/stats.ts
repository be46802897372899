/** Small statistics and formatting helpers for the benchmarks. */

/** The median of `xs` (NaN when empty). */
export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/**
 * The p-th percentile of `xs`, linearly interpolated between the two nearest ranks (the same
 * method as numpy's default). NaN when `xs` is empty.
 */
export function percentile(xs: number[], p: number): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return v[lo] + (v[hi] - v[lo]) * (rank - lo);
}

/** The arithmetic mean of `xs` (NaN when empty). */
export function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A number for a table: thousands separators, `digits` decimals below 100, none above. */
export function fmt(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  const d = Math.abs(x) >= 100 ? 0 : digits;
  return x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** A ratio such as `3.2x`. */
export function fmtRatio(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}x`;
}

/** Milliseconds as `1.2 s` or `340 ms`. */
export function fmtDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** A high-resolution wall-clock time in epoch milliseconds, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn(i)` for i in [0, n) with at most `limit` calls in flight, in index order.
 * Rejects with the first error.
 */
export async function mapLimit<T>(
  n: number,
  limit: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
  return out;
}

/** p50, p99 and max of a sample, with its size. */
export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/** Summarises a sample of latencies. */
export function distribution(xs: number[]): Distribution {
  return {
    n: xs.length,
    p50: percentile(xs, 50),
    p99: percentile(xs, 99),
    max: xs.length ? Math.max(...xs) : NaN,
  };
}
