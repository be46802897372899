/**
 * Workload 4, dispatch latency on an otherwise idle engine, one task at a time with a random
 * 5-25 ms pause between samples (after the previous task finished):
 *
 * - ours, dispatch: from step a's completion (the `step.completed` event, emitted once the
 *   completing transaction committed) to the start of its dependent b's code, on SQLite and
 *   Postgres (one process);
 * - ours, enqueue-to-start: from `createTask` returning to the first step's code starting;
 *   on Postgres also with the task created in a process that runs no worker, picked up by a
 *   worker process (what a web process + worker process deployment sees);
 * - peers, enqueue-to-start: from `addJob` / `send` returning to the job's code starting
 *   (Graphile Worker; pg-boss at its 0.5 s polling minimum, and with `notifyWorker` after send).
 *
 * p50 / p99 per round, medians over rounds.
 */
import { EventEmitter } from 'node:events';
import { BenchDatabases } from './lib/db';
import {
  createBenchTask,
  startGraphile,
  startOurs,
  startPgBoss,
  startWorkerProcesses,
  stopPgBoss,
  workPgBoss,
} from './lib/engines';
import {
  markdownTable,
  type BenchContext,
  type SummaryRow,
  type WorkloadResult,
} from './lib/report';
import { distribution, fmt, median, nowMs, sleep, type Distribution } from './lib/stats';

/** Times keyed by sample, with a promise for a time not recorded yet. */
class Marks {
  private readonly at = new Map<string, number>();
  private readonly waiters = new Map<string, (t: number) => void>();
  set(key: string, t = nowMs()): void {
    this.at.set(key, t);
    this.waiters.get(key)?.(t);
  }
  get(key: string): number | undefined {
    return this.at.get(key);
  }
  wait(key: string, timeoutMs = 30_000): Promise<number> {
    const t = this.at.get(key);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no '${key}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (v) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        resolve(v);
      });
    });
  }
}

const pause = () => sleep(5 + Math.random() * 20);
const round2 = (x: number) => Math.round(x * 100) / 100;

/** One round of one configuration: named samples (e.g. dispatch, enqueue). */
type Samples = Record<string, number[]>;

async function oursInProcess(
  ctx: BenchContext,
  db: 'sqlite' | 'postgres',
  n: number,
  warmup: number,
): Promise<Samples> {
  const schema = db === 'postgres' ? await ctx.dbs.freshSchema('lat') : null;
  const storage = schema
    ? ctx.dbs.pgStorage(schema)
    : BenchDatabases.sqliteStorage(ctx.dbs.sqliteFile());
  const marks = new Marks();
  const tasker = await startOurs(storage, {}, (step, taskId) =>
    marks.set(`start:${taskId}:${step}`),
  );
  tasker.events.on('step.completed', (e: { taskId: string; stepName?: string }) =>
    marks.set(`done:${e.taskId}:${e.stepName}`),
  );
  tasker.events.on('task.completed', (e: { taskId: string }) => marks.set(`task:${e.taskId}`));
  const out: Samples = { dispatch: [], enqueue: [] };
  try {
    for (let i = 0; i < warmup + n; i++) {
      const task = await createBenchTask(tasker, 'pair', i);
      const created = nowMs();
      const startA = await marks.wait(`start:${task.id}:a`);
      const startB = await marks.wait(`start:${task.id}:b`);
      const doneA = marks.get(`done:${task.id}:a`)!;
      await marks.wait(`task:${task.id}`);
      if (i >= warmup) {
        out.enqueue.push(round2(startA - created));
        out.dispatch.push(round2(startB - doneA));
      }
      await pause();
    }
    return out;
  } finally {
    await tasker.close();
    if (schema) await ctx.dbs.dropSchema(schema);
  }
}

