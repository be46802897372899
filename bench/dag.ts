/**
 * Workload 2, DAG throughput (ours only): 1,000 diamond tasks (a -> b, c -> d) and 200 tasks of a
 * 20-wide fan-out with fan-in (root -> f01..f20 -> join, 22 steps), each on Postgres (1 process)
 * and SQLite; steps per second from the first enqueue to the last completion.
 */
import {
  markdownTable,
  type BenchContext,
  type SummaryRow,
  type WorkloadResult,
} from './lib/report';
import { fmt } from './lib/stats';
import { runRounds, type ThroughputConfig } from './lib/suite';
import { oursThroughput } from './lib/throughput';

export async function runDag(ctx: BenchContext, only?: string[]): Promise<WorkloadResult> {
  const started = Date.now();
  const diamonds = ctx.size(1000);
  const fanouts = ctx.size(200, 20);
  const timeoutMs = 180_000;
  const all: ThroughputConfig[] = [];
  for (const db of ['postgres', 'sqlite'] as const) {
    const name = db === 'postgres' ? 'Postgres' : 'SQLite';
    all.push(
      {
        key: `diamond-${db}`,
        label: `diamond x${diamonds}, ${name}`,
        run: () =>
          oursThroughput(ctx, { db, processes: 1, handler: 'diamond', tasks: diamonds, timeoutMs }),
      },
      {
        key: `fanout-${db}`,
        label: `fan-out 20 x${fanouts}, ${name}`,
        run: () =>
          oursThroughput(ctx, { db, processes: 1, handler: 'fanout', tasks: fanouts, timeoutMs }),
      },
    );
  }
  const configs = only ? all.filter((c) => only.includes(c.key)) : all;
  const series = await runRounds(ctx, configs);
  ctx.log(
    markdownTable(
      ['workload', 'steps/s (median)', 'rounds'],
      [...series.values()].map((s) => [
        s.label,
        fmt(s.medianStepsPerSec),
        s.runs.map((r) => fmt(r.stepsPerSec)).join(', '),
      ]),
    ),
  );
  const summary: SummaryRow[] = [...series.values()].map((s) => ({
    workload: `DAG: ${s.label}`,
    unit: 'steps/s',
    ours: s.medianStepsPerSec,
  }));
  return {
    name: 'dag',
    elapsedMs: Date.now() - started,
    summary,
    details: { diamonds, fanouts, series: Object.fromEntries(series) },
  };
}
