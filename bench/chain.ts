/**
 * Workload 1, chain throughput: 1,000 tasks of a 4-step chain of no-op steps, enqueued 10 at a
 * time while the workers run; steps per second from the first enqueue to the last completion.
 *
 * - ours on SQLite (1 process), on Postgres with 1 process and with 2 (this process plus a
 *   worker process; each runs the default worker config, concurrency 10);
 * - Graphile Worker 0.16 (concurrency 10, pool 10): each step a job that adds the next one;
 * - pg-boss 10 (10 `work()` loops of batchSize 1, pool 10, polling at its 0.5 s minimum): the
 *   same chain. Its rate is bounded by polling, so it runs 1/20 of the tasks (1/4 with notifyWorker) to keep the run
 *   short; a second row wakes its workers on every send (`notifyWorker`) to show what the
 *   polling interval costs.
 */
import {
  markdownTable,
  type BenchContext,
  type SummaryRow,
  type WorkloadResult,
} from './lib/report';
import { fmt, fmtRatio, median } from './lib/stats';
import { runRounds, type ThroughputConfig } from './lib/suite';
import { graphileChain, oursThroughput, pgBossChain } from './lib/throughput';

const STEPS = 4;

export async function runChain(ctx: BenchContext, only?: string[]): Promise<WorkloadResult> {
  const started = Date.now();
  const tasks = ctx.size(1000);
  const bossTasks = ctx.size(50, 10);
  const bossNotifyTasks = ctx.size(250, 25);
  const timeoutMs = 180_000;
  const all: ThroughputConfig[] = [
    {
      key: 'ours-sqlite',
      label: 'ours, SQLite',
      run: () =>
        oursThroughput(ctx, { db: 'sqlite', processes: 1, handler: 'chain', tasks, timeoutMs }),
    },
    {
      key: 'ours-pg-1',
      label: 'ours, Postgres, 1 process',
      run: () =>
        oursThroughput(ctx, { db: 'postgres', processes: 1, handler: 'chain', tasks, timeoutMs }),
    },
    {
      key: 'ours-pg-2',
      label: 'ours, Postgres, 2 processes',
      run: () =>
        oursThroughput(ctx, { db: 'postgres', processes: 2, handler: 'chain', tasks, timeoutMs }),
    },
    {
      key: 'graphile',
      label: 'Graphile Worker 0.16',
      run: () => graphileChain(ctx, tasks, STEPS, timeoutMs),
    },
    {
      key: 'pgboss',
      label: 'pg-boss 10 (poll 0.5 s)',
      run: () => pgBossChain(ctx, bossTasks, STEPS, timeoutMs),
    },
    {
      key: 'pgboss-notify',
      label: 'pg-boss 10 + notifyWorker',
      run: () => pgBossChain(ctx, bossNotifyTasks, STEPS, timeoutMs, true),
    },
  ];
  const configs = only ? all.filter((c) => only.includes(c.key)) : all;
  const series = await runRounds(ctx, configs);
  const m = (key: string) => series.get(key)?.medianStepsPerSec ?? NaN;

  ctx.log(
    markdownTable(
      ['engine', 'tasks', 'steps/s (median)', 'rounds'],
      [...series.values()].map((s) => [
        s.label,
        String(s.runs[0]?.tasks ?? ''),
        fmt(s.medianStepsPerSec),
        s.runs.map((r) => fmt(r.stepsPerSec)).join(', '),
      ]),
    ),
  );

  const graphile = m('graphile');
  const peer = (value: number) => ({ name: 'Graphile Worker', value });
  const summary: SummaryRow[] = [];
  if (series.has('ours-pg-1')) {
    summary.push({
      workload: 'Chain, Postgres, 1 process',
      unit: 'steps/s',
      ours: m('ours-pg-1'),
      peer: series.has('graphile') ? peer(graphile) : null,
      ratio: m('ours-pg-1') / graphile,
      target: '>= 3x Graphile Worker',
      met: Number.isFinite(graphile) ? m('ours-pg-1') >= 3 * graphile : null,
    });
    if (series.has('pgboss')) {
      summary.push({
        workload: 'Chain, Postgres, 1 process vs pg-boss',
        unit: 'steps/s',
        ours: m('ours-pg-1'),
        peer: { name: 'pg-boss (0.5 s poll)', value: m('pgboss') },
        ratio: m('ours-pg-1') / m('pgboss'),
      });
    }
    if (series.has('pgboss-notify')) {
      summary.push({
        workload: 'Chain, Postgres, 1 process vs pg-boss + notifyWorker',
        unit: 'steps/s',
        ours: m('ours-pg-1'),
        peer: { name: 'pg-boss + notifyWorker', value: m('pgboss-notify') },
        ratio: m('ours-pg-1') / m('pgboss-notify'),
      });
    }
  }
  if (series.has('ours-pg-2')) {
    summary.push({
      workload: 'Chain, Postgres, 2 processes',
      unit: 'steps/s',
      ours: m('ours-pg-2'),
      peer: series.has('graphile') ? peer(graphile) : null,
      ratio: m('ours-pg-2') / graphile,
      note: `${fmtRatio(m('ours-pg-2') / m('ours-pg-1'))} of 1 process`,
    });
  }
  if (series.has('ours-sqlite')) {
    summary.push({
      workload: 'Chain, SQLite',
      unit: 'steps/s',
      ours: m('ours-sqlite'),
      target: '>= 5,000 steps/s',
      met: m('ours-sqlite') >= 5000,
    });
  }
  return {
    name: 'chain',
    elapsedMs: Date.now() - started,
    summary,
    details: {
      tasks,
      stepsPerTask: STEPS,
      pgBossTasks: bossTasks,
      pgBossNotifyTasks: bossNotifyTasks,
      series: Object.fromEntries(
        [...series.values()].map((s) => [
          s.key,
          { ...s, median: median(s.runs.map((r) => r.stepsPerSec)) },
        ]),
      ),
    },
  };
}
