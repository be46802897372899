import type { Knex } from 'knex';
import type { StepStatus, TaskStatus } from '../../types';
import type { AttemptOutcome, ClaimedStep, ClaimResult, StepWriteResult } from '../types';
import { TABLES } from './migrations';
import { deriveTaskStatus } from './progress';
import { stepFromRow, toJson, transitionRow } from './rows';
import { inTransaction, insertAll, type Exec } from './exec';
import { claimWith } from './stepQueries';

/** One finished attempt to write, with the names of the steps that depend on it. */
export interface FinishItem {
  step: ClaimedStep;
  outcome: AttemptOutcome;
  /** Step names of the same task that depend on this step (from the handler's DAG). */
  children: string[];
}

const LIVE: ReadonlySet<string> = new Set(['pending', 'in_progress', 'error']);

/**
 * Claim children released by this batch in the same transaction, for the worker writing it
 * (eager dispatch): a chain's next step starts without another round trip to find it.
 */
export interface EagerClaim {
  owner: string;
  leaseMs: number;
  /** Free slots of the worker; at most this many steps are claimed. */
  limit: number;
  /**
   * When set, slots the released children leave free are filled with other ready steps of
   * these handler keys (what the worker's next claim would take), in the same transaction.
   */
  handlerKeys?: string[];
}

/** `(VALUES (?, ?), (?, ?)) AS v` with v.column1..N, valid on Postgres and SQLite alike. */
function values(rows: Knex.Value[][], casts: string[]): { sql: string; bindings: Knex.Value[] } {
  const one = `(${casts.map((c) => (c ? `CAST(? AS ${c})` : '?')).join(', ')})`;
  return { sql: `(VALUES ${rows.map(() => one).join(', ')}) AS v`, bindings: rows.flat() };
}

/**
 * SQLite (Postgres: `finishAttemptsPg`, one function call). Writes many finished attempts in
 * one transaction with a fixed number of statements: one
 * fenced UPDATE ... FROM (VALUES ...) for the steps, one for releasing their children, one read
 * and at most a few updates to settle the touched tasks, one insert for the transitions. This
 * is what lets a step cost far less than a transaction of its own under load.
 */
export async function finishAttempts(
  knex: Knex,
  items: FinishItem[],
  now: number,
  eager?: EagerClaim,
): Promise<StepWriteResult[]> {
  if (items.length === 0) return [];
  return inTransaction(knex, 'sqlite', (x) => writeBatch(x, items, now, eager));
}

