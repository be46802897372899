/**
 * The engines under test, started the same way by every workload: ours (in this process, plus
 * optional worker processes) and the peers, Graphile Worker and pg-boss, each in a fresh schema.
 */
import { EventEmitter } from 'node:events';
import {
  Logger as GraphileLogger,
  run as runGraphile,
  type Runner,
  type Task,
} from 'graphile-worker';
import PgBoss from 'pg-boss';
import { createTasker, type Tasker, type WorkerConfig } from '../../lib';
import type { StorageConfig } from '../../lib/storage';
import { allHandlers, NS, VERSION, type StepProbe } from './handlers';
import { startChild, type Child } from './proc';
import { nowMs } from './stats';

/** Concurrency every engine gets (ours: the default `worker.concurrency`). */
export const CONCURRENCY = 10;
/** Postgres pool size every engine gets (Knex's default `max` for pg, and node-postgres's). */
export const POOL_SIZE = 10;
/** In-flight enqueue calls while a workload creates its tasks. */
export const ENQUEUE_CONCURRENCY = 10;

/** A Tasker with the benchmark handlers, ready. */
export async function startOurs(
  storage: StorageConfig,
  worker: WorkerConfig = {},
  probe?: StepProbe,
): Promise<Tasker> {
  const tasker = createTasker({ storage, worker });
  for (const h of allHandlers(probe)) tasker.registerHandler(h);
  await tasker.ready;
  return tasker;
}

/** Creates one task of a benchmark handler through the public API. */
export function createBenchTask(tasker: Tasker, name: string, i: number) {
  return tasker.createTask({ namespace: NS, name, version: VERSION, context: { i } });
}

/** Worker processes running the benchmark handlers on `storage`. */
export async function startWorkerProcesses(
  n: number,
  storage: StorageConfig,
  worker: WorkerConfig = {},
  report: 'tasks' | 'steps' | 'none' = 'tasks',
  nodeFlags: string[] = [],
): Promise<Child[]> {
  const children = Array.from({ length: n }, () =>
    startChild(
      'bench/worker.ts',
      {
        BENCH_STORAGE: JSON.stringify(storage),
        BENCH_WORKER: JSON.stringify(worker),
        BENCH_REPORT: report,
      },
      nodeFlags,
    ),
  );
  await Promise.all(children.map((c) => c.message('ready', 60_000)));
  return children;
}

/** Counts completions reported by several sources until `target` is reached. */
export class CompletionCounter {
  count = 0;
  lastAt = 0;
  readonly bySource = new Map<string, number>();
  private waiter: (() => void) | null = null;

  constructor(private readonly target: number) {}

  add(source: string, at = nowMs()): void {
    this.count++;
    this.lastAt = Math.max(this.lastAt, at);
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
    if (this.count >= this.target && this.waiter) this.waiter();
  }

  /** Resolves true when the target is reached, false after `timeoutMs`. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.count >= this.target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(false);
      }, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(true);
      };
    });
  }
}

const quietGraphileLogger = new GraphileLogger(() => () => {});

/** Graphile Worker in-process on its own schema, with `taskList`. */
export async function startGraphile(
  url: string,
  schema: string,
  taskList: Record<string, Task>,
  events = new EventEmitter(),
): Promise<Runner> {
  return runGraphile({
    connectionString: url,
    schema,
    concurrency: CONCURRENCY,
    maxPoolSize: POOL_SIZE,
    noHandleSignals: true,
    logger: quietGraphileLogger,
    events,
    taskList,
  });
}

/** pg-boss polls no faster than this (its v10 minimum, 0.5 s). */
export const PGBOSS_MIN_POLL_S = 0.5;

/** pg-boss in-process on its own schema, with one queue. */
export async function startPgBoss(url: string, schema: string, queue: string): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, schema, max: POOL_SIZE, schedule: false });
  boss.on('error', (err: Error) => console.error(`pg-boss error: ${err.message}`));
  await boss.start();
  await boss.createQueue(queue);
  return boss;
}

/**
 * Starts CONCURRENCY pg-boss workers (v10 has no team size: concurrency is the number of
 * `work()` loops, each fetching `batchSize: 1`) at the minimum polling interval.
 */
export async function workPgBoss(
  boss: PgBoss,
  queue: string,
  handler: (job: PgBoss.Job<any>, wake: () => void) => Promise<void>,
): Promise<string[]> {
  const ids: string[] = [];
  const wake = () => {
    for (const id of ids) boss.notifyWorker(id);
  };
  for (let k = 0; k < CONCURRENCY; k++) {
    ids.push(
      await boss.work(
        queue,
        { batchSize: 1, pollingIntervalSeconds: PGBOSS_MIN_POLL_S },
        async ([job]) => handler(job, wake),
      ),
    );
  }
  return ids;
}

/** Stops pg-boss, waiting a bounded time for its workers. */
export async function stopPgBoss(boss: PgBoss): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    boss.stop({ graceful: true, wait: true, timeout: 5000 }),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000))),
  ]);
  clearTimeout(timer);
}
