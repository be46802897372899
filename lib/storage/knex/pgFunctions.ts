import type { Knex } from 'knex';
import type { TaskStatus } from '../../types';
import type { ClaimedStep, ClaimResult, StepWriteResult } from '../types';
import { batchResults, plannedStatus, type EagerClaim, type FinishItem } from './batchFinish';
import { TABLES } from './migrations';
import { stepFromRow, toJson } from './rows';
import { inputsFromRows } from './inputs';
import { poolOf, type Row } from './exec';
import { retryOnDeadlock } from './tx';

/**
 * The engine's two hot operations on Postgres, as PL/pgSQL functions created by migration
 * `0002_postgres_functions`. A call is one round trip and one commit, and Postgres keeps each
 * statement's plan for the session: planning the equivalent ad hoc statements cost more server
 * time than running them (about 3 ms against 0.9 ms for a batch of completions on the
 * development machine). Each statement inside a function sees the changes of the statements
 * before it, with a fresh snapshot, which one statement with CTEs cannot.
 */
export function pgFunctionsSql(): string[] {
  const S = TABLES.steps;
  const T = TABLES.tasks;
  const TR = TABLES.transitions;
  // Every statement in these functions has an index made for it: plan once per session (not
  // five custom plans first), and never a sequential scan (which a young table without
  // statistics gets).
  const HEADER = `RETURNS json LANGUAGE plpgsql
    SET enable_seqscan = off SET plan_cache_mode = force_generic_plan
    AS $fn$`;
  return [
    // tasker_finish_steps: a batch of finished attempts (see finishAttemptsPg).
    `CREATE OR REPLACE FUNCTION tasker_finish_steps(
    p_ids bigint[], p_fences bigint[], p_status text[], p_results text[], p_errors text[],
    p_failed integer[], p_retry_at bigint[], p_done_at bigint[],
    c_parent bigint[], c_task text[], c_child text[],
    p_task_ids text[], p_now bigint, p_owner text, p_expires bigint, p_limit integer,
    p_keys text[]
  ) ${HEADER}
  DECLARE
    r_done json;
    r_kids json;
    r_settled json;
    r_taken integer;
    r_refill json;
  BEGIN
    -- Lock order everywhere: task rows (by id), then step rows.
    PERFORM 1 FROM ${T} WHERE id = ANY (p_task_ids) ORDER BY id FOR UPDATE;

    WITH v AS (
      SELECT * FROM unnest(p_ids, p_fences, p_status, p_results, p_errors, p_failed,
                           p_retry_at, p_done_at)
        AS v (id, fence, status, results, err, failed, retry_at, done_at)
    ),
    done AS (
      UPDATE ${S} AS s SET status = v.status, results = COALESCE(v.results, s.results),
        last_error = COALESCE(v.err, s.last_error), failures = s.failures + v.failed,
        next_retry_at = v.retry_at, ready_at = v.retry_at, completed_at = v.done_at,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = p_now
      FROM v WHERE s.id = v.id AND s.fence = v.fence AND s.status = 'in_progress'
      RETURNING s.id, s.task_id, s.name, s.status, s.attempts, v.err
    ),
    rel AS (
      SELECT c.task_id, c.child, count(*)::integer AS n
      FROM unnest(c_parent, c_task, c_child) AS c (parent_id, task_id, child)
      JOIN done ON done.id = c.parent_id
      WHERE done.status IN ('complete', 'skipped')
      GROUP BY c.task_id, c.child
    ),
    -- Children this release makes ready rank first; the first p_limit of them are claimed for
    -- p_owner. The CASEs below re-check readiness on the row as updated (Postgres re-reads a
    -- row changed by a concurrent release before updating it).
    cand AS (
      SELECT s.id, rel.n, row_number() OVER (
          ORDER BY (s.status = 'pending' AND s.pending_parents = rel.n) DESC, s.id) AS rk
      FROM ${S} s JOIN rel ON s.task_id = rel.task_id AND s.name = rel.child
    ),
    kids AS (
      UPDATE ${S} AS s SET pending_parents = s.pending_parents - cand.n,
        status = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN 'in_progress' ELSE s.status END,
        attempts = s.attempts + CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN 1 ELSE 0 END,
        fence = s.fence + CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN 1 ELSE 0 END,
        lease_owner = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN p_owner ELSE s.lease_owner END,
        lease_expires_at = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN p_expires
                       ELSE s.lease_expires_at END,
        next_retry_at = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN NULL ELSE s.next_retry_at END,
        started_at = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN COALESCE(s.started_at, p_now)
                       ELSE s.started_at END,
        ready_at = CASE WHEN cand.rk <= p_limit AND s.status = 'pending'
                       AND s.pending_parents - cand.n = 0 THEN NULL
                     WHEN s.status = 'pending' AND s.pending_parents - cand.n = 0 THEN p_now
                     ELSE s.ready_at END,
        updated_at = p_now
      FROM cand WHERE s.id = cand.id
      RETURNING s.*, (cand.rk <= p_limit AND s.status = 'in_progress'
        AND s.lease_owner = p_owner AND s.lease_expires_at = p_expires) AS taken
    ),
    tr AS (
      INSERT INTO ${TR} (task_id, step_name, from_status, to_status, attempt, error, at)
      SELECT task_id, name, 'in_progress', status, attempts, err, p_now FROM done
      UNION ALL
      SELECT task_id, name, 'pending', 'in_progress', attempts, NULL, p_now FROM kids WHERE taken
    )
    SELECT (SELECT COALESCE(json_agg(id), '[]'::json) FROM done),
      (SELECT COALESCE(json_agg(kids), '[]'::json) FROM kids
       WHERE taken OR (status = 'pending' AND ready_at IS NOT NULL)),
      (SELECT count(*) FROM kids WHERE taken)
    INTO r_done, r_kids, r_taken;

    -- Slots the children left free: other ready steps, as the worker's next claim would take.
    IF p_limit - r_taken > 0 AND cardinality(p_keys) > 0 THEN
      r_refill := tasker_claim_steps(p_keys, p_now, p_limit - r_taken, p_owner, p_expires);
    END IF;

    -- The status each live task's steps now imply (the rule of deriveTaskStatus).
    WITH agg AS (
      SELECT task_id,
        bool_and(status IN ('complete', 'skipped', 'resolved_manually')) AS all_done,
        bool_or(status = 'in_progress' OR ready_at IS NOT NULL) AS moving,
        bool_or(status = 'error') AS failed,
        bool_or(status NOT IN ('pending', 'skipped')) AS begun
      FROM ${S} WHERE task_id = ANY (p_task_ids) GROUP BY task_id
    ),
    derived AS (
      SELECT t.id, t.status AS from_status, CASE
          WHEN a.all_done THEN 'complete'
          WHEN a.moving THEN CASE
            WHEN t.status = 'error' THEN 'in_progress'
            WHEN t.status = 'pending' AND a.begun THEN 'in_progress'
            ELSE t.status END
          WHEN a.failed THEN 'error'
          ELSE t.status END AS to_status
      FROM ${T} t JOIN agg a ON a.task_id = t.id
      WHERE t.status IN ('pending', 'in_progress', 'error')
    ),
    upd AS (
      UPDATE ${T} AS t SET status = d.to_status, updated_at = p_now,
        completed_at = CASE WHEN d.to_status IN ('complete', 'error') THEN p_now ELSE NULL END,
        started_at = CASE WHEN d.from_status = 'pending' THEN p_now ELSE t.started_at END
      FROM derived d WHERE t.id = d.id AND d.to_status <> d.from_status
      RETURNING t.id, d.from_status, d.to_status
    ),
    tr AS (
      INSERT INTO ${TR} (task_id, step_name, from_status, to_status, at)
      SELECT id, NULL, from_status, to_status, p_now FROM upd
    )
    SELECT COALESCE(json_agg(upd), '[]'::json) FROM upd INTO r_settled;

    RETURN json_build_object('done', r_done, 'kids', r_kids, 'settled', r_settled,
      'refill', r_refill);
  END
  $fn$`,

    // tasker_claim_steps: claim up to p_limit ready steps of the given handler keys.
    `CREATE OR REPLACE FUNCTION tasker_claim_steps(
    p_keys text[], p_now bigint, p_limit integer, p_owner text, p_expires bigint
  ) ${HEADER}
  DECLARE
    r_steps json;
    r_started json;
    r_task_ids text[];
    r_tasks json;
    r_results json;
  BEGIN
    WITH picked AS (
      SELECT id, status, ready_at FROM ${S}
      WHERE ready_at IS NOT NULL AND ready_at <= p_now AND handler_key = ANY (p_keys)
      ORDER BY ready_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    ),
    claimed AS (
      UPDATE ${S} AS s SET status = 'in_progress', attempts = s.attempts + 1,
        fence = s.fence + 1, lease_owner = p_owner, lease_expires_at = p_expires,
        ready_at = NULL, next_retry_at = NULL, started_at = COALESCE(s.started_at, p_now),
        updated_at = p_now
      FROM picked WHERE s.id = picked.id
      RETURNING s.*, picked.status AS prev_status, picked.ready_at AS prev_ready_at
    ),
    tr AS (
      INSERT INTO ${TR} (task_id, step_name, from_status, to_status, attempt, at)
      SELECT task_id, name, prev_status, 'in_progress', attempts, p_now FROM claimed
    )
    SELECT (SELECT COALESCE(json_agg(claimed ORDER BY claimed.id), '[]'::json) FROM claimed),
      (SELECT array_agg(DISTINCT task_id) FROM claimed)
    INTO r_steps, r_task_ids;
    -- Start the pending ones among their tasks, found by id: a backlog of pending tasks must
    -- not be scanned (the status index would be, if the ids came from a CTE).
    WITH started AS (
      UPDATE ${T} SET status = 'in_progress', started_at = COALESCE(started_at, p_now),
        updated_at = p_now
      WHERE id IN (
        SELECT id FROM ${T} WHERE id = ANY (r_task_ids) AND status = 'pending'
        FOR UPDATE SKIP LOCKED
      )
      RETURNING id
    ),
    task_tr AS (
      INSERT INTO ${TR} (task_id, step_name, from_status, to_status, at)
      SELECT id, NULL, 'pending', 'in_progress', p_now FROM started
    )
    SELECT COALESCE(json_agg(id), '[]'::json) FROM started INTO r_started;
    -- What the attempts need besides the rows: their tasks and the finished steps' results
    -- (read after the claim, so a task started here shows in_progress).
    SELECT (SELECT COALESCE(json_agg(t), '[]'::json) FROM ${T} t WHERE t.id = ANY (r_task_ids)),
      (SELECT COALESCE(json_agg(json_build_object('task_id', s.task_id, 'name', s.name,
                                                  'results', s.results)), '[]'::json)
       FROM ${S} s WHERE s.task_id = ANY (r_task_ids)
         AND s.status IN ('complete', 'skipped', 'resolved_manually'))
    INTO r_tasks, r_results;
    RETURN json_build_object('steps', r_steps, 'started', r_started, 'tasks', r_tasks,
      'results', r_results);
  END
  $fn$`,
  ];
}

