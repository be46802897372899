/**
 * Scenario 6, shutdown: `close()` while HTTP clients create tasks and steps run. Nothing
 * acknowledged is lost, running steps are drained (or, past `shutdownTimeoutMs`, aborted and
 * handed back), a second `close()` is harmless, and the process then exits by itself: if it
 * does not, something was left open and the scenario fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { createTasker, type StorageConfig } from '../../../lib';
import { silentLogger } from '../../../lib/observability/logger';
import { startChild, type Child } from '../../helpers/processes';
import { progress, waitUntil, type ScenarioResult } from '../lib/common';
import { createInvocationsTable, reliabilityHandlers } from '../lib/dags';
import { checkInvariants } from '../lib/invariants';
import { createSchema, type Schema } from '../lib/pg';

export interface ShutdownOptions {
  database: 'postgres' | 'sqlite';
  /** How long close() lets running steps finish; shorter than a step means they are aborted. */
  shutdownTimeoutMs: number;
  stepMinMs: number;
  stepMaxMs: number;
  /** How long the clients load the process before close(). */
  loadMs: number;
  clients: number;
  /** worker.concurrency of the process closed under load. */
  concurrency: number;
  /** How long the process may take to exit after close(). */
  exitTimeoutMs: number;
}

/** Steps drain: close() waits for every running step. */
export const SHUTDOWN_DRAIN_CI: ShutdownOptions = {
  database: 'postgres',
  shutdownTimeoutMs: 10_000,
  stepMinMs: 20,
  stepMaxMs: 200,
  loadMs: 3000,
  clients: 8,
  concurrency: 10,
  exitTimeoutMs: 30_000,
};

/** Steps outlast the shutdown timeout: they are aborted and their leases handed back. */
export const SHUTDOWN_ABORT_CI: ShutdownOptions = {
  ...SHUTDOWN_DRAIN_CI,
  database: 'sqlite',
  shutdownTimeoutMs: 50,
  stepMinMs: 200,
  stepMaxMs: 600,
};

export const SHUTDOWN_SOAK: ShutdownOptions[] = [
  { ...SHUTDOWN_DRAIN_CI, loadMs: 20_000, clients: 32 },
  { ...SHUTDOWN_DRAIN_CI, database: 'sqlite', loadMs: 20_000, clients: 16 },
  { ...SHUTDOWN_ABORT_CI, database: 'postgres', loadMs: 20_000, clients: 32 },
  { ...SHUTDOWN_ABORT_CI, loadMs: 20_000, clients: 16 },
];

/** worker.concurrency of the process that finishes the work after the shutdown. */
const NEXT_CONCURRENCY = 20;

interface ChildReport {
  pid: number;
  created: string[];
  statuses: Record<string, number>;
  problems: string[];
  runningAtClose: number;
  closeMs: number;
  closedAt: number;
  thirdCloseMs: number;
  sameClosePromise: boolean;
  codeAfterClose: string;
}

