import type { Knex } from 'knex';
import type {
  AttemptOutcome,
  ClaimedStep,
  ClaimResult,
  StepError,
  StepWriteResult,
  StorageCapabilities,
} from '../types';
import { insertRows, transaction } from './tx';
import { inTransaction, insertAll, type Exec } from './exec';
import { readAttemptInputs } from './inputs';
import { TABLES } from './migrations';
import { advanceTask, lockTaskRow } from './progress';
import { stepFromRow, toJson, transitionRow } from './rows';

/**
 * Claims claimable steps on SQLite (Postgres: `tasker_claim_steps` in pgFunctions.ts, with
 * `FOR UPDATE SKIP LOCKED`). The candidate query reads only the partial index on `ready_at`
 * (rows that are claimable or scheduled). Each claim bumps the fencing token.
 */
export async function claimSteps(
  knex: Knex,
  caps: StorageCapabilities,
  owner: string,
  handlerKeys: string[],
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimResult> {
  const none: ClaimResult = { steps: [], startedTaskIds: [] };
  if (handlerKeys.length === 0 || limit <= 0) return none;
  // SQLite: one writer, so no SKIP LOCKED; UPDATE ... RETURNING keeps it to four statements.
  return inTransaction(knex, caps.dialect, (x) =>
    claimWith(x, owner, handlerKeys, limit, now, leaseMs),
  );
}

/** The SQLite claim's statements, inside the caller's transaction. */
export async function claimWith(
  x: Exec,
  owner: string,
  handlerKeys: string[],
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimResult> {
  const none: ClaimResult = { steps: [], startedTaskIds: [] };
  if (handlerKeys.length === 0 || limit <= 0) return none;
  const picked = await x.all(
    `SELECT id, status, ready_at FROM ${TABLES.steps}
     WHERE ready_at IS NOT NULL AND ready_at <= ?
       AND handler_key IN (${handlerKeys.map(() => '?').join(', ')})
     ORDER BY ready_at LIMIT ?`,
    [now, ...handlerKeys, limit],
  );
  if (picked.length === 0) return none;
  const ids = picked.map((p) => Number(p.id));
  const rows = await x.all(
    `UPDATE ${TABLES.steps} SET status = 'in_progress', attempts = attempts + 1,
       fence = fence + 1, lease_owner = ?, lease_expires_at = ?, ready_at = NULL,
       next_retry_at = NULL, started_at = COALESCE(started_at, ?), updated_at = ?
     WHERE id IN (${ids.map(() => '?').join(', ')}) RETURNING *`,
    [owner, now + leaseMs, now, now, ...ids],
  );
  const before = new Map(picked.map((p) => [Number(p.id), p]));
  const claimed: ClaimedStep[] = rows.map((r) => {
    const step = stepFromRow(r);
    return { ...step, claimedReadyAt: Number(before.get(step.id)?.ready_at) };
  });
  const taskIds = [...new Set(claimed.map((c) => c.taskId))];
  // `+status` (SQLite's way to keep a term off the indexes): the tasks are found by id, never
  // by scanning the status index through a backlog of pending tasks.
  const started = await x.all(
    `UPDATE ${TABLES.tasks} SET status = 'in_progress', started_at = COALESCE(started_at, ?),
       updated_at = ?
     WHERE +status = 'pending' AND id IN (${taskIds.map(() => '?').join(', ')}) RETURNING id`,
    [now, now, ...taskIds],
  );
  await insertAll(x, TABLES.transitions, [
    ...claimed.map((c) =>
      transitionRow(
        c.taskId,
        c.name,
        (before.get(c.id)?.status as string | undefined) ?? null,
        'in_progress',
        now,
        c.attempts,
      ),
    ),
    ...started.map((t) => transitionRow(t.id as string, null, 'pending', 'in_progress', now)),
  ]);
  return {
    steps: claimed.sort((a, b) => a.id - b.id),
    startedTaskIds: started.map((t) => t.id as string),
    inputs: await readAttemptInputs(x, taskIds),
  };
}

/** Extends leases this owner still holds; returns the ids it no longer holds. */
export async function heartbeat(
  knex: Knex,
  owner: string,
  leases: { id: number; fence: number }[],
  now: number,
  leaseMs: number,
): Promise<number[]> {
  if (leases.length === 0) return [];
  const ids = leases.map((l) => l.id);
  await knex(TABLES.steps)
    .whereIn('id', ids)
    .where({ lease_owner: owner, status: 'in_progress' })
    .update({ lease_expires_at: now + leaseMs });
  const rows = await knex(TABLES.steps)
    .select('id', 'fence', 'status', 'lease_owner')
    .whereIn('id', ids);
  const held = new Set(
    rows
      .filter((r: any) => r.status === 'in_progress' && r.lease_owner === owner)
      .map((r: any) => `${Number(r.id)}:${Number(r.fence)}`),
  );
  return leases.filter((l) => !held.has(`${l.id}:${l.fence}`)).map((l) => l.id);
}

/**
 * Writes the outcome of an attempt, fenced: the update matches only while the step is still
 * in_progress under the same token, so a worker whose lease expired cannot overwrite the
 * attempt of the worker that took the step over.
 */
export async function finishAttempt(
  knex: Knex,
  step: ClaimedStep,
  outcome: AttemptOutcome,
  now: number,
): Promise<StepWriteResult> {
  return transaction(knex, async (trx) => {
    // Lock order everywhere is task row, then step rows: two steps of one task finishing at
    // once settle the task one after the other (each sees the other's committed status), and
    // an operator's cancel cannot deadlock with a completion.
    await lockTaskRow(trx, step.taskId);
    const fenced = () =>
      trx(TABLES.steps).where({ id: step.id, fence: step.fence, status: 'in_progress' });
    const release = { lease_owner: null, lease_expires_at: null, updated_at: now };
    let status: 'complete' | 'error' | 'skipped';
    let error: StepError | null = null;
    let update: Record<string, unknown>;
    if (outcome.kind === 'complete') {
      status = 'complete';
      update = { ...release, status, results: toJson(outcome.results), completed_at: now };
    } else {
      error = outcome.error;
      const skip = outcome.retryAt === null && step.skippable;
      status = skip ? 'skipped' : 'error';
      update = {
        ...release,
        status,
        failures: trx.raw('failures + 1'),
        last_error: toJson(outcome.error),
        next_retry_at: outcome.retryAt,
        ready_at: outcome.retryAt,
        completed_at: skip ? now : null,
      };
    }
    const n = await fenced().update(update);
    if (n === 0) return { applied: false, readyStepIds: [] };
    await trx(TABLES.transitions).insert(
      transitionRow(step.taskId, step.name, 'in_progress', status, now, step.attempts, error),
    );
    if (status === 'error' && outcome.kind === 'failed' && outcome.retryAt !== null) {
      return { applied: true, status, readyStepIds: [] };
    }
    const advanced = await advanceTask(
      trx,
      step.taskId,
      status === 'error' ? null : step.name,
      now,
    );
    return { applied: true, status, ...advanced };
  });
}

/**
 * Puts leased steps back to `pending`, claimable now, under a new fencing token (so the old
 * holder's late result is discarded), recording why in their transitions.
 */
async function handBack(
  trx: Knex.Transaction,
  rows: { id: unknown; task_id: string; name: string; attempts: unknown }[],
  now: number,
  why: { message: string; class: string; code?: string },
): Promise<void> {
  if (rows.length === 0) return;
  await trx(TABLES.steps)
    .whereIn(
      'id',
      rows.map((r) => Number(r.id)),
    )
    .update({
      status: 'pending',
      ready_at: now,
      fence: trx.raw('fence + 1'),
      lease_owner: null,
      lease_expires_at: null,
      updated_at: now,
    });
  await insertRows(
    trx,
    TABLES.transitions,
    rows.map((r) =>
      transitionRow(r.task_id, r.name, 'in_progress', 'pending', now, Number(r.attempts), {
        ...why,
        attempt: Number(r.attempts),
      }),
    ),
  );
}

/** Makes steps whose lease expired claimable again (their worker died or stalled). */
export async function reclaimExpired(
  knex: Knex,
  caps: StorageCapabilities,
  now: number,
): Promise<number[]> {
  return transaction(knex, async (trx) => {
    const q = trx(TABLES.steps)
      .select('id', 'task_id', 'name', 'attempts')
      .whereNotNull('lease_expires_at')
      .where('lease_expires_at', '<', now)
      .where('status', 'in_progress')
      .limit(500);
    if (caps.dialect === 'postgres') q.forUpdate().skipLocked();
    const rows: { id: unknown; task_id: string; name: string; attempts: unknown }[] = await q;
    await handBack(trx, rows, now, {
      message: 'Lease expired: the worker stopped heartbeating',
      class: 'LeaseExpired',
      code: 'LEASE_LOST',
    });
    return rows.map((r) => Number(r.id));
  });
}

/** Hands this owner's leased steps back for another attempt (graceful shutdown). */
export async function releaseLeases(
  knex: Knex,
  owner: string,
  leases: { id: number; fence: number }[],
  now: number,
): Promise<void> {
  if (leases.length === 0) return;
  await transaction(knex, async (trx) => {
    const held = new Set(leases.map((l) => `${l.id}:${l.fence}`));
    const rows = (
      await trx(TABLES.steps)
        .select('id', 'task_id', 'name', 'attempts', 'fence')
        .whereIn(
          'id',
          leases.map((l) => l.id),
        )
        .where({ status: 'in_progress', lease_owner: owner })
    ).filter((r: { id: unknown; fence: unknown }) =>
      held.has(`${Number(r.id)}:${Number(r.fence)}`),
    );
    await handBack(trx, rows, now, {
      message: 'Worker shut down during the attempt',
      class: 'WorkerShutdown',
    });
  });
}

/** The earliest future `ready_at` among the given handler keys (a scheduled retry). */
export async function nextReadyAt(
  knex: Knex,
  handlerKeys: string[],
  now: number,
): Promise<number | null> {
  if (handlerKeys.length === 0) return null;
  const row = await knex(TABLES.steps)
    .whereNotNull('ready_at')
    .where('ready_at', '>', now)
    .whereIn('handler_key', handlerKeys)
    .min({ t: 'ready_at' })
    .first();
  return row?.t === null || row?.t === undefined ? null : Number(row.t);
}
