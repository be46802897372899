/**
 * Scenario 3, SQLite crash: one worker process on an SQLite file is SIGKILLed mid-run and
 * restarted on the same file, `kills` times; then a last one finishes the work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createTasker } from '../../../lib';
import { silentLogger } from '../../../lib/observability/logger';
import { startChild, type Child } from '../../helpers/processes';
import { progress, sleep, waitUntil, type ScenarioResult } from '../lib/common';
import { createInvocationsTable, NAMESPACE, reliabilityHandlers, shapeOf } from '../lib/dags';
import { checkInvariants } from '../lib/invariants';

export interface SqliteCrashOptions {
  tasks: number;
  kills: number;
  leaseMs: number;
  concurrency: number;
  stepMinMs: number;
  stepMaxMs: number;
  timeoutMs: number;
}

export const SQLITE_CRASH_CI: SqliteCrashOptions = {
  tasks: 300,
  kills: 3,
  leaseMs: 1000,
  concurrency: 5,
  stepMinMs: 10,
  stepMaxMs: 100,
  timeoutMs: 90_000,
};

export const SQLITE_CRASH_SOAK: SqliteCrashOptions = {
  ...SQLITE_CRASH_CI,
  tasks: 1000,
  kills: 10,
  timeoutMs: 600_000,
};

const WORKER = 'test/fixtures/reliability-worker.ts';

function integrity(file: string): string {
  // Opened read-write, as the next process would: this replays the WAL the killed one left.
  const db = new Database(file);
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}

function count(file: string, sql: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare(sql).get() as { n: number }).n);
  } finally {
    db.close();
  }
}

export async function sqliteCrash(o: SqliteCrashOptions): Promise<ScenarioResult> {
  const log = progress('sqlite-crash');
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'tasker-rel-sqlite-'));
  const file = join(dir, 'tasker.sqlite');
  const storage = { client: 'better-sqlite3', connection: { filename: file } };
  const children: Child[] = [];
  const stopped = new Map<number, number>();
  try {
    const control = createTasker({
      storage,
      logger: silentLogger,
      worker: { enabled: false },
      dashboard: { enabled: false },
    });
    const ids: string[] = [];
    try {
      for (const def of reliabilityHandlers({ minMs: 0, maxMs: 0 })) control.registerHandler(def);
      await control.ready;
      await createInvocationsTable(control.storage.knex);
      for (let i = 0; i < o.tasks; i++) {
        ids.push((await control.createTask({ namespace: NAMESPACE, name: shapeOf(i) })).id);
      }
    } finally {
      await control.close();
    }
    log(`${o.tasks} tasks created`);

    const env = {
      TASKER_STORAGE: JSON.stringify(storage),
      LEASE_MS: String(o.leaseMs),
      CONCURRENCY: String(o.concurrency),
      STEP_MIN_MS: String(o.stepMinMs),
      STEP_MAX_MS: String(o.stepMaxMs),
    };
    let midStep = 0;
    const integrityAfterKills: string[] = [];
    for (let round = 0; round < o.kills; round++) {
      const child = startChild(WORKER, env);
      children.push(child);
      await child.waitFor('ready', 30_000);
      // Let it work a random while, then kill it while it holds a step.
      await sleep(200 + Math.random() * 600);
      await waitUntil(
        () =>
          count(
            file,
            `SELECT count(*) AS n FROM test_invocations WHERE pid = ${child.proc.pid} AND ended_at IS NULL`,
          ) > 0,
        10_000,
        'the worker to be in the middle of a step',
        5,
      ).catch(() => {});
      const inFlight = count(
        file,
        `SELECT count(*) AS n FROM tasker_workflow_steps WHERE status = 'in_progress'`,
      );
      child.proc.kill('SIGKILL');
      await child.exited;
      stopped.set(child.proc.pid!, Date.now());
      if (inFlight > 0) midStep++;
      integrityAfterKills.push(integrity(file));
      log(`kill ${round + 1}: ${inFlight} steps in flight`);
    }
    if (integrityAfterKills.some((r) => r !== 'ok')) {
      throw new Error(`integrity_check after a kill: ${integrityAfterKills.join(', ')}`);
    }

    const last = startChild(WORKER, env);
    children.push(last);
    await last.waitFor('ready', 30_000);
    await waitUntil(
      () =>
        count(file, `SELECT count(*) AS n FROM tasker_tasks WHERE status = 'complete'`) === o.tasks,
      Math.max(1000, o.timeoutMs - (Date.now() - started)),
      `all ${o.tasks} tasks to complete`,
      200,
    );
    last.proc.kill('SIGTERM');
    const code = await last.exited;
    if (code !== 0) throw new Error(`the last worker exited with ${code}: ${last.output()}`);
    const check = integrity(file);
    if (check !== 'ok') throw new Error(`integrity_check: ${check}`);

    const reader = createTasker({
      storage,
      logger: silentLogger,
      worker: { enabled: false },
      dashboard: { enabled: false },
    });
    try {
      await reader.ready;
      const figures = await checkInvariants(reader.storage.knex, ids, stopped, () => o.concurrency);
      return {
        scenario: 'sqlite-crash',
        size: `${o.tasks} tasks (${figures.steps} steps), ${o.kills} SIGKILLs of the only worker`,
        durationMs: Date.now() - started,
        figures: {
          kills: o.kills,
          kills_mid_step: midStep,
          invocations: figures.invocations,
          reruns: figures.reruns,
          reclaimed_leases: figures.reclaims,
          integrity_check: check,
          max_running_per_process: `${figures.maxActive}/${o.concurrency}`,
        },
      };
    } finally {
      await reader.close();
    }
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}
