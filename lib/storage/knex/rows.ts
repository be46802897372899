import type { Json, StepStatus, TaskStatus } from '../../types';
import type { StepError, StepRecord, TaskRecord, TransitionRecord } from '../types';

// node-postgres returns BIGINT as strings and SQLite returns booleans as 0/1: every row passes
// through these mappers so the rest of Tasker sees one shape.

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

function json<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  if (typeof v !== 'string') return v as T;
  return JSON.parse(v) as T;
}

/** Serialises a JSON value for a text column. */
export function toJson(v: unknown): string | null {
  return v === undefined ? null : JSON.stringify(v);
}

/** Maps a tasker_tasks row. */
export function taskFromRow(r: Record<string, unknown>): TaskRecord {
  return {
    id: r.id as string,
    namespace: r.namespace as string,
    name: r.name as string,
    version: r.version as string,
    status: r.status as TaskStatus,
    context: json<Json>(r.context, {}),
    bypassSteps: json<string[]>(r.bypass_steps, []),
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    requestHash: (r.request_hash as string | null) ?? null,
    traceContext: json<Record<string, string> | null>(r.trace_context, null),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    startedAt: numOrNull(r.started_at),
    completedAt: numOrNull(r.completed_at),
  };
}

/** Maps a tasker_workflow_steps row. */
export function stepFromRow(r: Record<string, unknown>): StepRecord {
  return {
    id: num(r.id),
    taskId: r.task_id as string,
    name: r.name as string,
    position: num(r.position),
    handlerKey: r.handler_key as string,
    status: r.status as StepStatus,
    dependsOn: json<string[]>(r.depends_on, []),
    pendingParents: num(r.pending_parents),
    readyAt: numOrNull(r.ready_at),
    attempts: num(r.attempts),
    failures: num(r.failures),
    maxAttempts: num(r.max_attempts),
    skippable: Boolean(r.skippable),
    results: json<Json | null>(r.results, null),
    lastError: json<StepError | null>(r.last_error, null),
    nextRetryAt: numOrNull(r.next_retry_at),
    startedAt: numOrNull(r.started_at),
    completedAt: numOrNull(r.completed_at),
    fence: num(r.fence),
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** Maps a tasker_step_transitions row. */
export function transitionFromRow(r: Record<string, unknown>): TransitionRecord {
  return {
    id: num(r.id),
    taskId: r.task_id as string,
    stepName: (r.step_name as string | null) ?? null,
    fromStatus: (r.from_status as string | null) ?? null,
    toStatus: r.to_status as string,
    attempt: numOrNull(r.attempt),
    error: json<StepError | null>(r.error, null),
    at: num(r.at),
  };
}

/** A transition row to insert. */
export function transitionRow(
  taskId: string,
  stepName: string | null,
  from: string | null,
  to: string,
  at: number,
  attempt: number | null = null,
  error: StepError | null = null,
): Record<string, unknown> {
  return {
    task_id: taskId,
    step_name: stepName,
    from_status: from,
    to_status: to,
    attempt,
    error: error ? JSON.stringify(error) : null,
    at,
  };
}
