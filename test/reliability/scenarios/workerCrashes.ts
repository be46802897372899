/**
 * Scenario 1, worker crashes: several worker processes on Postgres share a mixed DAG workload
 * while a random one is SIGKILLed every `killEveryMs` and restarted at once.
 */
import { createTasker } from '../../../lib';
import { silentLogger } from '../../../lib/observability/logger';
import { startChild, type Child } from '../../helpers/processes';
import { progress, round, sleep, waitUntil, type ScenarioResult } from '../lib/common';
import {
  createInvocationsTable,
  INVOCATIONS,
  NAMESPACE,
  reliabilityHandlers,
  shapeOf,
  stepsFor,
} from '../lib/dags';
import { checkInvariants } from '../lib/invariants';
import { createSchema } from '../lib/pg';

export interface WorkerCrashOptions {
  tasks: number;
  workers: number;
  killEveryMs: number;
  leaseMs: number;
  /** Steps each worker runs at once. */
  concurrency: number;
  stepMinMs: number;
  stepMaxMs: number;
  /** Upper bound for the whole run. */
  timeoutMs: number;
}

/** The size: 500 tasks, 3 workers, a SIGKILL every second, steps of 10-100 ms. */
export const WORKER_CRASHES_CI: WorkerCrashOptions = {
  tasks: 500,
  workers: 3,
  killEveryMs: 1000,
  leaseMs: 2000,
  concurrency: 8,
  stepMinMs: 10,
  stepMaxMs: 100,
  timeoutMs: 150_000,
};

export const WORKER_CRASHES_SOAK: WorkerCrashOptions = {
  ...WORKER_CRASHES_CI,
  tasks: 2000,
  timeoutMs: 600_000,
};

const WORKER = 'test/fixtures/reliability-worker.ts';

export async function workerCrashes(o: WorkerCrashOptions): Promise<ScenarioResult> {
  const log = progress('worker-crashes');
  const started = Date.now();
  const schema = await createSchema();
  const children: Child[] = [];
  const stopped = new Map<number, number>();
  const control = createTasker({
    storage: schema.config({ min: 0, max: 4 }),
    logger: silentLogger,
    worker: { enabled: false },
    dashboard: { enabled: false },
  });
  let chaos: Promise<void> | null = null;
  let stopChaos = false;
  try {
    for (const def of reliabilityHandlers({ minMs: 0, maxMs: 0 })) control.registerHandler(def);
    await control.ready;
    await createInvocationsTable(schema.knex);

    const env = {
      TASKER_STORAGE: JSON.stringify(schema.config({ min: 0, max: 6 })),
      LEASE_MS: String(o.leaseMs),
      CONCURRENCY: String(o.concurrency),
      STEP_MIN_MS: String(o.stepMinMs),
      STEP_MAX_MS: String(o.stepMaxMs),
    };
    for (let i = 0; i < o.workers; i++) children.push(startChild(WORKER, env));
    await Promise.all(children.map((c) => c.waitFor('ready', 30_000)));
    log(`${o.workers} workers ready`);

    let kills = 0;
    chaos = (async () => {
      while (!stopChaos) {
        await sleep(o.killEveryMs);
        if (stopChaos) break;
        // A random worker among those that finished starting (a process still booting holds
        // no leases, so killing it would test nothing).
        const live = children.filter((c) => c.output().includes('ready'));
        if (live.length === 0) continue;
        const victim = live[Math.floor(Math.random() * live.length)];
        const i = children.indexOf(victim);
        children[i] = startChild(WORKER, env);
        victim.proc.kill('SIGKILL');
        await victim.exited;
        stopped.set(victim.proc.pid!, Date.now());
        kills++;
      }
    })();

    const ids: string[] = new Array<string>(o.tasks);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < o.tasks) {
          const i = next++;
          ids[i] = (await control.createTask({ namespace: NAMESPACE, name: shapeOf(i) })).id;
        }
      }),
    );
    log(`${o.tasks} tasks created`);

    await waitUntil(
      async () => {
        const row = await schema
          .knex('tasker_tasks')
          .where('status', 'complete')
          .count({ n: '*' })
          .first();
        return Number(row?.n) === o.tasks;
      },
      Math.max(1000, o.timeoutMs - (Date.now() - started)),
      `all ${o.tasks} tasks to complete`,
      250,
    );
    const completedMs = Date.now() - started;
    stopChaos = true;
    await chaos;
    log(`all complete after ${kills} kills`);

    for (const c of children) c.proc.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));

    const figures = await checkInvariants(schema.knex, ids, stopped, () => o.concurrency);
    if (figures.steps !== stepsFor(o.tasks)) {
      throw new Error(`expected ${stepsFor(o.tasks)} steps, found ${figures.steps}`);
    }
    // Kills that caught a worker in the middle of a step (its invocation never ended).
    const midStep = await schema
      .knex(INVOCATIONS)
      .whereNull('ended_at')
      .whereIn('pid', [...stopped.keys()])
      .countDistinct({ n: 'pid' })
      .first();
    if (kills < 3) throw new Error(`only ${kills} kills happened; the run was too short to count`);
    return {
      scenario: 'worker-crashes',
      size: `${o.tasks} tasks (${figures.steps} steps), ${o.workers} workers on Postgres, SIGKILL every ${o.killEveryMs} ms`,
      durationMs: Date.now() - started,
      figures: {
        kills,
        kills_mid_step: Number(midStep?.n ?? 0),
        invocations: figures.invocations,
        reruns: figures.reruns,
        reclaimed_leases: figures.reclaims,
        duplicate_results: 0,
        concurrent_runs_before_lease_expiry: 0,
        steps_per_s: round(figures.steps / (completedMs / 1000)),
        max_running_per_process: `${figures.maxActive}/${o.concurrency}`,
      },
    };
  } finally {
    stopChaos = true;
    await chaos?.catch(() => {});
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await control.close();
    await schema.drop();
  }
}
