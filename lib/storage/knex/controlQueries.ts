import type { Knex } from 'knex';
import { ConflictError, NotFoundError, taskNotFound } from '../../errors';
import type { Json } from '../../types';
import type { StepWriteResult, StorageCapabilities, TaskRecord } from '../types';
import { insertRows, transaction } from './tx';
import { TABLES } from './migrations';
import { advanceTask } from './progress';
import { stepFromRow, taskFromRow, toJson, transitionRow } from './rows';

async function lockTask(
  trx: Knex.Transaction,
  caps: StorageCapabilities,
  id: string,
): Promise<TaskRecord> {
  const q = trx(TABLES.tasks).where('id', id).first();
  // Operator actions on one task are serialised so a cancel and a retry cannot interleave.
  if (caps.dialect === 'postgres') q.forUpdate();
  const row = await q;
  if (!row) throw taskNotFound(id);
  return taskFromRow(row);
}

function invalid(message: string): ConflictError {
  return new ConflictError('INVALID_STATE_TRANSITION', message);
}

/**
 * Cancels a task: pending, scheduled and running steps become cancelled (running ones get a new
 * fencing token, so their worker's late result is discarded; the worker aborts their signal).
 */
export async function cancelTask(
  knex: Knex,
  caps: StorageCapabilities,
  id: string,
  now: number,
): Promise<TaskRecord> {
  return transaction(knex, async (trx) => {
    const task = await lockTask(trx, caps, id);
    if (!['pending', 'in_progress', 'error'].includes(task.status)) {
      throw invalid(`Task '${id}' is ${task.status} and cannot be cancelled`);
    }
    const live = (await trx(TABLES.steps).where('task_id', id))
      .map(stepFromRow)
      .filter(
        (s) =>
          s.status === 'pending' ||
          s.status === 'in_progress' ||
          (s.status === 'error' && s.readyAt !== null),
      );
    if (live.length > 0) {
      await trx(TABLES.steps)
        .whereIn(
          'id',
          live.map((s) => s.id),
        )
        .update({
          status: 'cancelled',
          ready_at: null,
          next_retry_at: null,
          fence: trx.raw('fence + 1'),
          lease_owner: null,
          lease_expires_at: null,
          updated_at: now,
        });
    }
    await trx(TABLES.tasks)
      .where('id', id)
      .update({ status: 'cancelled', updated_at: now, completed_at: now });
    await insertRows(trx, TABLES.transitions, [
      ...live.map((s) => transitionRow(id, s.name, s.status, 'cancelled', now, s.attempts || null)),
      transitionRow(id, null, task.status, 'cancelled', now),
    ]);
    return { ...task, status: 'cancelled', updatedAt: now, completedAt: now };
  });
}

/** Gives every step that failed for good a fresh set of attempts and resumes the task. */
export async function retryTask(
  knex: Knex,
  caps: StorageCapabilities,
  id: string,
  now: number,
): Promise<{ task: TaskRecord; readyStepIds: number[] }> {
  return transaction(knex, async (trx) => {
    const task = await lockTask(trx, caps, id);
    const failed = (await trx(TABLES.steps).where({ task_id: id, status: 'error' }))
      .map(stepFromRow)
      .filter((s) => s.readyAt === null);
    if (!['error', 'in_progress'].includes(task.status) || failed.length === 0) {
      throw invalid(`Task '${id}' is ${task.status} with no failed steps to retry`);
    }
    const readyStepIds: number[] = [];
    for (const s of failed) {
      const ready = s.pendingParents === 0;
      if (ready) readyStepIds.push(s.id);
      await trx(TABLES.steps)
        .where('id', s.id)
        .update({
          status: 'pending',
          failures: 0,
          ready_at: ready ? now : null,
          next_retry_at: null,
          updated_at: now,
        });
    }
    await insertRows(
      trx,
      TABLES.transitions,
      failed.map((s) => transitionRow(id, s.name, 'error', 'pending', now, s.attempts)),
    );
    await advanceTask(trx, id, null, now);
    const updated = taskFromRow(await trx(TABLES.tasks).where('id', id).first());
    return { task: updated, readyStepIds };
  });
}

/** Marks a pending or failed step as resolved with operator-supplied results. */
export async function resolveStep(
  knex: Knex,
  caps: StorageCapabilities,
  taskId: string,
  stepName: string,
  results: Json,
  now: number,
): Promise<StepWriteResult & { task: TaskRecord }> {
  return transaction(knex, async (trx) => {
    const task = await lockTask(trx, caps, taskId);
    const row = await trx(TABLES.steps).where({ task_id: taskId, name: stepName }).first();
    if (!row) {
      throw new NotFoundError('STEP_NOT_FOUND', `Step '${stepName}' not found in task '${taskId}'`);
    }
    const step = stepFromRow(row);
    if (!['pending', 'in_progress', 'error'].includes(task.status)) {
      throw invalid(`Task '${taskId}' is ${task.status}; its steps cannot be resolved`);
    }
    if (step.status !== 'pending' && step.status !== 'error') {
      throw invalid(
        `Step '${stepName}' is ${step.status}; only pending or error steps can be resolved manually`,
      );
    }
    await trx(TABLES.steps)
      .where('id', step.id)
      .update({
        status: 'resolved_manually',
        results: toJson(results),
        ready_at: null,
        next_retry_at: null,
        fence: trx.raw('fence + 1'),
        completed_at: now,
        updated_at: now,
      });
    await trx(TABLES.transitions).insert(
      transitionRow(taskId, stepName, step.status, 'resolved_manually', now, step.attempts || null),
    );
    const advanced = await advanceTask(trx, taskId, stepName, now);
    const updated = taskFromRow(await trx(TABLES.tasks).where('id', taskId).first());
    return { applied: true, status: 'resolved_manually', ...advanced, task: updated };
  });
}
