import type { Json, StepStatus, TaskStatus } from '../types';

/** The error stored for a failed attempt. Never holds a stack trace. */
export interface StepError {
  message: string;
  /** The error's class name, e.g. `TypeError`, `PermanentError`. */
  class: string;
  /** The error's `code` property when it has one. */
  code?: string;
  attempt: number;
}

/** A task row. Times are epoch milliseconds. */
export interface TaskRecord {
  id: string;
  namespace: string;
  name: string;
  version: string;
  status: TaskStatus;
  context: Json;
  bypassSteps: string[];
  idempotencyKey: string | null;
  requestHash: string | null;
  /** W3C trace context of the request that created the task (`traceparent`), if any. */
  traceContext: Record<string, string> | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
}

/** A workflow step row. */
export interface StepRecord {
  id: number;
  taskId: string;
  name: string;
  /** Definition order within the handler. */
  position: number;
  /** `namespace.name@version` of the task's handler: workers claim only keys they registered. */
  handlerKey: string;
  status: StepStatus;
  dependsOn: string[];
  /** Parents not yet complete, skipped or resolved_manually. */
  pendingParents: number;
  /** When the step may be claimed; null while it is not claimable. */
  readyAt: number | null;
  /** Attempts started (the current or last attempt number). */
  attempts: number;
  /** Failed attempts since the last retry request; compared with maxAttempts. */
  failures: number;
  maxAttempts: number;
  skippable: boolean;
  results: Json | null;
  lastError: StepError | null;
  nextRetryAt: number | null;
  startedAt: number | null;
  completedAt: number | null;
  /** Fencing token: incremented at every claim; a completion must present the current one. */
  fence: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** One recorded state change of a task (stepName null) or a workflow step. */
export interface TransitionRecord {
  id: number;
  taskId: string;
  stepName: string | null;
  fromStatus: string | null;
  toStatus: string;
  attempt: number | null;
  error: StepError | null;
  at: number;
}

/** A step row to insert with a new task. */
export interface NewStep {
  name: string;
  position: number;
  status: 'pending' | 'skipped';
  dependsOn: string[];
  pendingParents: number;
  maxAttempts: number;
  skippable: boolean;
}

/** A task to insert with its steps, in one transaction. */
export interface NewTask {
  id: string;
  namespace: string;
  name: string;
  version: string;
  context: Json;
  bypassSteps: string[];
  idempotencyKey: string | null;
  requestHash: string | null;
  traceContext: Record<string, string> | null;
  steps: NewStep[];
}

/** Result of {@link Storage.createTask}. */
export interface CreateTaskResult {
  task: TaskRecord;
  /** False when an earlier task with the same idempotency key was returned. */
  created: boolean;
}

/** Filters of {@link Storage.listTasks}. */
export interface TaskFilter {
  namespace?: string;
  name?: string;
  version?: string;
  status?: TaskStatus;
}

/** One page of tasks. */
export interface TaskPage {
  tasks: TaskRecord[];
  totalCount: number;
}

/** A step claimed by a worker: the row after the claim, with its fencing token. */
export interface ClaimedStep extends StepRecord {
  /** When the step had become claimable (its `ready_at` before the claim), for queue-wait metrics. */
  claimedReadyAt?: number;
}

/** What a claim returns. */
export interface ClaimResult {
  steps: ClaimedStep[];
  /** Tasks that moved from pending to in_progress with this claim. */
  startedTaskIds: string[];
  /**
   * The claimed steps' tasks and their finished steps' results, read with the claim (saves
   * {@link Storage.loadAttemptInputs}); absent when the storage does not read them.
   */
  inputs?: AttemptInputs;
}

/** How a finished attempt is written back. */
export type AttemptOutcome =
  | { kind: 'complete'; results: Json }
  | {
      kind: 'failed';
      error: StepError;
      /** When to retry; null means failed for good. */
      retryAt: number | null;
    };

/** What changed when an attempt or an operator action was written. */
export interface StepWriteResult {
  /** False when the fencing token no longer matched: the write was discarded. */
  applied: boolean;
  /** The step's status after the write. */
  status?: StepStatus;
  /** Ids of steps that became claimable now (and were not claimed by this write). */
  readyStepIds: number[];
  /** Steps this write claimed for the writing worker (eager dispatch), to run at once. */
  claimed?: ClaimedStep[];
  /** The task's new status when this write finished it. */
  taskStatus?: TaskStatus;
  /** The task's status changed from pending to in_progress in this write. */
  taskStarted?: boolean;
  /**
   * On the last result of a batch only: other ready steps the write claimed to fill the
   * worker's remaining free slots (`eager.handlerKeys`), as a claim would return them.
   */
  refill?: ClaimResult;
}

/** What attempts need besides the claimed row: the task and the parents' results. */
export interface AttemptInputs {
  tasks: Map<string, TaskRecord>;
  /** Task id to step name to results, for steps that are complete, skipped or resolved. */
  results: Map<string, Map<string, Json | null>>;
}

/** Counts for health and metrics. */
export interface StatusCounts {
  tasks: Partial<Record<TaskStatus, number>>;
  steps: Partial<Record<StepStatus, number>>;
  retriesPending: number;
  /** Milliseconds the oldest claimable step has waited, 0 when none. */
  oldestReadyWaitMs: number;
}

/**
 * Everything Tasker asks of its database. One implementation ships (Knex, on SQLite and
 * Postgres); dialect differences are capability flags inside it, not branches outside.
 */
export interface Storage {
  /** Capabilities the engine adapts to. */
  readonly capabilities: StorageCapabilities;
  /** Applies pending migrations; safe when several processes call it at once. */
  migrate(): Promise<void>;
  /** Names of applied and pending migrations. */
  migrationStatus(): Promise<{ applied: string[]; pending: string[] }>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;

