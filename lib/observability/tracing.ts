import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Request } from 'express';
import type { EngineHooks } from '../engine/Engine';
import type { AttemptReport } from '../engine/runAttempt';
import type { ClaimedStep, TaskRecord } from '../storage';
import { VERSION } from '../version';

/** The instrumentation scope name of Tasker's spans. */
export const TRACER_NAME = 'tasker-engine';

/** A task's trace context as stored on its row: W3C `traceparent` (and `tracestate`). */
export type TraceCarrier = Record<string, string>;

/** An API request's span, while the request runs. */
export interface RequestSpan {
  /** The context to run the rest of the request in (the span is active in it). */
  context: Context;
  /** Ends the span with the route template (e.g. `/tasker/tasks/:id`) and the status code. */
  end(route: string, status: number): void;
}

/** The incoming W3C headers, kept as they are when no OpenTelemetry SDK is installed. */
function headerCarrier(req: Request): TraceCarrier | null {
  const traceparent = req.get('traceparent');
  if (!traceparent) return null;
  const tracestate = req.get('tracestate');
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

function taskAttributes(task: TaskRecord): Attributes {
  return {
    'tasker.namespace': task.namespace,
    'tasker.handler': task.name,
    'tasker.version': task.version,
    'tasker.task_id': task.id,
  };
}

/**
 * OpenTelemetry spans through `@opentelemetry/api`, a no-op until the host installs an SDK.
 *
 * The trace of a task: the API request's span (SERVER) is the parent of the task's span
 * (PRODUCER, ended once the task is stored); the task's context is stored on its row
 * (`traceContext`, W3C `traceparent`), so every attempt of every step, in whichever process
 * runs it, is a CONSUMER span under the task's span.
 */
export class TaskerTracing {
  /** Task spans begun but not yet matched with a stored task, by their traceparent. */
  private readonly openTasks = new Map<string, Span>();
  private readonly attemptSpans = new WeakMap<ClaimedStep, Span>();

  constructor(readonly enabled: boolean) {}

  /** The tracer; looked up on each use so an SDK installed after `createTasker` is used. */
  tracer(): Tracer {
    return trace.getTracer(TRACER_NAME, VERSION);
  }

  /**
   * Starts the span of an API request: a child of the host's active span when there is one
   * (e.g. from HTTP auto-instrumentation), else of the caller's `traceparent` header.
   */
  startRequest(req: Request): RequestSpan | null {
    if (!this.enabled) return null;
    const active = context.active();
    const parent = trace.getSpan(active) ? active : propagation.extract(active, req.headers);
    const span = this.tracer().startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'url.path': `${req.baseUrl}${req.path}`,
        },
      },
      parent,
    );
    return {
      context: trace.setSpan(parent, span),
      end(route, status) {
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  /**
   * The trace context to store on a task created by this request: the task span's, begun now
   * under the request's span. Without an SDK, the request's own `traceparent` header.
   */
  requestTraceContext(req: Request): TraceCarrier | null {
    if (!this.enabled) return headerCarrier(req);
    const body = req.body as { namespace?: unknown; name?: unknown } | undefined;
    const hint =
      typeof body?.namespace === 'string' && typeof body?.name === 'string'
        ? `${body.namespace}.${body.name}`
        : undefined;
    const begun = this.beginTask(context.active(), hint);
    if (!begun) return headerCarrier(req);
    // A task that is not created (invalid, or an idempotent repeat) still ends its span.
    const res = req.res;
    if (res) res.once('close', () => begun.end(res.statusCode >= 400 ? res.statusCode : 0));
    else begun.end(0);
    return begun.carrier;
  }

  /** Runs a task creation from code under a task span, child of the caller's active span. */
  async traceTaskCreation<T>(create: (carrier: TraceCarrier | null) => Promise<T>): Promise<T> {
    const begun = this.enabled ? this.beginTask(context.active(), undefined) : null;
    try {
      return await create(begun?.carrier ?? null);
    } catch (err) {
      begun?.end(500);
      throw err;
    } finally {
      begun?.end(0);
    }
  }

  /** Completes the span of a task that was just stored. */
  taskCreated(task: TaskRecord): void {
    const key = task.traceContext?.traceparent;
    const span = key ? this.openTasks.get(key) : undefined;
    if (!key || !span) return;
    this.openTasks.delete(key);
    span.updateName(`task ${task.namespace}.${task.name}`);
    span.setAttributes({ ...taskAttributes(task), 'tasker.task.created': true });
    span.end();
  }

  private beginTask(
    parent: Context,
    hint: string | undefined,
  ): { carrier: TraceCarrier; end(status: number): void } | null {
    const span = this.tracer().startSpan(
      hint ? `task ${hint}` : 'task',
      { kind: SpanKind.PRODUCER },
      parent,
    );
    const carrier: TraceCarrier = {};
    propagation.inject(trace.setSpan(parent, span), carrier);
    const key = carrier.traceparent;
    if (!key) {
      // No propagator installed (no SDK): nothing to carry.
      span.end();
      return null;
    }
    this.openTasks.set(key, span);
    return {
      carrier,
      end: (status) => {
        if (this.openTasks.get(key) !== span) return;
        this.openTasks.delete(key);
        span.setAttribute('tasker.task.created', false);
        if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  /** Engine hooks: one span per step attempt, under the task's stored trace context. */
  readonly hooks: EngineHooks = {
    onAttemptStart: (step: ClaimedStep, task: TaskRecord) => {
      if (!this.enabled) return undefined;
      const parent = task.traceContext
        ? propagation.extract(ROOT_CONTEXT, task.traceContext)
        : ROOT_CONTEXT;
      const span = this.tracer().startSpan(
        `step ${task.namespace}.${task.name}/${step.name}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            ...taskAttributes(task),
            'tasker.step': step.name,
            'tasker.attempt': step.attempts,
          },
        },
        parent,
      );
      this.attemptSpans.set(step, span);
      return () => {
        this.attemptSpans.delete(step);
        span.end();
      };
    },
    onAttemptEnd: (report: AttemptReport) => {
      const span = this.attemptSpans.get(report.step);
      if (!span) return;
      span.setAttribute('tasker.outcome', report.outcome);
      if (report.error) {
        span.setAttribute('tasker.error.class', report.error.class);
        if (report.error.code) span.setAttribute('tasker.error.code', report.error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: report.error.message });
      }
    },
  };

  /** Ends the task spans still open (on close). */
  close(): void {
    for (const span of this.openTasks.values()) span.end();
    this.openTasks.clear();
  }
}
