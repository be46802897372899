/**
 * Throughput runs: enqueue N tasks while the workers run, and time from the first enqueue to the
 * last task's completion. Ours counts `task.completed` events (emitted after the completing
 * transaction commits); the peers count their final job the same way where they can.
 */
import { EventEmitter } from 'node:events';
import type { Tasker, WorkerConfig } from '../../lib';
import { TABLES } from '../../lib/storage';
import { BenchDatabases } from './db';
import {
  CompletionCounter,
  createBenchTask,
  ENQUEUE_CONCURRENCY,
  startGraphile,
  startOurs,
  startPgBoss,
  startWorkerProcesses,
  stopPgBoss,
  workPgBoss,
} from './engines';
import { STEPS_PER_TASK } from './handlers';
import type { Child } from './proc';
import type { BenchContext } from './report';
import { mapLimit, nowMs } from './stats';

/** One timed run. */
export interface ThroughputRun {
  engine: string;
  tasks: number;
  steps: number;
  /** First enqueue to last completion. */
  ms: number;
  stepsPerSec: number;
  /** First enqueue to last enqueue returned. */
  enqueueMs: number;
  completed: number;
  timedOut: boolean;
  /** Tasks completed per process (ours with several processes). */
  bySource?: Record<string, number>;
  /**
   * SQL statements (BEGIN and COMMIT included) this process sent per step (ours, 1 process:
   * every statement of enqueueing, claiming, running and completing).
   */
  queriesPerStep?: number;
  /** Final task and step states read back from the database (ours). */
  check?: { tasks: Record<string, number>; steps: Record<string, number>; ok: boolean };
}

function finish(
  engine: string,
  tasks: number,
  stepsPerTask: number,
  t0: number,
  enqueueEnd: number,
  counter: CompletionCounter,
  ok: boolean,
): ThroughputRun {
  const ms = (ok ? counter.lastAt : nowMs()) - t0;
  const steps = counter.count * stepsPerTask;
  return {
    engine,
    tasks,
    steps,
    ms: Math.round(ms),
    stepsPerSec: steps / (ms / 1000),
    enqueueMs: Math.round(enqueueEnd - t0),
    completed: counter.count,
    timedOut: !ok,
    ...(counter.bySource.size > 1 ? { bySource: Object.fromEntries(counter.bySource) } : {}),
  };
}