  createTask(task: NewTask, now: number): Promise<CreateTaskResult>;
  getTask(id: string): Promise<TaskRecord | undefined>;
  getTaskByIdempotencyKey(key: string): Promise<TaskRecord | undefined>;
  listTasks(filter: TaskFilter, page: number, perPage: number): Promise<TaskPage>;
  getSteps(taskId: string): Promise<StepRecord[]>;
  getStepsForTasks(taskIds: string[]): Promise<StepRecord[]>;
  getTransitions(taskId: string, stepName?: string): Promise<TransitionRecord[]>;
  statusCounts(now: number): Promise<StatusCounts>;

  /** Claims up to `limit` claimable steps of the given handler keys, leasing them to `owner`. */
  claimSteps(
    owner: string,
    handlerKeys: string[],
    limit: number,
    now: number,
    leaseMs: number,
  ): Promise<ClaimResult>;
  /** Extends the leases still held; returns the ids whose lease was lost. */
  heartbeat(
    owner: string,
    leases: { id: number; fence: number }[],
    now: number,
    leaseMs: number,
  ): Promise<number[]>;
  /** Writes an attempt's outcome if the fencing token still matches. */
  finishAttempt(step: ClaimedStep, outcome: AttemptOutcome, now: number): Promise<StepWriteResult>;
  /**
   * Writes many attempts' outcomes in one transaction (each fenced on its own); `children` are
   * the names of the steps that depend on each step. Results are in the order of `items`.
   */
  finishAttempts(
    items: { step: ClaimedStep; outcome: AttemptOutcome; children: string[] }[],
    now: number,
    eager?: { owner: string; leaseMs: number; limit: number; handlerKeys?: string[] },
  ): Promise<StepWriteResult[]>;
  /** The tasks of the given steps and their finished steps' results, for starting attempts. */
  loadAttemptInputs(taskIds: string[]): Promise<AttemptInputs>;
  /** Makes steps whose lease expired claimable again; returns their ids. */
  reclaimExpired(now: number): Promise<number[]>;
  /** Makes this owner's leased steps claimable again (shutdown). */
  releaseLeases(owner: string, leases: { id: number; fence: number }[], now: number): Promise<void>;
  /** Earliest future time a step becomes claimable, for the poll timer. */
  nextReadyAt(handlerKeys: string[], now: number): Promise<number | null>;

  /** Cancels a task; returns the new task or throws INVALID_STATE_TRANSITION. */
  cancelTask(id: string, now: number): Promise<TaskRecord>;
  /** Gives failed steps new attempts and resumes the task. */
  retryTask(id: string, now: number): Promise<{ task: TaskRecord; readyStepIds: number[] }>;
  /** Resolves a pending or failed step with operator-supplied results. */
  resolveStep(
    taskId: string,
    stepName: string,
    results: Json,
    now: number,
  ): Promise<StepWriteResult & { task: TaskRecord }>;
}

/** What a storage backend can do. */
export interface StorageCapabilities {
  /** Knex client name. */
  dialect: 'sqlite' | 'postgres';
  /** Several processes may run workers on this database. */
  multiProcess: boolean;
  /** LISTEN/NOTIFY is available to wake idle workers. */
  notifications: boolean;
}
