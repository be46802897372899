import type { Knex } from 'knex';
import { ConfigurationError, ConflictError } from '../../errors';
import type { Json } from '../../types';
import type {
  AttemptInputs,
  AttemptOutcome,
  ClaimedStep,
  ClaimResult,
  CreateTaskResult,
  NewTask,
  StatusCounts,
  StepRecord,
  StepWriteResult,
  Storage,
  StorageCapabilities,
  TaskFilter,
  TaskPage,
  TaskRecord,
  TransitionRecord,
} from '../types';
import { openConnection, type Connection, type StorageConfig } from './connection';
import { applyMigrations, migrationStatus, TABLES } from './migrations';
import { inTransaction, insertAll, insertSql, withExec } from './exec';
import { stepFromRow, taskFromRow, toJson, transitionFromRow, transitionRow } from './rows';
import * as steps from './stepQueries';
import { finishAttempts, type EagerClaim, type FinishItem } from './batchFinish';
import * as control from './controlQueries';
import { claimStepsPg, finishAttemptsPg } from './pgFunctions';
import { readAttemptInputs } from './inputs';

/** Task counts up to this are exact; above it GET /tasks reports an estimate (see docs/api.md). */
export const EXACT_COUNT_LIMIT = 10_000;

/** Tasks with more steps than this are created on their own, not batched. */
const MAX_BATCHED_STEPS = 1000;

interface QueuedCreate {
  task: NewTask;
  now: number;
  resolve(r: CreateTaskResult): void;
  reject(err: unknown): void;
}

/** The rows a new task inserts: the task, its steps, and their first transitions. */
function taskRows(task: NewTask, now: number) {
  return {
    task: {
      id: task.id,
      namespace: task.namespace,
      name: task.name,
      version: task.version,
      status: 'pending',
      context: toJson(task.context),
      bypass_steps: toJson(task.bypassSteps),
      idempotency_key: task.idempotencyKey,
      request_hash: task.requestHash,
      trace_context: task.traceContext ? toJson(task.traceContext) : null,
      created_at: now,
      updated_at: now,
    },
    steps: task.steps.map((s) => ({
      task_id: task.id,
      name: s.name,
      position: s.position,
      handler_key: `${task.namespace}.${task.name}@${task.version}`,
      status: s.status,
      depends_on: toJson(s.dependsOn),
      pending_parents: s.pendingParents,
      ready_at: s.status === 'pending' && s.pendingParents === 0 ? now : null,
      max_attempts: s.maxAttempts,
      skippable: s.skippable,
      completed_at: s.status === 'skipped' ? now : null,
      created_at: now,
      updated_at: now,
    })),
    transitions: [
      transitionRow(task.id, null, null, 'pending', now),
      ...task.steps.map((s) => transitionRow(task.id, s.name, null, s.status, now)),
    ],
  };
}

/** The Knex implementation of {@link Storage}, for SQLite (better-sqlite3) and Postgres (pg). */
export class KnexStorage implements Storage {
  readonly knex: Knex;
  readonly capabilities: StorageCapabilities;
  private readonly connection: Connection;
  private closed = false;
  private readonly countCache = new Map<string, { n: number; until: number }>();
  private readonly createQueue: QueuedCreate[] = [];
  private creating = false;

  /** `queryTimeoutMs`: see {@link TaskerConfig.queryTimeoutMs} (Postgres only). */
  constructor(config?: StorageConfig, options: { queryTimeoutMs?: number } = {}) {
    this.connection = openConnection(config, options.queryTimeoutMs);
    this.knex = this.connection.knex;
    const pg = this.connection.dialect === 'postgres';
    this.capabilities = { dialect: this.connection.dialect, multiProcess: pg, notifications: pg };
  }

  async migrate(): Promise<void> {
    // Migrations may legitimately run long (an index on a big table): no half-open guard.
    this.connection.guard.paused = true;
    try {
      await applyMigrations(this.knex, this.connection.dialect);
    } catch (err) {
      // invalid_schema_name: the searchPath names a schema that does not exist.
      if ((err as { code?: string }).code === '3F000') {
        throw new ConfigurationError(
          'The Postgres schema in storage.searchPath does not exist: create it first',
          { cause: (err as Error).message },
        );
      }
      throw err;
    } finally {
      this.connection.guard.paused = false;
    }
  }

