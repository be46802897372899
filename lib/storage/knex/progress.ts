import type { Knex } from 'knex';
import type { StepStatus, TaskStatus } from '../../types';
import { TABLES } from './migrations';
import { transitionRow } from './rows';

const DONE: ReadonlySet<string> = new Set(['complete', 'skipped', 'resolved_manually']);

/** True for the step states that let dependents run. */
export function isStepDone(status: string): boolean {
  return DONE.has(status);
}

/**
 * Takes the task row's lock (Postgres; SQLite has one writer anyway). Every transaction that
 * changes a task's steps takes it first, so lock order is always task, then steps.
 */
export async function lockTaskRow(trx: Knex.Transaction, taskId: string): Promise<void> {
  if (
    trx.client.config.client === 'pg' ||
    (trx.client as { dialect?: string }).dialect === 'postgresql'
  ) {
    await trx.raw(`SELECT id FROM ${TABLES.tasks} WHERE id = ? FOR UPDATE`, [taskId]);
  }
}

interface SiblingRow {
  id: number;
  name: string;
  status: StepStatus;
  depends_on: string;
  pending_parents: number;
  ready_at: number | null;
}

/** What {@link advanceTask} changed. */
export interface Advance {
  readyStepIds: number[];
  taskStatus?: TaskStatus;
  taskStarted?: boolean;
}

/**
 * Runs inside the transaction that just finished step `doneStep` (or changed several steps):
 * releases the children of `doneStep` when it ended complete, skipped or resolved, then moves
 * the task to the status its steps now imply. The readiness of each child is kept in its
 * `pending_parents` counter and `ready_at` column here, in the completing transaction, so that
 * finding ready steps later is an index lookup rather than a DAG walk.
 */
export async function advanceTask(
  trx: Knex.Transaction,
  taskId: string,
  doneStep: string | null,
  now: number,
): Promise<Advance> {
  const rows: SiblingRow[] = (
    await trx(TABLES.steps)
      .select('id', 'name', 'status', 'depends_on', 'pending_parents', 'ready_at')
      .where('task_id', taskId)
  ).map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    name: r.name as string,
    status: r.status as StepStatus,
    depends_on: r.depends_on as string,
    pending_parents: Number(r.pending_parents),
    ready_at: r.ready_at === null ? null : Number(r.ready_at),
  }));

  const readyStepIds: number[] = [];
  if (doneStep !== null) {
    const children = rows.filter((r) => (JSON.parse(r.depends_on) as string[]).includes(doneStep));
    if (children.length > 0) {
      await trx(TABLES.steps)
        .whereIn(
          'id',
          children.map((c) => c.id),
        )
        .update({
          pending_parents: trx.raw('pending_parents - 1'),
          ready_at: trx.raw(
            `CASE WHEN pending_parents = 1 AND status = 'pending' THEN ? ELSE ready_at END`,
            [now],
          ),
          updated_at: now,
        });
      for (const c of children) {
        c.pending_parents -= 1;
        if (c.pending_parents === 0 && c.status === 'pending') {
          c.ready_at = now;
          readyStepIds.push(c.id);
        }
      }
    }
  }
  return { readyStepIds, ...(await settleTaskStatus(trx, taskId, rows, now)) };
}

/**
 * The status a live task (pending, in_progress or error) should have given its steps: complete
 * when all are done; in_progress while any runs or is claimable or scheduled; error when none
 * can move and one failed for good. Pure, shared by single and batched writes.
 */
export function deriveTaskStatus(
  current: TaskStatus,
  steps: { status: StepStatus; ready: boolean }[],
): TaskStatus {
  if (steps.every((r) => DONE.has(r.status))) return 'complete';
  if (steps.some((r) => r.status === 'in_progress' || r.ready)) {
    if (current === 'error') return 'in_progress';
    if (
      current === 'pending' &&
      steps.some((r) => r.status !== 'pending' && r.status !== 'skipped')
    ) {
      return 'in_progress';
    }
    return current;
  }
  if (steps.some((r) => r.status === 'error')) return 'error';
  return current;
}

/** Derives the task's status from its steps and writes it when it changed. */
async function settleTaskStatus(
  trx: Knex.Transaction,
  taskId: string,
  rows: SiblingRow[],
  now: number,
): Promise<{ taskStatus?: TaskStatus; taskStarted?: boolean }> {
  const task = await trx(TABLES.tasks).select('status').where('id', taskId).first();
  const current = task?.status as TaskStatus | undefined;
  // Only the live states move here; cancelled, complete and resolved tasks stay as they are.
  if (current !== 'pending' && current !== 'in_progress' && current !== 'error') return {};

  const next = deriveTaskStatus(
    current,
    rows.map((r) => ({ status: r.status, ready: r.ready_at !== null })),
  );
  if (next === current) return {};
  const finished = next === 'complete' || next === 'error';
  await trx(TABLES.tasks)
    .where('id', taskId)
    .update({
      status: next,
      updated_at: now,
      completed_at: finished ? now : null,
      ...(current === 'pending' ? { started_at: now } : {}),
    });
  await trx(TABLES.transitions).insert(transitionRow(taskId, null, current, next, now));
  return { taskStatus: next, taskStarted: current === 'pending' && next === 'in_progress' };
}
