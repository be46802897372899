import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { ValidateFunction } from 'ajv';
import semver from 'semver';
import { handlerNotFound, taskNotFound, ValidationError } from '../errors';
import { compileContextSchema, type HandlerRegistry } from '../registry';
import type { NewStep, Storage, TaskRecord } from '../storage';
import type { Json, RegisteredHandler } from '../types';
import { validateCreateTaskBody } from '../http/validation';

/** A task creation request in the API's field names (the body of POST /tasks). */
export interface CreateTaskBody {
  name: string;
  namespace: string;
  version?: string;
  context?: Record<string, Json>;
  idempotency_key?: string;
  bypass_steps?: string[];
}

/** The outcome of {@link TaskService.createTask}. */
export interface CreatedTask {
  task: TaskRecord;
  /** False when an earlier task with the same idempotency key was returned instead. */
  created: boolean;
  handler: RegisteredHandler;
}

/** Options that come from outside the body. */
export interface CreateTaskOptions {
  /** The `Idempotency-Key` header, which wins over the body's `idempotency_key`. */
  idempotencyKey?: string;
  traceContext?: Record<string, string> | null;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Creates and reads tasks: the one path shared by POST /tasks and `tasker.createTask`. */
export class TaskService {
  private readonly validators = new WeakMap<RegisteredHandler, ValidateFunction>();

  constructor(
    private readonly registry: HandlerRegistry,
    private readonly storage: Storage,
    private readonly onCreated: (task: TaskRecord, handler: RegisteredHandler) => void = () => {},
  ) {}

  /**
   * Validates the request, resolves the handler version (exact or range, pinned to the exact
   * version found), checks the context against the handler's schema and writes the task with
   * all its workflow steps in one transaction.
   */
  async createTask(body: unknown, options: CreateTaskOptions = {}): Promise<CreatedTask> {
    const input = validateCreateTaskBody(body);
    const headerKey = options.idempotencyKey;
    if (
      headerKey !== undefined &&
      input.idempotency_key !== undefined &&
      headerKey !== input.idempotency_key
    ) {
      throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
        idempotency_key: ['must match the Idempotency-Key header'],
      });
    }
    const idempotencyKey = headerKey ?? input.idempotency_key ?? null;
    if (idempotencyKey !== null && (idempotencyKey.length === 0 || idempotencyKey.length > 255)) {
      throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
        idempotency_key: ['must be 1 to 255 characters'],
      });
    }
    // Postgres text cannot hold NUL; refusing it keeps both databases alike (and avoids a 500).
    if (idempotencyKey?.includes('\0')) {
      throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
        idempotency_key: ['must not contain NUL characters'],
      });
    }

    const handler = this.registry.resolve(input.namespace, input.name, input.version);
    if (!handler) throw handlerNotFound(input.name, input.namespace, input.version);

    const context = input.context ?? {};
    const validate = this.contextValidator(handler);
    if (validate && !validate(context)) {
      const details: Record<string, string[]> = {};
      for (const e of validate.errors ?? []) {
        const missing = e.keyword === 'required' ? `/${(e.params as any).missingProperty}` : '';
        const path = `context${(e.instancePath + missing).replace(/\//g, '.')}`;
        (details[path] ??= []).push(
          e.keyword === 'required' ? 'must be present' : (e.message ?? 'is invalid'),
        );
      }
      throw new ValidationError(
        'INVALID_TASK_CONTEXT',
        `Task context does not match the schema of handler '${handler.fullName}'`,
        details,
      );
    }

    const bypass = [...new Set(input.bypass_steps ?? [])];
    const bypassProblems: string[] = [];
    for (const name of bypass) {
      const step = handler.stepsByName.get(name);
      if (!step) bypassProblems.push(`'${name}' is not a step of ${handler.fullName}`);
      else if (!step.skippable) bypassProblems.push(`'${name}' is not skippable`);
    }
    if (bypassProblems.length > 0) {
      throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
        bypass_steps: bypassProblems,
      });
    }

    const bypassed = new Set(bypass);
    const steps: NewStep[] = handler.steps.map((s, position) => ({
      name: s.name,
      position,
      status: bypassed.has(s.name) ? 'skipped' : 'pending',
      dependsOn: s.dependsOn,
      pendingParents: s.dependsOn.filter((p) => !bypassed.has(p)).length,
      maxAttempts: s.retryable ? s.retryLimit + 1 : 1,
      skippable: s.skippable,
    }));
    const requestHash = createHash('sha256')
      .update(
        canonical({
          namespace: input.namespace,
          name: input.name,
          version: input.version ?? null,
          context,
          bypass_steps: bypass,
        }),
      )
      .digest('hex');
    const { task, created } = await this.storage.createTask(
      {
        // UUIDv7: time-ordered, so the indexes keyed by task id grow at one end instead of
        // touching a random page per insert (fewer pages written per commit on both databases).
        id: uuidv7(),
        namespace: handler.namespace,
        name: handler.name,
        version: handler.version,
        context: context,
        bypassSteps: bypass,
        idempotencyKey,
        requestHash,
        traceContext: options.traceContext ?? null,
        steps,
      },
      Date.now(),
    );
    if (created) this.onCreated(task, handler);
    return { task, created, handler };
  }

  /** A task by id, or TASK_NOT_FOUND. */
  async getTask(id: string): Promise<TaskRecord> {
    // No task id holds NUL, and Postgres would fail the query on it: not found, not a 500.
    if (id.includes('\0')) throw taskNotFound(id);
    const task = await this.storage.getTask(id);
    if (!task) throw taskNotFound(id);
    return task;
  }

  private contextValidator(handler: RegisteredHandler): ValidateFunction | undefined {
    if (!handler.contextSchema) return undefined;
    let v = this.validators.get(handler);
    if (!v) {
      v = compileContextSchema(handler.contextSchema);
      this.validators.set(handler, v);
    }
    return v;
  }
}

/** True when `v` is an exact semantic version or a range. */
export function isVersionOrRange(v: string): boolean {
  return semver.valid(v) !== null || semver.validRange(v) !== null;
}