async function writeBatch(
  x: Exec,
  items: FinishItem[],
  now: number,
  eager?: EagerClaim,
): Promise<StepWriteResult[]> {
  const taskIds = [...new Set(items.map((i) => i.step.taskId))].sort();
  // The tasks' statuses, for settling them below (the write lock of BEGIN IMMEDIATE is held).
  const taskStatus = new Map<string, TaskStatus>(
    (
      await x.all(
        `SELECT id, status FROM ${TABLES.tasks} WHERE id IN (${taskIds.map(() => '?').join(', ')})`,
        taskIds,
      )
    ).map((r) => [r.id as string, r.status as TaskStatus]),
  );

  const planned = items.map((i) => {
    const o = i.outcome;
    const failed = o.kind === 'failed';
    const { status, retryAt } = plannedStatus(i);
    const done = status === 'complete' || status === 'skipped';
    return {
      item: i,
      status,
      error: failed ? o.error : null,
      retryAt,
      row: [
        i.step.id,
        i.step.fence,
        status,
        o.kind === 'complete' ? toJson(o.results) : null,
        failed ? toJson(o.error) : null,
        failed ? 1 : 0,
        retryAt,
        done ? now : null,
      ],
    };
  });
  const v = values(
    planned.map((p) => p.row),
    ['bigint', 'bigint', '', '', '', 'integer', 'bigint', 'bigint'],
  );
  const s = TABLES.steps;
  const updated = await x.all(
    `UPDATE ${s} SET status = v.column3, results = COALESCE(v.column4, ${s}.results),
         last_error = COALESCE(v.column5, ${s}.last_error), failures = ${s}.failures + v.column6,
         next_retry_at = v.column7, ready_at = v.column7, completed_at = v.column8,
         lease_owner = NULL, lease_expires_at = NULL, updated_at = CAST(? AS bigint)
       FROM ${v.sql}
       WHERE ${s}.id = v.column1 AND ${s}.fence = v.column2 AND ${s}.status = 'in_progress'
       RETURNING ${s}.id`,
    [now, ...v.bindings],
  );
  const applied = new Set(updated.map((r) => Number(r.id)));
  const ok = planned.filter((p) => applied.has(p.item.step.id));

  // Release children of steps that completed or were skipped.
  const dec = new Map<string, { taskId: string; name: string; n: number }>();
  for (const p of ok) {
    if (p.status !== 'complete' && p.status !== 'skipped') continue;
    for (const child of p.item.children) {
      const key = `${p.item.step.taskId}\u0000${child}`;
      const e = dec.get(key) ?? { taskId: p.item.step.taskId, name: child, n: 0 };
      e.n += 1;
      dec.set(key, e);
    }
  }
  const readyByTask = new Map<string, number[]>();
  if (dec.size > 0) {
    const dv = values(
      [...dec.values()].map((d) => [d.taskId, d.name, d.n]),
      ['', '', 'integer'],
    );
    const released = await x.all(
      `UPDATE ${s} SET pending_parents = ${s}.pending_parents - v.column3,
           ready_at = CASE WHEN ${s}.pending_parents - v.column3 = 0 AND ${s}.status = 'pending'
                           THEN CAST(? AS bigint) ELSE ${s}.ready_at END,
           updated_at = CAST(? AS bigint)
         FROM ${dv.sql}
         WHERE ${s}.task_id = v.column1 AND ${s}.name = v.column2
         RETURNING ${s}.id, ${s}.task_id, ${s}.status, ${s}.ready_at`,
      [now, now, ...dv.bindings],
    );
    for (const r of released) {
      if (r.ready_at === null || r.status !== 'pending') continue;
      const list = readyByTask.get(r.task_id as string) ?? [];
      list.push(Number(r.id));
      readyByTask.set(r.task_id as string, list);
    }
  }

  const claimedByTask = new Map<string, ClaimedStep[]>();
  const readyIds = [...readyByTask.values()].flat().slice(0, eager?.limit ?? 0);
  if (eager && readyIds.length > 0) {
    const claimed = await x.all(
      `UPDATE ${s} SET status = 'in_progress', attempts = attempts + 1, fence = fence + 1,
           lease_owner = ?, lease_expires_at = CAST(? AS bigint), ready_at = NULL,
           next_retry_at = NULL, started_at = COALESCE(started_at, CAST(? AS bigint)),
           updated_at = CAST(? AS bigint)
         WHERE id IN (${readyIds.map(() => '?').join(', ')}) AND ready_at IS NOT NULL
         RETURNING *`,
      [eager.owner, now + eager.leaseMs, now, now, ...readyIds],
    );
    for (const r of claimed) {
      const step: ClaimedStep = { ...stepFromRow(r), claimedReadyAt: now };
      claimedByTask.set(step.taskId, [...(claimedByTask.get(step.taskId) ?? []), step]);
      const left = (readyByTask.get(step.taskId) ?? []).filter((id) => id !== step.id);
      readyByTask.set(step.taskId, left);
    }
  }

  // Slots the children left free: other ready steps, as the worker's next claim would take.
  let refill: ClaimResult | undefined;
  const taken = [...claimedByTask.values()].reduce((n, l) => n + l.length, 0);
  if (eager?.handlerKeys && eager.limit - taken > 0) {
    refill = await claimWith(
      x,
      eager.owner,
      eager.handlerKeys,
      eager.limit - taken,
      now,
      eager.leaseMs,
    );
  }

  // Settle the tasks whose steps reached a resting state. A task that is in progress and just
  // had children released cannot have finished: no need to read its steps.
  const released = new Set(
    [...readyByTask.keys(), ...claimedByTask.keys()].filter(
      (id) => (readyByTask.get(id)?.length ?? 0) + (claimedByTask.get(id)?.length ?? 0) > 0,
    ),
  );
  const settle = [
    ...new Set(ok.filter((p) => p.retryAt === null).map((p) => p.item.step.taskId)),
  ].filter(
    (id) =>
      LIVE.has(taskStatus.get(id) ?? '') &&
      !(taskStatus.get(id) === 'in_progress' && released.has(id)),
  );
  const newStatus = new Map<string, { from: TaskStatus; to: TaskStatus }>();
  if (settle.length > 0) {
    const counts = await x.all(
      `SELECT task_id, status, CASE WHEN ready_at IS NULL THEN 0 ELSE 1 END AS r, COUNT(*) AS n
         FROM ${s} WHERE task_id IN (${settle.map(() => '?').join(', ')})
         GROUP BY task_id, status, CASE WHEN ready_at IS NULL THEN 0 ELSE 1 END`,
      settle,
    );
    const byTask = new Map<string, { status: StepStatus; ready: boolean }[]>();
    for (const c of counts) {
      const list = byTask.get(c.task_id as string) ?? [];
      list.push({ status: c.status as StepStatus, ready: Number(c.r) === 1 });
      byTask.set(c.task_id as string, list);
    }
    for (const id of settle) {
      const from = taskStatus.get(id)!;
      const to = deriveTaskStatus(from, byTask.get(id) ?? []);
      if (to !== from) newStatus.set(id, { from, to });
    }
    const groups = new Map<string, string[]>();
    for (const [id, { from, to }] of newStatus) {
      const key = `${from}>${to}`;
      groups.set(key, [...(groups.get(key) ?? []), id]);
    }
    for (const [key, ids] of groups) {
      const [from, to] = key.split('>') as [TaskStatus, TaskStatus];
      const finished = to === 'complete' || to === 'error';
      await x.all(
        `UPDATE ${TABLES.tasks} SET status = ?, updated_at = ?, completed_at = ?${
          from === 'pending' ? ', started_at = ?' : ''
        } WHERE id IN (${ids.map(() => '?').join(', ')})`,
        [to, now, finished ? now : null, ...(from === 'pending' ? [now] : []), ...ids],
      );
    }
  }

  const transitions = [
    ...[...claimedByTask.values()]
      .flat()
      .map((c) => transitionRow(c.taskId, c.name, 'pending', 'in_progress', now, c.attempts)),
    ...ok.map((p) =>
      transitionRow(
        p.item.step.taskId,
        p.item.step.name,
        'in_progress',
        p.status,
        now,
        p.item.step.attempts,
        p.error,
      ),
    ),
    ...[...newStatus].map(([id, { from, to }]) => transitionRow(id, null, from, to, now)),
  ];
  if (transitions.length > 0) await insertAll(x, TABLES.transitions, transitions);

  return batchResults(planned, applied, readyByTask, claimedByTask, newStatus, refill);
}

