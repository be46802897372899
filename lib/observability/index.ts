/**
 * Operations: health probes, Prometheus metrics, OpenTelemetry tracing, request logging and
 * rate limiting, wired into a Tasker instance by {@link createOperations}.
 */
import type { Request } from 'express';
import type { Knex } from 'knex';
import type { ResolvedConfig } from '../config';
import type { EngineHooks } from '../engine/Engine';
import type { TaskerEvents } from '../events/TaskerEvents';
import type { RouterExtension } from '../http/router';
import type { Storage, TaskRecord } from '../storage';
import type { Authenticator, Logger } from '../types';
import { createHealthExtension, PROBE_PATHS, type WorkerState } from './health';
import { createRequestObserver } from './http';
import { TaskerMetrics } from './metrics';
import { readQueueDepth } from './queueDepth';
import { createRateLimitExtension } from './rateLimit';
import { createRouteNamer } from './routes';
import { TaskerTracing, type TraceCarrier } from './tracing';
import { PERMISSIONS } from '../auth/permissions';

export { TaskerMetrics } from './metrics';
export { TaskerTracing, TRACER_NAME } from './tracing';
export type { HealthCheck, HealthReport } from './health';

/** What {@link createOperations} needs. */
export interface OperationsDeps {
  config: ResolvedConfig;
  storage: Storage & { knex: Knex };
  events: TaskerEvents;
  logger: Logger;
}

/** What the routes need once the engine exists. */
export interface OperationsRuntime {
  engine: WorkerState;
  ready: Promise<void>;
  authenticator?: Authenticator;
}

/** The operations parts of one Tasker instance. */
export interface Operations {
  /** Null when `metrics.enabled` is false. */
  readonly metrics: TaskerMetrics | null;
  readonly tracing: TaskerTracing;
  /** Hooks to give the Engine: attempt metrics and spans. */
  readonly engineHooks: EngineHooks;
  /** The trace context to store on a task created by `req`. */
  traceContext: (req: Request) => TraceCarrier | null;
  /** Runs a task creation from code under a task span. */
  traceTaskCreation<T>(create: (carrier: TraceCarrier | null) => Promise<T>): Promise<T>;
  /** Call when a task was stored (ends its creation span). */
  taskCreated(task: TaskRecord): void;
  /** The router extensions, in the order their `before` must run. */
  extensions(runtime: OperationsRuntime): RouterExtension[];
  /** True for health probes, which are answered before Tasker is ready. */
  isProbe(req: Request): boolean;
  /** Detaches metrics and ends open spans. */
  close(): void;
}

/** Hooks that call each part in turn; a throwing part never breaks an attempt. */
function combineHooks(parts: EngineHooks[], logger: Logger): EngineHooks {
  return {
    onAttemptStart(step, task) {
      const ends: (() => void)[] = [];
      for (const p of parts) {
        try {
          const end = p.onAttemptStart?.(step, task);
          if (typeof end === 'function') ends.push(end);
        } catch (err) {
          logger.debug({ err }, 'observability hook failed');
        }
      }
      return () => {
        for (const end of ends) {
          try {
            end();
          } catch (err) {
            logger.debug({ err }, 'observability hook failed');
          }
        }
      };
    },
    onAttemptEnd(report) {
      for (const p of parts) {
        try {
          p.onAttemptEnd?.(report);
        } catch (err) {
          logger.debug({ err }, 'observability hook failed');
        }
      }
    },
  };
}

const timeout = <T>(p: Promise<T>, ms: number): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
};

/** Builds the operations parts of a Tasker instance from its resolved config. */
export function createOperations(deps: OperationsDeps): Operations {
  const { config, storage, events, logger } = deps;
  const tracing = new TaskerTracing(config.tracing.enabled);
  const metrics = config.metrics.enabled
    ? new TaskerMetrics({
        registry: config.metrics.registry,
        prefix: config.metrics.prefix,
        logger,
      })
    : null;
  metrics?.listen(events);
  const hooks = metrics ? [metrics.hooks, tracing.hooks] : [tracing.hooks];

  return {
    metrics,
    tracing,
    engineHooks: combineHooks(hooks, logger),
    traceContext: (req) => tracing.requestTraceContext(req),
    traceTaskCreation: (create) => tracing.traceTaskCreation(create),
    taskCreated: (task) => tracing.taskCreated(task),
    isProbe: (req) => PROBE_PATHS.includes(req.path),
    extensions(runtime) {
      const health = createHealthExtension({
        storage,
        engine: runtime.engine,
        ready: runtime.ready,
        workersEnabled: config.worker.enabled,
        concurrency: config.worker.concurrency,
        timeoutMs: config.health.timeoutMs,
        knex: storage.knex,
      });
      const own: RouterExtension[] = [health];
      if (metrics) {
        metrics.attach({
          queueDepth: () =>
            timeout(readQueueDepth(storage.knex, Date.now()), config.health.timeoutMs),
          activeAttempts: () => runtime.engine.runningCount,
        });
        own.push({
          operations: [
            {
              method: 'get',
              path: '/metrics',
              summary: 'Prometheus metrics (text exposition format)',
              tag: 'Health',
              contentType: 'text/plain',
              secured: true,
            },
          ],
          mount(router, helpers) {
            router.get('/metrics', helpers.guard(PERMISSIONS.metricsIndex), (_req, res, next) => {
              metrics.registry.metrics().then((text) => {
                res.set('Content-Type', metrics.registry.contentType);
                res.set('Cache-Control', 'no-store');
                res.send(text);
              }, next);
            });
          },
        });
      }
      const routeOf = createRouteNamer(own.flatMap((e) => e.operations));
      const observer = createRequestObserver({ metrics, tracing, logger, routeOf });
      const limiter = config.rateLimit
        ? [
            createRateLimitExtension({
              ...config.rateLimit,
              authenticator: config.auth.authenticationEnabled ? runtime.authenticator : undefined,
              logger,
            }),
          ]
        : [];
      // Order matters for `before`: the request span and timer wrap the rate limiter's 429.
      return [observer, ...limiter, ...own];
    },
    close() {
      metrics?.close();
      tracing.close();
    },
  };
}
