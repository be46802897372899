/**
 * Helpers shared by the reliability scenarios. Nothing here registers mocha hooks, so the same
 * code runs under mocha (test/reliability/*.test.ts, CI sizes) and under `npm run soak`
 * (test/reliability/soak.ts, soak sizes).
 */

/** What one scenario run reports: a name, how long it took and its figures. */
export interface ScenarioResult {
  scenario: string;
  /** The size it ran at, in words (e.g. "500 tasks, 3 workers"). */
  size: string;
  durationMs: number;
  /** Named figures for the summary table and docs/reliability.md. */
  figures: Record<string, number | string>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy; throws after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The p-th percentile (0-100) of `values` by nearest rank; 0 for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** Rounds for display. */
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** A progress logger: prints to stderr when RELIABILITY_VERBOSE=1 (soak sets it). */
export function progress(scenario: string): (msg: string) => void {
  const on = process.env.RELIABILITY_VERBOSE === '1';
  const t0 = Date.now();
  return (msg) => {
    if (on) process.stderr.write(`[${scenario} +${round((Date.now() - t0) / 1000)}s] ${msg}\n`);
  };
}

/** Formats results as a Markdown-compatible table. */
export function formatTable(
  rows: { result: ScenarioResult | null; error?: string; name: string }[],
) {
  const lines = [
    '| scenario | size | result | duration | figures |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const figures = r.result
      ? Object.entries(r.result.figures)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')
      : (r.error ?? '').split('\n')[0].slice(0, 200);
    lines.push(
      `| ${r.name} | ${r.result?.size ?? ''} | ${r.result ? 'PASS' : 'FAIL'} | ${
        r.result ? `${round(r.result.durationMs / 1000)} s` : ''
      } | ${figures} |`,
    );
  }
  return lines.join('\n');
}

/** Prints the figures of a scenario run by a test, so CI logs keep them. */
export function report(result: ScenarioResult): void {
  const figures = Object.entries(result.figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(
    `      figures [${result.scenario}] ${result.size}; ${round(result.durationMs / 1000)} s; ${figures}\n`,
  );
}