export async function shutdown(o: ShutdownOptions): Promise<ScenarioResult> {
  const name = `shutdown-${o.shutdownTimeoutMs < o.stepMinMs ? 'abort' : 'drain'}-${o.database}`;
  const log = progress(name);
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'tasker-rel-shutdown-'));
  let schema: Schema | null = null;
  let storage: StorageConfig;
  let knex: Knex;
  if (o.database === 'postgres') {
    schema = await createSchema();
    storage = schema.config({ min: 0, max: 6 });
    knex = schema.knex;
  } else {
    storage = { client: 'better-sqlite3', connection: { filename: join(dir, 'tasker.sqlite') } };
    knex = knexFactory({ ...storage, useNullAsDefault: true });
  }
  let child: Child | null = null;
  try {
    await createInvocationsTable(knex);
    const resultFile = join(dir, 'result.json');
    child = startChild('test/fixtures/reliability-shutdown.ts', {
      TASKER_STORAGE: JSON.stringify(storage),
      STEP_MIN_MS: String(o.stepMinMs),
      STEP_MAX_MS: String(o.stepMaxMs),
      SHUTDOWN_TIMEOUT_MS: String(o.shutdownTimeoutMs),
      LOAD_MS: String(o.loadMs),
      CLIENTS: String(o.clients),
      CONCURRENCY: String(o.concurrency),
      RESULT_FILE: resultFile,
    });
    const proc = child;
    await proc.waitFor('closed', o.loadMs + 60_000);
    log('closed');
    const closedSeen = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      proc.exited,
      new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), o.exitTimeoutMs))),
    ]).finally(() => clearTimeout(timer));
    if (code === 'hung') {
      throw new Error(
        `the process did not exit within ${o.exitTimeoutMs} ms of close(): ${proc.output()}`,
      );
    }
    if (code !== 0) throw new Error(`the process exited with ${code}: ${proc.output()}`);
    const exitMs = Date.now() - closedSeen;
    const r = JSON.parse(readFileSync(resultFile, 'utf8')) as ChildReport;
    log(`exited ${exitMs} ms after close; ${r.created.length} tasks acknowledged`);

    if (r.problems.length > 0) {
      throw new Error(
        `answers other than 201 or a 503 envelope: ${r.problems.slice(0, 5).join('; ')}`,
      );
    }
    if (!r.sameClosePromise) throw new Error('a second close() started another shutdown');
    if (r.thirdCloseMs > 100) throw new Error(`close() after close took ${r.thirdCloseMs} ms`);
    if (!/^503 (STORAGE_UNAVAILABLE|TASKER_CLOSED)$/.test(r.codeAfterClose)) {
      throw new Error(`a request after close() got ${r.codeAfterClose}, not a 503 envelope`);
    }
    if (r.runningAtClose === 0) throw new Error('no step was running at close(): not under load');
    const ids: string[] = (await knex('tasker_tasks').select('id')).map(
      (t: { id: string }) => t.id,
    );
    const known = new Set(ids);
    const lost = r.created.filter((id) => !known.has(id));
    if (lost.length > 0) throw new Error(`${lost.length} acknowledged tasks are missing`);
    const stuck = await knex('tasker_workflow_steps')
      .where('status', 'in_progress')
      .select('task_id', 'name', 'attempts', 'lease_owner', 'lease_expires_at', 'updated_at');
    if (stuck.length > 0) {
      const invocations = await knex('test_invocations')
        .whereIn(
          'task_id',
          stuck.map((s: { task_id: string }) => s.task_id),
        )
        .select('task_id', 'step', 'pid', 'started_at', 'ended_at');
      throw new Error(
        `${stuck.length} steps were left in_progress by the closed worker (close() resolved at ${r.closedAt}): ${JSON.stringify(stuck)}; their invocations: ${JSON.stringify(invocations)}`,
      );
    }

    // A new process picks up whatever the closed one left and finishes everything.
    const next = createTasker({
      storage,
      logger: silentLogger,
      worker: { pollIntervalMs: 100, concurrency: NEXT_CONCURRENCY },
      dashboard: { enabled: false },
    });
    try {
      for (const def of reliabilityHandlers({ minMs: 0, maxMs: 5, knex: next.storage.knex })) {
        next.registerHandler(def);
      }
      await next.ready;
      await waitUntil(
        async () => {
          const row = await knex('tasker_tasks')
            .whereNot('status', 'complete')
            .count({ n: '*' })
            .first();
          return Number(row?.n) === 0;
        },
        120_000,
        'every task to complete after the restart',
        200,
      );
    } finally {
      await next.close();
    }
    const figures = await checkInvariants(knex, ids, new Map([[r.pid, r.closedAt]]), (pid) =>
      pid === r.pid ? o.concurrency : NEXT_CONCURRENCY,
    );
    const drain = o.shutdownTimeoutMs >= o.stepMaxMs;
    if (drain && figures.reruns > 0) {
      throw new Error(`${figures.reruns} steps ran twice although close() drained them`);
    }
    if (!drain && figures.reruns > r.runningAtClose) {
      throw new Error(`${figures.reruns} re-runs for ${r.runningAtClose} aborted steps`);
    }
    return {
      scenario: name,
      size: `${o.clients} HTTP clients for ${o.loadMs / 1000} s, steps ${o.stepMinMs}-${o.stepMaxMs} ms, shutdownTimeoutMs ${o.shutdownTimeoutMs}, ${o.database}`,
      durationMs: Date.now() - started,
      figures: {
        acknowledged: r.created.length,
        lost: 0,
        running_at_close: r.runningAtClose,
        close_ms: r.closeMs,
        exit_after_close_ms: exitMs,
        reruns: figures.reruns,
        max_running_per_process: `${figures.maxActiveByPid.get(r.pid) ?? 0}/${o.concurrency}`,
        answers: Object.entries(r.statuses)
          .map(([k, v]) => `${k}:${v}`)
          .join(' '),
      },
    };
  } finally {
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    if (schema) await schema.drop();
    else await knex.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
