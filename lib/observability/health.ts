import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import { PERMISSIONS } from '../auth/permissions';
import type { RouterExtension } from '../http/router';
import type { Storage } from '../storage';
import { STEP_STATUSES, TASK_STATUSES } from '../types';
import { probeDatabase, withTimeout } from './databaseProbe';

/** What the health routes read from the engine. */
export interface WorkerState {
  readonly isRunning: boolean;
  readonly lastError: unknown;
  readonly runningCount: number;
  readonly workerId: string;
}

/** Dependencies of {@link createHealthExtension}. */
export interface HealthOptions {
  storage: Storage;
  engine: WorkerState;
  /** Tasker's `ready` promise: migrations applied and workers started. */
  ready: Promise<void>;
  workersEnabled: boolean;
  concurrency: number;
  /** How long the database may take to answer before `/health/ready` fails it. */
  timeoutMs: number;
  /**
   * The storage's Knex instance: the ping then runs on a pooled connection it can destroy when
   * the connection does not answer (see `probeDatabase`). Without it, `storage.ping()`.
   */
  knex?: Knex;
}

/** One check of a health answer. */
export interface HealthCheck {
  status: 'pass' | 'fail';
  /** When the check ran (ISO 8601). */
  time: string;
  /** How long the check took. */
  duration_ms: number;
  /** Why it failed, or a note. */
  message?: string;
  [extra: string]: unknown;
}

/** The body of `/health/live` and `/health/ready`. */
export interface HealthReport {
  status: 'pass' | 'fail';
  checks: Record<string, HealthCheck>;
}

/** Paths answered before Tasker is ready and never rate limited: what orchestrators probe. */
export const PROBE_PATHS: readonly string[] = ['/health/live', '/health/ready'];

function messageOf(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === 'string' && m.length > 0 ? m : String(err);
}

/** What a check's code returns; `check` adds the time and duration. */
type Outcome = { status: 'pass' | 'fail'; message?: string } & Record<string, unknown>;

async function check(run: () => Promise<Outcome>): Promise<HealthCheck> {
  const time = new Date();
  const started = performance.now();
  let result: Outcome;
  try {
    result = await run();
  } catch (err) {
    result = { status: 'fail', message: messageOf(err) };
  }
  const duration = Math.round((performance.now() - started) * 10) / 10;
  const { status, ...rest } = result;
  return { status, time: time.toISOString(), duration_ms: duration, ...rest };
}

/**
 * `GET /health/live`, `GET /health/ready` (no auth: orchestrators probe them) and
 * `GET /health/status` (permission `tasker.health_status:index`).
 */
export function createHealthExtension(options: HealthOptions): RouterExtension {
  const { storage, engine, timeoutMs } = options;
  let startup: { state: 'starting' | 'ready' | 'failed'; error?: unknown } = { state: 'starting' };
  options.ready.then(
    () => (startup = { state: 'ready' }),
    (error: unknown) => (startup = { state: 'failed', error }),
  );
  const timeoutMessage = `the database did not answer within ${timeoutMs} ms`;
  // Probes can arrive faster than a dead database times out: they share one ping in flight,
  // which always settles within timeoutMs.
  let pinging: Promise<void> | null = null;
  const ping = () => {
    pinging ??= (
      options.knex
        ? probeDatabase(options.knex, storage.capabilities.dialect, timeoutMs)
        : withTimeout(storage.ping(), timeoutMs, timeoutMessage)
    ).finally(() => (pinging = null));
    return pinging;
  };
  // Once this code's migrations are applied they stay applied: checked until they pass.
  let migrationsCurrent = false;

  const ready = async (): Promise<HealthReport> => {
    const database = await check(async () => {
      await ping();
      return { status: 'pass' };
    });
    const migrations = await check(async () => {
      if (database.status === 'fail') {
        return { status: 'fail', message: 'not checked: the database does not answer' };
      }
      if (!migrationsCurrent) {
        const { pending } = await withTimeout(storage.migrationStatus(), timeoutMs, timeoutMessage);
        if (pending.length > 0) {
          return { status: 'fail', message: `pending migrations: ${pending.join(', ')}`, pending };
        }
        migrationsCurrent = true;
      }
      return { status: 'pass' };
    });
    const workers = await check(async () => {
      if (startup.state === 'starting') return { status: 'fail', message: 'starting' };
      if (startup.state === 'failed') {
        return { status: 'fail', message: `start failed: ${messageOf(startup.error)}` };
      }
      if (!options.workersEnabled) {
        return { status: 'pass', message: 'workers are disabled in this process', running: 0 };
      }
      if (!engine.isRunning) return { status: 'fail', message: 'workers are stopped' };
      if (engine.lastError) {
        return {
          status: 'fail',
          message: `claiming steps fails: ${messageOf(engine.lastError)}`,
        };
      }
      return { status: 'pass', running: engine.runningCount };
    });
    const checks = { database, migrations, workers };
    const ok = Object.values(checks).every((c) => c.status === 'pass');
    return { status: ok ? 'pass' : 'fail', checks };
  };

  const send = (res: Response, report: HealthReport) => {
    res.set('Cache-Control', 'no-store');
    res.status(report.status === 'pass' ? 200 : 503).json(report);
  };

  return {
    operations: [
      {
        method: 'get',
        path: '/health/live',
        summary: 'Liveness: 200 while the process answers',
        tag: 'Health',
        contentType: 'application/json',
        secured: false,
      },
      {
        method: 'get',
        path: '/health/ready',
        summary:
          'Readiness: 200 when the database answers, migrations are current and workers run; ' +
          'else 503 with the same body naming the failed check',
        tag: 'Health',
        contentType: 'application/json',
        secured: false,
      },
      {
        method: 'get',
        path: '/health/status',
        summary: 'Tasks and steps by state, retries pending, the oldest ready step wait',
        tag: 'Health',
        contentType: 'application/json',
        secured: true,
        statuses: [503],
      },
    ],
    mount(router, helpers) {
      router.get('/health/live', (_req: Request, res: Response) => {
        send(res, {
          status: 'pass',
          checks: {
            process: {
              status: 'pass',
              time: new Date().toISOString(),
              duration_ms: 0,
              pid: process.pid,
              uptime_s: Math.round(process.uptime()),
            },
          },
        });
      });
      router.get('/health/ready', (_req: Request, res: Response, next) => {
        ready().then((report) => send(res, report), next);
      });
      router.get(
        '/health/status',
        helpers.guard(PERMISSIONS.healthStatus),
        (_req: Request, res: Response, next) => {
          const now = Date.now();
          storage.statusCounts(now).then((counts) => {
            const tasks = Object.fromEntries(TASK_STATUSES.map((s) => [s, counts.tasks[s] ?? 0]));
            const steps = Object.fromEntries(STEP_STATUSES.map((s) => [s, counts.steps[s] ?? 0]));
            res.set('Cache-Control', 'no-store');
            res.json({
              tasks,
              steps,
              retries_pending: counts.retriesPending,
              oldest_ready_step_wait_ms: counts.oldestReadyWaitMs,
              workers: {
                enabled: options.workersEnabled,
                running: engine.isRunning,
                worker_id: engine.workerId,
                active_attempts: engine.runningCount,
                concurrency: options.concurrency,
              },
              checked_at: new Date(now).toISOString(),
            });
          }, next);
        },
      );
    },
  };
}
