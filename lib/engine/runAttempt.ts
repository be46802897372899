import type { RetryConfig } from '../config';
import { PermanentError, StepTimeoutError, TaskerError } from '../errors';
import type { TaskerEventPayload, TaskerEvents } from '../events/TaskerEvents';
import type {
  AttemptOutcome,
  ClaimedStep,
  StepError,
  StepWriteResult,
  TaskRecord,
} from '../storage';
import type { Json, Logger, RegisteredHandler, StepContext } from '../types';
import { backoffDelay } from './backoff';
import type { AbortReason, EngineHooks } from './Engine';

/** What happened in one attempt, for metrics and tracing. */
export interface AttemptReport {
  step: ClaimedStep;
  task: TaskRecord | undefined;
  outcome: 'complete' | 'retry' | 'failed' | 'skipped' | 'discarded';
  durationMs: number;
  /**
   * Milliseconds between the step becoming claimable and its claim; null when the claimed row
   * cannot tell (see {@link queueWaitOf}).
   */
  queueWaitMs: number | null;
  error?: StepError;
}

/** Everything one attempt needs. */
export interface AttemptInput {
  step: ClaimedStep;
  handler: RegisteredHandler | undefined;
  /** The step's task, loaded with the claim (undefined if it vanished). */
  task: TaskRecord | undefined;
  /** Results of the task's finished steps by name. */
  finished: Map<string, Json | null> | undefined;
  /** Writes the outcome (the engine batches these). */
  write(outcome: AttemptOutcome): Promise<StepWriteResult>;
  events: TaskerEvents;
  logger: Logger;
  retry: Required<RetryConfig>;
  signal: AbortSignal;
  abortReason(): AbortReason | null;
  setTimeoutReason(): void;
  hooks: EngineHooks;
}

function toStepError(err: unknown, attempt: number): StepError {
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    constructor?: { name?: string };
  };
  const cls =
    (err instanceof Error ? err.constructor?.name || err.name : undefined) ??
    (typeof e?.name === 'string' ? e.name : typeof err);
  return {
    message: typeof e?.message === 'string' ? e.message : String(err),
    class: cls,
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    attempt,
  };
}

/**
 * How long a step waited to be claimed: from the `ready_at` it had before the claim (when it
 * became claimable, or its retry fell due) to the claim itself (the row's `updated_at`).
 * Null when the storage did not report the earlier `ready_at`.
 */
export function queueWaitOf(step: ClaimedStep, _task?: TaskRecord): number | null {
  if (step.claimedReadyAt === undefined || !Number.isFinite(step.claimedReadyAt)) return null;
  return Math.max(0, step.updatedAt - step.claimedReadyAt);
}

/**
 * Runs one attempt of a claimed step and writes its outcome. Returns the storage write, or null
 * when nothing was written (shutdown hands the lease back instead; a cancelled task or a lost
 * lease means another writer owns the step now).
 */