  migrationStatus(): Promise<{ applied: string[]; pending: string[] }> {
    return migrationStatus(this.knex);
  }

  async ping(): Promise<void> {
    await this.knex.raw('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Creations already accepted are written first.
    while (this.creating) await new Promise((r) => setTimeout(r, 5));
    if (this.connection.owned) await this.knex.destroy();
  }

  /**
   * Creates a task with its steps. Tasks without an idempotency key created while an insert is
   * in flight (concurrent requests, a burst of `createTask` calls) are inserted together in the
   * next one: one statement on Postgres, one transaction on SQLite, one commit for all. A batch
   * that fails is retried task by task, so each caller gets its own task's outcome.
   */
  createTask(task: NewTask, now: number): Promise<CreateTaskResult> {
    if (task.idempotencyKey !== null || task.steps.length > MAX_BATCHED_STEPS) {
      return this.createOne(task, now);
    }
    return new Promise((resolve, reject) => {
      this.createQueue.push({ task, now, resolve, reject });
      if (!this.creating) {
        this.creating = true;
        setImmediate(() => void this.flushCreates());
      }
    });
  }

  private async flushCreates(): Promise<void> {
    try {
      while (this.createQueue.length > 0) {
        let steps = 0;
        let n = 0;
        while (n < this.createQueue.length && n < 100 && steps < MAX_BATCHED_STEPS) {
          steps += this.createQueue[n].task.steps.length;
          n++;
        }
        const batch = this.createQueue.splice(0, n);
        const rows = batch.map((b) => taskRows(b.task, b.now));
        try {
          await this.insertTasks(rows);
        } catch {
          for (const b of batch) {
            this.createOne(b.task, b.now).then(
              (r) => b.resolve(r),
              (err: unknown) => b.reject(err),
            );
          }
          continue;
        }
        rows.forEach((r, i) => batch[i].resolve({ task: taskFromRow(r.task), created: true }));
      }
    } finally {
      this.creating = false;
    }
  }

  /** Inserts new tasks (no idempotency keys) with their steps and first transitions. */
  private async insertTasks(rows: ReturnType<typeof taskRows>[]): Promise<void> {
    const tasks = rows.map((r) => r.task);
    const stepRows = rows.flatMap((r) => r.steps);
    const transitions = rows.flatMap((r) => r.transitions);
    if (this.capabilities.dialect === 'postgres') {
      // One statement: one round trip, one commit, no BEGIN. The steps' foreign keys are
      // checked at its end, when the task rows of the first CTE are there.
      const t = insertSql(TABLES.tasks, tasks);
      const tr = insertSql(TABLES.transitions, transitions);
      if (stepRows.length === 0) {
        await this.knex.raw(`WITH t AS (${t.sql}) ${tr.sql}`, [
          ...t.bindings,
          ...tr.bindings,
        ] as Knex.Value[]);
        return;
      }
      const st = insertSql(TABLES.steps, stepRows);
      await this.knex.raw(`WITH t AS (${t.sql}), s AS (${st.sql}) ${tr.sql}`, [
        ...t.bindings,
        ...st.bindings,
        ...tr.bindings,
      ] as Knex.Value[]);
      return;
    }
    await inTransaction(this.knex, 'sqlite', async (x) => {
      await insertAll(x, TABLES.tasks, tasks);
      await insertAll(x, TABLES.steps, stepRows);
      await insertAll(x, TABLES.transitions, transitions);
    });
  }

  /** Creates one task in a transaction of its own (idempotency keys, large tasks, retries). */
  private createOne(task: NewTask, now: number): Promise<CreateTaskResult> {
    const rows = taskRows(task, now);
    return inTransaction(this.knex, this.capabilities.dialect, async (x) => {
      const t = insertSql(TABLES.tasks, [rows.task]);
      if (task.idempotencyKey !== null) {
        // The unique index decides between concurrent duplicates: the loser inserts nothing
        // (after waiting for the winner's commit on Postgres) and reads the winner's task.
        const inserted = await x.all(
          `${t.sql} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
          t.bindings,
        );
        if (inserted.length === 0) {
          const [existing] = await x.all(
            `SELECT * FROM ${TABLES.tasks} WHERE idempotency_key = ?`,
            [task.idempotencyKey],
          );
          const found = taskFromRow(existing);
          if (found.requestHash !== task.requestHash) {
            throw new ConflictError(
              'IDEMPOTENCY_CONFLICT',
              // No task id in the answer: the earlier task may be in a namespace the caller
              // is not allowed to read.
              `Idempotency key '${task.idempotencyKey}' was already used with a different request`,
            );
          }
          return { task: found, created: false };
        }
      } else {
        await x.all(t.sql, t.bindings);
      }
      await insertAll(x, TABLES.steps, rows.steps);
      await insertAll(x, TABLES.transitions, rows.transitions);
      return { task: taskFromRow(rows.task), created: true };
    });
  }

  async getTask(id: string): Promise<TaskRecord | undefined> {
    const row = await this.knex(TABLES.tasks).where('id', id).first();
    return row ? taskFromRow(row) : undefined;
  }

  async getTaskByIdempotencyKey(key: string): Promise<TaskRecord | undefined> {
    const row = await this.knex(TABLES.tasks).where('idempotency_key', key).first();
    return row ? taskFromRow(row) : undefined;
  }

  async listTasks(filter: TaskFilter, page: number, perPage: number): Promise<TaskPage> {
    const where = (q: Knex.QueryBuilder) => {
      if (filter.namespace !== undefined) q.where('namespace', filter.namespace);
      if (filter.name !== undefined) q.where('name', filter.name);
      if (filter.version !== undefined) q.where('version', filter.version);
      if (filter.status !== undefined) q.where('status', filter.status);
      return q;
    };
    const [totalCount, rows] = await Promise.all([
      this.countTasks(filter, where),
      where(this.knex(TABLES.tasks))
        .select('*')
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(perPage)
        .offset((page - 1) * perPage),
    ]);
    return { tasks: rows.map(taskFromRow), totalCount };
  }

  /**
   * The number of tasks matching a filter, without scanning a big table on every page: exact up
   * to {@link EXACT_COUNT_LIMIT} (a count over a LIMITed subquery, one index range), above that
   * the planner's estimate on Postgres, and on SQLite an exact count reused for a few seconds.
   */
  private async countTasks(
    filter: TaskFilter,
    where: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
  ): Promise<number> {
    const capped = where(this.knex(TABLES.tasks))
      .select(this.knex.raw('1'))
      .limit(EXACT_COUNT_LIMIT + 1);
    const row = await this.knex.from(capped.as('c')).count({ n: '*' }).first();
    const n = Number(row?.n ?? 0);
    if (n <= EXACT_COUNT_LIMIT) return n;
    const key = JSON.stringify(filter);
    const cached = this.countCache.get(key);
    if (cached && cached.until > Date.now()) return cached.n;
    let total = 0;
    let estimated = false;
    if (this.capabilities.dialect === 'postgres') {
      const sql = where(this.knex(TABLES.tasks)).select(this.knex.raw('1')).toSQL();
      const res = await this.knex.raw(
        `EXPLAIN (FORMAT JSON) ${sql.sql}`,
        sql.bindings as Knex.Value[],
      );
      const plan = (res.rows[0]['QUERY PLAN'] as { Plan: { 'Plan Rows': number } }[])[0].Plan;
      total = Math.round(plan['Plan Rows']);
      // Statistics lag behind a burst of inserts: trust the estimate only where it says the
      // table is far past the exact range, and count exactly (cached) otherwise.
      estimated = total > EXACT_COUNT_LIMIT * 10;
    }
    if (!estimated) {
      const exact = await where(this.knex(TABLES.tasks)).count({ n: '*' }).first();
      total = Number(exact?.n ?? n);
    }
    this.countCache.set(key, { n: total, until: Date.now() + 5000 });
    if (this.countCache.size > 100) this.countCache.delete(this.countCache.keys().next().value!);
    return total;
  }

  async getSteps(taskId: string): Promise<StepRecord[]> {
    const rows = await this.knex(TABLES.steps).where('task_id', taskId).orderBy('position');
    return rows.map(stepFromRow);
  }

  async getStepsForTasks(taskIds: string[]): Promise<StepRecord[]> {
    if (taskIds.length === 0) return [];
    const rows = await this.knex(TABLES.steps)
      .whereIn('task_id', taskIds)
      .orderBy([{ column: 'task_id' }, { column: 'position' }]);
    return rows.map(stepFromRow);
  }

  async getTransitions(taskId: string, stepName?: string): Promise<TransitionRecord[]> {
    const q = this.knex(TABLES.transitions).where('task_id', taskId).orderBy('id');
    if (stepName !== undefined) q.where('step_name', stepName);
    return (await q).map(transitionFromRow);
  }

  async statusCounts(now: number): Promise<StatusCounts> {
    const [taskRows, stepRows, retryRow, oldestRow] = await Promise.all([
      this.knex(TABLES.tasks).select('status').count({ n: '*' }).groupBy('status'),
      this.knex(TABLES.steps).select('status').count({ n: '*' }).groupBy('status'),
      this.knex(TABLES.steps)
        .whereNotNull('ready_at')
        .where('status', 'error')
        .count({ n: '*' })
        .first(),
      this.knex(TABLES.steps)
        .whereNotNull('ready_at')
        .where('ready_at', '<=', now)
        .min({ t: 'ready_at' })
        .first(),
    ]);
    const tally = (rows: any[]) =>
      Object.fromEntries(rows.map((r) => [r.status as string, Number(r.n)]));
    const oldest = oldestRow?.t === null || oldestRow?.t === undefined ? null : Number(oldestRow.t);
    return {
      tasks: tally(taskRows),
      steps: tally(stepRows),
      retriesPending: Number(retryRow?.n ?? 0),
      oldestReadyWaitMs: oldest === null ? 0 : Math.max(0, now - oldest),
    };
  }

  claimSteps(
    owner: string,
    handlerKeys: string[],
    limit: number,
    now: number,
    leaseMs: number,
  ): Promise<ClaimResult> {
    if (this.capabilities.dialect === 'postgres') {
      if (handlerKeys.length === 0 || limit <= 0) {
        return Promise.resolve({ steps: [], startedTaskIds: [] });
      }
      return claimStepsPg(this.knex, owner, handlerKeys, limit, now, leaseMs);
    }
    return steps.claimSteps(this.knex, this.capabilities, owner, handlerKeys, limit, now, leaseMs);
  }

  heartbeat(
    owner: string,
    leases: { id: number; fence: number }[],
    now: number,
    leaseMs: number,
  ): Promise<number[]> {
    return steps.heartbeat(this.knex, owner, leases, now, leaseMs);
  }

  finishAttempt(step: ClaimedStep, outcome: AttemptOutcome, now: number): Promise<StepWriteResult> {
    return steps.finishAttempt(this.knex, step, outcome, now);
  }

  finishAttempts(items: FinishItem[], now: number, eager?: EagerClaim): Promise<StepWriteResult[]> {
    if (this.capabilities.dialect === 'postgres') {
      return finishAttemptsPg(this.knex, items, now, eager);
    }
    return finishAttempts(this.knex, items, now, eager);
  }

  loadAttemptInputs(taskIds: string[]): Promise<AttemptInputs> {
    return withExec(this.knex, this.capabilities.dialect, (x) => readAttemptInputs(x, taskIds));
  }

  reclaimExpired(now: number): Promise<number[]> {
    return steps.reclaimExpired(this.knex, this.capabilities, now);
  }

  releaseLeases(
    owner: string,
    leases: { id: number; fence: number }[],
    now: number,
  ): Promise<void> {
    return steps.releaseLeases(this.knex, owner, leases, now);
  }

  nextReadyAt(handlerKeys: string[], now: number): Promise<number | null> {
    return steps.nextReadyAt(this.knex, handlerKeys, now);
  }

  cancelTask(id: string, now: number): Promise<TaskRecord> {
    return control.cancelTask(this.knex, this.capabilities, id, now);
  }

  retryTask(id: string, now: number): Promise<{ task: TaskRecord; readyStepIds: number[] }> {
    return control.retryTask(this.knex, this.capabilities, id, now);
  }

  resolveStep(
    taskId: string,
    stepName: string,
    results: Json,
    now: number,
  ): Promise<StepWriteResult & { task: TaskRecord }> {
    return control.resolveStep(this.knex, this.capabilities, taskId, stepName, results, now);
  }
}