async function tally(tasker: Tasker, table: string): Promise<Record<string, number>> {
  const rows: { status: string; n: string | number }[] = await tasker.storage
    .knex(table)
    .select('status')
    .count({ n: '*' })
    .groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Options of {@link oursThroughput}. */
export interface OursRunOptions {
  db: 'sqlite' | 'postgres';
  /** Processes running a worker: this one plus `processes - 1` worker processes. */
  processes: number;
  handler: keyof typeof STEPS_PER_TASK;
  tasks: number;
  worker?: WorkerConfig;
  timeoutMs: number;
}

/**
 * Our engine: a Tasker in this process (enqueueing and running steps, as an app that mounts it
 * does) plus worker processes for multi-process runs.
 */
export async function oursThroughput(ctx: BenchContext, o: OursRunOptions): Promise<ThroughputRun> {
  const schema = o.db === 'postgres' ? await ctx.dbs.freshSchema('ours') : null;
  const storage = schema
    ? ctx.dbs.pgStorage(schema)
    : BenchDatabases.sqliteStorage(ctx.dbs.sqliteFile());
  const tasker = await startOurs(storage, o.worker);
  let children: Child[] = [];
  try {
    children = await startWorkerProcesses(o.processes - 1, storage, o.worker);
    const counter = new CompletionCounter(o.tasks);
    let queries = 0;
    tasker.storage.knex.on('query', () => queries++);
    tasker.events.on('task.completed', () => counter.add('p0'));
    children.forEach((c, k) =>
      c.onMessage((m) => {
        if (m.type === 'done') counter.add(`p${k + 1}`, m.at as number);
      }),
    );
    const t0 = nowMs();
    await mapLimit(o.tasks, ENQUEUE_CONCURRENCY, (i) => createBenchTask(tasker, o.handler, i));
    const enqueueEnd = nowMs();
    const ok = await counter.wait(o.timeoutMs);
    const engine = `ours-${o.db}-x${o.processes}`;
    const run = finish(engine, o.tasks, STEPS_PER_TASK[o.handler], t0, enqueueEnd, counter, ok);
    if (o.processes === 1 && run.steps > 0) {
      run.queriesPerStep = Math.round((queries / run.steps) * 10) / 10;
    }
    const tasks = await tally(tasker, TABLES.tasks);
    const steps = await tally(tasker, TABLES.steps);
    run.check = {
      tasks,
      steps,
      ok: tasks.complete === o.tasks && steps.complete === o.tasks * STEPS_PER_TASK[o.handler],
    };
    if (!run.check.ok) ctx.log(`  !! ${engine}: final states ${JSON.stringify(run.check)}`);
    return run;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await tasker.close();
    if (schema) await ctx.dbs.dropSchema(schema);
  }
}

/**
 * Graphile Worker: each step is a job whose task function enqueues the next step's job
 * (`helpers.addJob`) before returning; a task is done when its last job's completion is written
 * (the `job:complete` event).
 */
export async function graphileChain(
  ctx: BenchContext,
  tasks: number,
  steps: number,
  timeoutMs: number,
): Promise<ThroughputRun> {
  const schema = ctx.dbs.reserveSchema('graphile_worker_bench');
  const counter = new CompletionCounter(tasks);
  const events = new EventEmitter();
  events.on('job:complete', ({ job, error }: { job: { payload: any }; error: unknown }) => {
    if (!error && job.payload?.i === steps - 1) counter.add('p0');
  });
  const runner = await startGraphile(
    ctx.dbs.url,
    schema,
    {
      step: async (payload: any, helpers) => {
        if (payload.i < steps - 1) await helpers.addJob('step', { t: payload.t, i: payload.i + 1 });
      },
    },
    events,
  );
  try {
    const t0 = nowMs();
    await mapLimit(tasks, ENQUEUE_CONCURRENCY, (i) => runner.addJob('step', { t: i, i: 0 }));
    const enqueueEnd = nowMs();
    const ok = await counter.wait(timeoutMs);
    return finish('graphile-worker', tasks, steps, t0, enqueueEnd, counter, ok);
  } finally {
    await runner.stop();
    await ctx.dbs.dropSchema(schema);
  }
}

/**
 * pg-boss: each step is a job whose handler sends the next step's job; a task is done when its
 * last job's handler returns (pg-boss writes the completion afterwards without an event, so its
 * end time is a few ms early). With `notify`, every send also wakes the local workers
 * (`boss.notifyWorker`) instead of leaving them to their polling interval.
 */
export async function pgBossChain(
  ctx: BenchContext,
  tasks: number,
  steps: number,
  timeoutMs: number,
  notify = false,
): Promise<ThroughputRun> {
  const schema = ctx.dbs.reserveSchema('pgboss_bench');
  const boss = await startPgBoss(ctx.dbs.url, schema, 'step');
  const counter = new CompletionCounter(tasks);
  try {
    await workPgBoss(boss, 'step', async (job, wake) => {
      const { t, i } = job.data as { t: number; i: number };
      if (i < steps - 1) {
        await boss.send('step', { t, i: i + 1 });
        if (notify) wake();
      } else {
        counter.add('p0');
      }
    });
    const t0 = nowMs();
    await mapLimit(tasks, ENQUEUE_CONCURRENCY, (i) => boss.send('step', { t: i, i: 0 }));
    const enqueueEnd = nowMs();
    const ok = await counter.wait(timeoutMs);
    return finish(notify ? 'pg-boss+notify' : 'pg-boss', tasks, steps, t0, enqueueEnd, counter, ok);
  } finally {
    await stopPgBoss(boss);
    await ctx.dbs.dropSchema(schema);
  }
}