/** The status a finished attempt leaves its step in, and when it is retried (null: not). */
export function plannedStatus(i: FinishItem): { status: StepStatus; retryAt: number | null } {
  const o = i.outcome;
  if (o.kind !== 'failed') return { status: 'complete', retryAt: null };
  return {
    status: o.retryAt === null && i.step.skippable ? 'skipped' : 'error',
    retryAt: o.retryAt,
  };
}

/**
 * A batch's results in the order of its items. A task's ready children, claimed children and
 * status change are reported once, on its last applied item; the refill on the last result.
 */
export function batchResults(
  planned: { item: FinishItem; status: StepStatus }[],
  applied: Set<number>,
  readyByTask: Map<string, number[]>,
  claimedByTask: Map<string, ClaimedStep[]>,
  newStatus: Map<string, { from: TaskStatus; to: TaskStatus }>,
  refill: ClaimResult | undefined,
): StepWriteResult[] {
  const lastOfTask = new Map<string, number>();
  planned.forEach((p, i) => {
    if (applied.has(p.item.step.id)) lastOfTask.set(p.item.step.taskId, i);
  });
  const results = planned.map((p, i): StepWriteResult => {
    if (!applied.has(p.item.step.id)) return { applied: false, readyStepIds: [] };
    if (lastOfTask.get(p.item.step.taskId) !== i) {
      return { applied: true, status: p.status, readyStepIds: [] };
    }
    const change = newStatus.get(p.item.step.taskId);
    return {
      applied: true,
      status: p.status,
      readyStepIds: readyByTask.get(p.item.step.taskId) ?? [],
      claimed: claimedByTask.get(p.item.step.taskId) ?? [],
      ...(change ? { taskStatus: change.to, taskStarted: change.from === 'pending' } : {}),
    };
  });
  if (refill && results.length > 0) results[results.length - 1].refill = refill;
  return results;
}