interface PgClient {
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{
    rows: Record<string, unknown>[];
  }>;
}

/**
 * Calls one of the functions on a pooled node-postgres client as a named prepared statement
 * (Knex would expand the array arguments into lists). Retried on deadlock.
 */
async function call(knex: Knex, fn: string, args: unknown[]): Promise<Record<string, unknown>> {
  const text = `SELECT ${fn}(${args.map((_, i) => `$${i + 1}`).join(', ')}) AS r`;
  const pool = poolOf(knex);
  return retryOnDeadlock(async () => {
    knex.emit('query', { sql: text, bindings: args });
    const conn = (await pool.acquireConnection()) as PgClient;
    try {
      const res = await conn.query({ name: fn, text, values: args });
      return res.rows[0].r as Record<string, unknown>;
    } finally {
      await pool.releaseConnection(conn);
    }
  });
}

/** Postgres `claimSteps`: one call of `tasker_claim_steps`. */
export async function claimStepsPg(
  knex: Knex,
  owner: string,
  handlerKeys: string[],
  limit: number,
  now: number,
  leaseMs: number,
): Promise<ClaimResult> {
  const r = await call(knex, 'tasker_claim_steps', [handlerKeys, now, limit, owner, now + leaseMs]);
  return claimFromJson(r);
}