export async function runAttempt(input: AttemptInput): Promise<StepWriteResult | null> {
  const { step, handler, task, events, signal } = input;
  const started = Date.now();
  const template = handler?.stepsByName.get(step.name);
  const log = input.logger.child({ taskId: step.taskId, step: step.name, attempt: step.attempts });

  const base = {
    taskId: step.taskId,
    namespace: task?.namespace ?? '',
    name: task?.name ?? '',
    version: task?.version ?? '',
    stepName: step.name,
    attempt: step.attempts,
  };
  const emit = (event: string, extra: Partial<TaskerEventPayload> = {}) =>
    events.emit(event, { event, ...base, at: new Date().toISOString(), ...extra });
  const endSpan = task ? input.hooks.onAttemptStart?.(step, task) : undefined;

  let outcome: AttemptOutcome;
  let timer: NodeJS.Timeout | undefined;
  emit('step.started', { status: 'in_progress' });
  try {
    if (!task || !template) {
      throw new PermanentError(
        `Step '${step.name}' of handler '${step.handlerKey}' is not registered in this process`,
      );
    }
    const dependencies: Record<string, Json | null> = {};
    for (const parent of template.dependsOn) {
      dependencies[parent] = input.finished?.get(parent) ?? null;
    }
    const ctx: StepContext = {
      task: {
        id: task.id,
        namespace: task.namespace,
        name: task.name,
        version: task.version,
        context: task.context as Record<string, any>,
      },
      step: { name: step.name, attempt: step.attempts },
      dependencies,
      signal,
      logger: log,
      idempotencyKey: `${task.id}:${step.name}:${step.attempts}`,
      publish(event: string, payload?: unknown) {
        if (!template.customEvents.includes(event)) {
          throw new TaskerError(
            'UNDECLARED_EVENT',
            `Step '${step.name}' did not declare custom event '${event}'`,
          );
        }
        emit(event, { payload });
      },
    };
    const work = Promise.resolve().then(() => template.run(ctx));
    let result: unknown;
    if (template.timeoutMs !== null) {
      const timeoutMs = template.timeoutMs;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          input.setTimeoutReason();
          reject(new StepTimeoutError(step.name, timeoutMs));
        }, timeoutMs);
      });
      work.catch(() => {});
      result = await Promise.race([work, timedOut]);
    } else {
      result = await work;
    }
    let json: Json;
    try {
      json = result === undefined ? null : (JSON.parse(JSON.stringify(result)) as Json);
    } catch (err) {
      throw new TypeError(`Step results are not JSON-serialisable: ${(err as Error).message}`, {
        cause: err,
      });
    }
    outcome = { kind: 'complete', results: json };
  } catch (err) {
    const reason = input.abortReason();
    if (reason === 'shutdown' || reason === 'cancelled' || reason === 'lease_lost') {
      log.info({ reason }, 'attempt interrupted; outcome not written');
      input.hooks.onAttemptEnd?.({
        step,
        task,
        outcome: 'discarded',
        durationMs: Date.now() - started,
        queueWaitMs: queueWaitOf(step, task),
      });
      if (typeof endSpan === 'function') endSpan();
      return null;
    }
    const error = toStepError(err, step.attempts);
    const permanent =
      err instanceof PermanentError ||
      !template ||
      !template.retryable ||
      step.failures + 1 >= step.maxAttempts;
    const retryAt = permanent ? null : Date.now() + backoffDelay(step.failures + 1, input.retry);
    outcome = { kind: 'failed', error, retryAt };
    log.warn({ error: error.message, class: error.class, retryAt }, 'attempt failed');
  } finally {
    if (timer) clearTimeout(timer);
  }

  const write = await input.write(outcome);
  const report: AttemptReport = {
    step,
    task,
    outcome: 'discarded',
    durationMs: Date.now() - started,
    queueWaitMs: queueWaitOf(step, task),
  };
  if (!write.applied) {
    log.info('attempt result discarded: the lease was lost or the task was cancelled');
  } else if (outcome.kind === 'complete') {
    report.outcome = 'complete';
    emit('step.completed', { status: 'complete', results: outcome.results });
  } else {
    report.error = outcome.error;
    const error = {
      message: outcome.error.message,
      class: outcome.error.class,
      ...(outcome.error.code ? { code: outcome.error.code } : {}),
    };
    if (outcome.retryAt !== null) {
      report.outcome = 'retry';
      emit('step.failed', { status: 'error', error });
      emit('step.retry_scheduled', {
        status: 'error',
        error,
        nextRetryAt: new Date(outcome.retryAt).toISOString(),
      });
    } else if (write.status === 'skipped') {
      report.outcome = 'skipped';
      emit('step.failed', { status: 'skipped', error });
      emit('step.skipped', { status: 'skipped', error });
    } else {
      report.outcome = 'failed';
      emit('step.failed', { status: 'error', error });
    }
  }
  if (write.applied && write.taskStatus === 'complete') {
    emit('task.completed', { stepName: undefined, attempt: undefined, status: 'complete' });
  } else if (write.applied && write.taskStatus === 'error') {
    emit('task.failed', { stepName: undefined, attempt: undefined, status: 'error' });
  }
  input.hooks.onAttemptEnd?.(report);
  if (typeof endSpan === 'function') endSpan();
  return write;
}
