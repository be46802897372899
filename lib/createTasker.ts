import type { Request, Router } from 'express';
import { defaultAuthorizer, resolveAuthenticator } from './auth';
import { resolveConfig, type ResolvedConfig, type TaskerConfig } from './config';
import { Engine } from './engine/Engine';
import { TaskerError } from './errors';
import { TaskerEvents } from './events/TaskerEvents';
import { createDashboardExtension } from './dashboard';
import { createRouter, toEnvelope, type RouterExtension } from './http/router';
import { HandlerRegistry } from './registry';
import { createOperations } from './observability';
import { KnexStorage, type TaskRecord } from './storage';
import { TaskService } from './tasks/TaskService';
import type { Json, HandlerDefinition, NamespaceDefinition, RegisteredHandler } from './types';
import { VERSION } from './version';

/** The arguments of {@link Tasker.createTask}, as code calls it. */
export interface CreateTaskInput {
  name: string;
  namespace: string;
  /** Exact version or semver range; default the latest. */
  version?: string;
  context?: Record<string, unknown>;
  /** Returns the task first created with this key instead of creating another. */
  idempotencyKey?: string;
  /** Skippable steps to skip. */
  bypassSteps?: string[];
}

/** A task with its steps, as `getTask` returns it. */
export interface TaskWithSteps extends TaskRecord {
  steps: import('./storage').StepRecord[];
}

/**
 * What `createTasker` returns: an Express Router (mount it with `app.use('/tasker', tasker)`)
 * that also carries the engine's API.
 */
export interface Tasker extends Router {
  /** Registers a handler version. Throws `RegistrationError` with a code on a bad definition. */
  registerHandler(definition: HandlerDefinition): RegisteredHandler;
  /** Registers a namespace and its description. */
  registerNamespace(definition: NamespaceDefinition): void;
  /** Resolves when storage is migrated and usable and workers have started. */
  readonly ready: Promise<void>;
  /** Stops workers (draining running steps) and closes the storage it opened. Idempotent. */
  close(): Promise<void>;
  /** Creates a task, as POST /tasks does. */
  createTask(input: CreateTaskInput): Promise<TaskRecord>;
  /** A task with its steps; throws TASK_NOT_FOUND. */
  getTask(id: string): Promise<TaskWithSteps>;
  /** Lifecycle and custom events: `tasker.events.on('step.completed', fn)`. */
  readonly events: TaskerEvents;
  /** The handler registry. */
  readonly registry: HandlerRegistry;
  /** The storage backend (Knex on SQLite or Postgres; `storage.knex` is the Knex instance). */
  readonly storage: KnexStorage;
  /** The worker of this process. */
  readonly engine: Engine;
  /** The configuration in force. */
  readonly config: ResolvedConfig;
}

/**
 * Creates a Tasker instance. Storage is migrated and workers started in the background; await
 * `tasker.ready` before relying on them. Requests that arrive earlier wait for it.
 */
export function createTasker(input: TaskerConfig = {}): Tasker {
  const config = resolveConfig(input);
  const logger = config.logger;
  const authenticator = config.auth.authenticationEnabled
    ? resolveAuthenticator(config.auth.authenticator, config.auth.authenticatorOptions)
    : undefined;
  if (config.auth.authenticationEnabled && !authenticator) {
    throw new TaskerError(
      'CONFIG_INVALID',
      'auth.authenticationEnabled is true but no authenticator is set',
    );
  }
  const storage = new KnexStorage(config.storage, { queryTimeoutMs: config.queryTimeoutMs });
  const registry = new HandlerRegistry();
  const events = new TaskerEvents(logger);
  const ops = createOperations({ config, storage, events, logger });
  const engine = new Engine(
    storage,
    registry,
    events,
    config,
    logger,
    storage.knex,
    ops.engineHooks,
  );
  const tasks = new TaskService(registry, storage, (task) => {
    ops.taskCreated(task);
    events.emit('task.created', {
      event: 'task.created',
      taskId: task.id,
      namespace: task.namespace,
      name: task.name,
      version: task.version,
      status: task.status,
      at: new Date(task.createdAt).toISOString(),
    });
    engine.announceNewTask();
  });

  let closing: Promise<void> | null = null;
  const assertOpen = () => {
    if (closing) throw new TaskerError('TASKER_CLOSED', 'This Tasker instance was closed');
  };
  const ready = (async () => {
    if (config.migrate) await storage.migrate();
    else await storage.ping();
    if (config.worker.enabled && !closing) await engine.start();
  })();
  // A failed start is reported through `ready`; an unobserved rejection must not crash the host.
  ready.catch((err: unknown) => logger.error({ err }, 'Tasker failed to start'));

  const extensions: RouterExtension[] = [];
  if (config.dashboard.enabled) extensions.push(createDashboardExtension());
  // First, so the request span, timer and rate limiter wrap every other route.
  extensions.unshift(...ops.extensions({ engine, ready, authenticator }));
  const router = createRouter({
    api: {
      registry,
      tasks,
      storage,
      control: engine,
      traceContext: ops.traceContext,
    },
    logger,
    bodyLimit: config.bodyLimit,
    authenticator,
    authenticationEnabled: config.auth.authenticationEnabled,
    authorizationEnabled: config.auth.authorizationEnabled,
    authorizer: config.auth.authorizer ?? defaultAuthorizer,
    version: VERSION,
    extensions,
  });
  // Requests that arrive before migrations finish wait for them instead of failing.
  const gate: Router = Object.assign((req: Request, res: any, next: (err?: unknown) => void) => {
    if (closing) {
      const { status, body } = toEnvelope(
        new TaskerError('TASKER_CLOSED', 'This Tasker instance was closed'),
        logger,
      );
      res.status(status).json(body);
      return;
    }
    // Health probes answer at once: a probe must not hang while migrations run.
    if (ops.isProbe(req)) return router(req, res, next);
    ready.then(
      () => router(req, res, next),
      () => router(req, res, next),
    );
  });

  const tasker = Object.assign(gate, {
    registerHandler(definition: HandlerDefinition) {
      assertOpen();
      const h = registry.register(definition);
      engine.refreshHandlers();
      return h;
    },
    registerNamespace(definition: NamespaceDefinition) {
      registry.registerNamespace(definition);
    },
    ready,
    close() {
      closing ??= (async () => {
        await ready.catch(() => {});
        await engine.close();
        ops.close();
        await storage.close();
      })();
      return closing;
    },
    async createTask(inp: CreateTaskInput) {
      assertOpen();
      await ready;
      const { task } = await ops.traceTaskCreation((traceContext) =>
        tasks.createTask(
          {
            name: inp.name,
            namespace: inp.namespace,
            ...(inp.version !== undefined ? { version: inp.version } : {}),
            ...(inp.context !== undefined ? { context: inp.context as Record<string, Json> } : {}),
            ...(inp.bypassSteps !== undefined ? { bypass_steps: inp.bypassSteps } : {}),
          },
          { idempotencyKey: inp.idempotencyKey, traceContext },
        ),
      );
      return task;
    },
    async getTask(id: string) {
      await ready;
      const task = await tasks.getTask(id);
      return { ...task, steps: await storage.getSteps(id) };
    },
    events,
    registry,
    storage,
    engine,
    config,
  });
  return tasker;
}