/** Tasks created here (no worker in this process), run by a worker process. */
async function oursCrossProcess(ctx: BenchContext, n: number, warmup: number): Promise<Samples> {
  const schema = await ctx.dbs.freshSchema('latx');
  const storage = ctx.dbs.pgStorage(schema);
  const tasker = await startOurs(storage, { enabled: false });
  const [child] = await startWorkerProcesses(1, storage, {}, 'steps');
  const marks = new Marks();
  child.onMessage((m) => {
    if (m.type === 'stepStart') marks.set(`start:${m.taskId}:${m.step}`, m.at as number);
    if (m.type === 'stepDone') marks.set(`done:${m.taskId}:${m.step}`, m.at as number);
    if (m.type === 'done') marks.set(`task:${m.taskId}`, m.at as number);
  });
  const out: Samples = { dispatch: [], enqueue: [] };
  try {
    for (let i = 0; i < warmup + n; i++) {
      const task = await createBenchTask(tasker, 'pair', i);
      const created = nowMs();
      const startA = await marks.wait(`start:${task.id}:a`);
      const startB = await marks.wait(`start:${task.id}:b`);
      await marks.wait(`task:${task.id}`);
      if (i >= warmup) {
        out.enqueue.push(round2(startA - created));
        out.dispatch.push(round2(startB - marks.get(`done:${task.id}:a`)!));
      }
      await pause();
    }
    return out;
  } finally {
    await child.stop();
    await tasker.close();
    await ctx.dbs.dropSchema(schema);
  }
}

async function graphileLatency(ctx: BenchContext, n: number, warmup: number): Promise<Samples> {
  const schema = ctx.dbs.reserveSchema('graphile_worker_lat');
  const marks = new Marks();
  const done = new Marks();
  const events = new EventEmitter();
  events.on('job:complete', ({ job }: { job: { payload: any } }) =>
    done.set(String(job.payload.i)),
  );
  const runner = await startGraphile(
    ctx.dbs.url,
    schema,
    {
      probe: async (payload: any) => {
        marks.set(String(payload.i));
      },
    },
    events,
  );
  const out: Samples = { enqueue: [] };
  try {
    for (let i = 0; i < warmup + n; i++) {
      await runner.addJob('probe', { i });
      const added = nowMs();
      const start = await marks.wait(String(i));
      await done.wait(String(i));
      if (i >= warmup) out.enqueue.push(round2(start - added));
      await pause();
    }
    return out;
  } finally {
    await runner.stop();
    await ctx.dbs.dropSchema(schema);
  }
}

async function pgBossLatency(
  ctx: BenchContext,
  n: number,
  warmup: number,
  notify: boolean,
): Promise<Samples> {
  const schema = ctx.dbs.reserveSchema('pgboss_lat');
  const boss = await startPgBoss(ctx.dbs.url, schema, 'probe');
  const marks = new Marks();
  const out: Samples = { enqueue: [] };
  try {
    const ids = await workPgBoss(boss, 'probe', async (job) => {
      marks.set(String((job.data as { i: number }).i));
    });
    for (let i = 0; i < warmup + n; i++) {
      await boss.send('probe', { i });
      const sent = nowMs();
      if (notify) for (const id of ids) boss.notifyWorker(id);
      const start = await marks.wait(String(i));
      if (i >= warmup) out.enqueue.push(round2(start - sent));
      // Let the completion be written before the next sample.
      await sleep(20);
      await pause();
    }
    return out;
  } finally {
    await stopPgBoss(boss);
    await ctx.dbs.dropSchema(schema);
  }
}

interface LatencyConfig {
  key: string;
  label: string;
  run(): Promise<Samples>;
}

