/** Runs named configurations for several rounds, rotating their order, and takes medians. */
import type { BenchContext } from './report';
import { fmt, median } from './stats';
import type { ThroughputRun } from './throughput';

/** One configuration of a throughput workload. */
export interface ThroughputConfig {
  key: string;
  label: string;
  run(): Promise<ThroughputRun>;
}

/** Per-configuration results: every round's run and the median steps/s. */
export interface ThroughputSeries {
  key: string;
  label: string;
  runs: ThroughputRun[];
  medianStepsPerSec: number;
}

/**
 * Runs every configuration once per round. The order rotates each round (A B C, B C A, ...)
 * so that no engine always runs first on a cold server or last on a warm one.
 */
export async function runRounds(
  ctx: BenchContext,
  configs: ThroughputConfig[],
): Promise<Map<string, ThroughputSeries>> {
  const out = new Map<string, ThroughputSeries>(
    configs.map((c) => [c.key, { key: c.key, label: c.label, runs: [], medianStepsPerSec: NaN }]),
  );
  for (let r = 0; r < ctx.rounds; r++) {
    const order = configs.map((_, i) => configs[(i + r) % configs.length]);
    for (const c of order) {
      const run = await c.run();
      out.get(c.key)!.runs.push(run);
      ctx.log(
        `  round ${r + 1} ${c.label}: ${fmt(run.stepsPerSec)} steps/s ` +
          `(${run.completed}/${run.tasks} tasks in ${fmt(run.ms / 1000, 2)} s, ` +
          `enqueue ${fmt(run.enqueueMs / 1000, 2)} s)${run.timedOut ? ' TIMED OUT' : ''}` +
          (run.queriesPerStep ? `, ${run.queriesPerStep} SQL statements/step` : '') +
          (run.bySource ? ` by process ${JSON.stringify(run.bySource)}` : ''),
      );
    }
  }
  for (const s of out.values()) s.medianStepsPerSec = median(s.runs.map((x) => x.stepsPerSec));
  return out;
}