function claimFromJson(r: Record<string, unknown>): ClaimResult {
  return {
    steps: (r.steps as Record<string, unknown>[]).map((row) => ({
      ...stepFromRow(row),
      claimedReadyAt: Number(row.prev_ready_at),
    })),
    startedTaskIds: r.started as string[],
    inputs: inputsFromRows(r.tasks as Row[], r.results as Row[]),
  };
}

/**
 * Postgres `finishAttempts`: one call of `tasker_finish_steps`, with the same effects as the
 * SQLite path: the fenced update of the steps, the release of their children (claiming up to
 * `eager.limit` of those that became ready for this worker), the transitions, and each touched
 * task's status derived from its steps.
 */
export async function finishAttemptsPg(
  knex: Knex,
  items: FinishItem[],
  now: number,
  eager?: EagerClaim,
): Promise<StepWriteResult[]> {
  if (items.length === 0) return [];
  const planned = items.map((i) => ({ item: i, ...plannedStatus(i) }));
  const children = items.flatMap((i) => i.children.map((child) => ({ parent: i, child })));
  const r = await call(knex, 'tasker_finish_steps', [
    items.map((i) => i.step.id),
    items.map((i) => i.step.fence),
    planned.map((p) => p.status),
    items.map((i) => (i.outcome.kind === 'complete' ? toJson(i.outcome.results) : null)),
    items.map((i) => (i.outcome.kind === 'failed' ? toJson(i.outcome.error) : null)),
    items.map((i) => (i.outcome.kind === 'failed' ? 1 : 0)),
    planned.map((p) => p.retryAt),
    planned.map((p) => (p.status === 'complete' || p.status === 'skipped' ? now : null)),
    children.map((c) => c.parent.step.id),
    children.map((c) => c.parent.step.taskId),
    children.map((c) => c.child),
    [...new Set(items.map((i) => i.step.taskId))].sort(),
    now,
    eager?.owner ?? '',
    now + (eager?.leaseMs ?? 0),
    eager?.limit ?? 0,
    eager?.handlerKeys ?? [],
  ]);

  const applied = new Set((r.done as unknown[]).map(Number));
  const readyByTask = new Map<string, number[]>();
  const claimedByTask = new Map<string, ClaimedStep[]>();
  for (const k of r.kids as Record<string, unknown>[]) {
    const step = stepFromRow(k);
    if (k.taken) {
      const list = claimedByTask.get(step.taskId) ?? [];
      list.push({ ...step, claimedReadyAt: now });
      claimedByTask.set(step.taskId, list);
    } else {
      readyByTask.set(step.taskId, [...(readyByTask.get(step.taskId) ?? []), step.id]);
    }
  }
  const newStatus = new Map<string, { from: TaskStatus; to: TaskStatus }>(
    (r.settled as Record<string, unknown>[]).map((s) => [
      s.id as string,
      { from: s.from_status as TaskStatus, to: s.to_status as TaskStatus },
    ]),
  );

  const refill = r.refill ? claimFromJson(r.refill as Record<string, unknown>) : undefined;
  return batchResults(planned, applied, readyByTask, claimedByTask, newStatus, refill);
}