export async function runLatency(ctx: BenchContext, only?: string[]): Promise<WorkloadResult> {
  const started = Date.now();
  const n = ctx.size(150, 20);
  // Poll-bound configurations wait up to a poll interval per sample: fewer samples.
  const slowN = ctx.size(8, 3);
  const warmup = ctx.quick ? 3 : 10;
  const all: LatencyConfig[] = [
    {
      key: 'ours-sqlite',
      label: 'ours, SQLite',
      run: () => oursInProcess(ctx, 'sqlite', n, warmup),
    },
    {
      key: 'ours-pg',
      label: 'ours, Postgres',
      run: () => oursInProcess(ctx, 'postgres', n, warmup),
    },
    {
      key: 'ours-pg-remote',
      label: 'ours, Postgres, created in a process without a worker',
      run: () => oursCrossProcess(ctx, slowN, 1),
    },
    { key: 'graphile', label: 'Graphile Worker', run: () => graphileLatency(ctx, n, warmup) },
    {
      key: 'pgboss',
      label: 'pg-boss (poll 0.5 s)',
      run: () => pgBossLatency(ctx, slowN, 1, false),
    },
    {
      key: 'pgboss-notify',
      label: 'pg-boss + notifyWorker',
      run: () => pgBossLatency(ctx, n, warmup, true),
    },
  ];
  const configs = only ? all.filter((c) => only.includes(c.key)) : all;
  const rounds = new Map<string, Samples[]>(configs.map((c) => [c.key, []]));
  for (let r = 0; r < ctx.rounds; r++) {
    const order = configs.map((_, i) => configs[(i + r) % configs.length]);
    for (const c of order) {
      const s = await c.run();
      rounds.get(c.key)!.push(s);
      const parts = Object.entries(s).map(([k, xs]) => {
        const d = distribution(xs);
        return `${k} p50 ${fmt(d.p50, 2)} ms p99 ${fmt(d.p99, 2)} ms (n=${d.n})`;
      });
      ctx.log(`  round ${r + 1} ${c.label}: ${parts.join('; ')}`);
    }
  }
  // Per configuration and measure: p50 and p99 of each round, then the median over rounds.
  const med = (key: string, measure: string): Distribution | null => {
    const rs = rounds
      .get(key)
      ?.map((s) => s[measure])
      .filter((x): x is number[] => !!x);
    if (!rs || rs.length === 0) return null;
    const ds = rs.map(distribution);
    return {
      n: ds.reduce((a, d) => a + d.n, 0),
      p50: median(ds.map((d) => d.p50)),
      p99: median(ds.map((d) => d.p99)),
      max: Math.max(...ds.map((d) => d.max)),
    };
  };
  const rows: string[][] = [];
  for (const c of configs) {
    for (const measure of ['dispatch', 'enqueue']) {
      const d = med(c.key, measure);
      if (!d) continue;
      rows.push([
        c.label,
        measure === 'dispatch' ? 'completion -> dependent start' : 'enqueue -> start',
        fmt(d.p50, 2),
        fmt(d.p99, 2),
        fmt(d.max, 1),
      ]);
    }
  }
  ctx.log(markdownTable(['engine', 'measure', 'p50 ms', 'p99 ms', 'max ms'], rows));

  const summary: SummaryRow[] = [];
  for (const [key, name] of [
    ['ours-pg', 'Postgres'],
    ['ours-sqlite', 'SQLite'],
  ] as const) {
    const d = med(key, 'dispatch');
    if (!d) continue;
    summary.push(
      {
        workload: `Dispatch latency p50, ${name}`,
        unit: 'ms',
        ours: d.p50,
        target: '<= 5 ms',
        met: d.p50 <= 5,
      },
      {
        workload: `Dispatch latency p99, ${name}`,
        unit: 'ms',
        ours: d.p99,
        target: '<= 25 ms',
        met: d.p99 <= 25,
      },
    );
  }
  const ourEnq = med('ours-pg', 'enqueue');
  for (const [key, name] of [
    ['graphile', 'Graphile Worker'],
    ['pgboss', 'pg-boss (0.5 s poll)'],
    ['pgboss-notify', 'pg-boss + notifyWorker'],
  ] as const) {
    const d = med(key, 'enqueue');
    if (!d) continue;
    summary.push({
      workload: `Enqueue -> start p50, Postgres, vs ${name}`,
      unit: 'ms',
      ours: ourEnq?.p50 ?? null,
      peer: { name, value: d.p50 },
      ratio: ourEnq ? ourEnq.p50 / d.p50 : null,
    });
  }
  const remote = med('ours-pg-remote', 'enqueue');
  if (remote) {
    summary.push({
      workload: 'Enqueue -> start p50, Postgres, task created in a process without a worker',
      unit: 'ms',
      ours: remote.p50,
      note: 'no NOTIFY on task creation: waits for the poll',
    });
  }
  return {
    name: 'latency',
    elapsedMs: Date.now() - started,
    summary,
    details: {
      samplesPerRound: n,
      slowSamplesPerRound: slowN,
      warmup,
      results: Object.fromEntries(
        configs.map((c) => [
          c.key,
          {
            label: c.label,
            dispatch: med(c.key, 'dispatch'),
            enqueue: med(c.key, 'enqueue'),
            rounds: rounds.get(c.key),
          },
        ]),
      ),
    },
  };
}
