import { EventEmitter } from 'node:events';
import type { Logger } from '../types';

/** Lifecycle event names emitted on `tasker.events`. */
export const LIFECYCLE_EVENTS = [
  'task.created',
  'task.started',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'step.started',
  'step.completed',
  'step.failed',
  'step.retry_scheduled',
  'step.skipped',
  'step.cancelled',
  'step.resolved_manually',
] as const;

/** A lifecycle event name. */
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** The payload of every event. Step events carry the step fields; custom events `payload`. */
export interface TaskerEventPayload {
  event: string;
  taskId: string;
  namespace: string;
  name: string;
  version: string;
  stepName?: string;
  attempt?: number;
  status?: string;
  results?: unknown;
  error?: { message: string; class: string; code?: string };
  /** For step.retry_scheduled: when the retry is due (ISO 8601). */
  nextRetryAt?: string;
  /** For custom events: what the step published. */
  payload?: unknown;
  /** ISO 8601 time of the event. */
  at: string;
}

/**
 * The event bus of a Tasker instance. A listener that throws (or returns a rejected promise)
 * is logged and never breaks the engine or the other listeners.
 */
export class TaskerEvents extends EventEmitter {
  constructor(private readonly logger: Logger) {
    super({ captureRejections: false });
    // Many subsystems (metrics, tracing, dashboards) listen; the default 10 would warn.
    this.setMaxListeners(100);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const listeners = this.rawListeners(event);
    for (const listener of listeners) {
      try {
        const r = (listener as (...a: unknown[]) => unknown).apply(this, args);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          (r as Promise<unknown>).then(undefined, (err: unknown) =>
            this.logger.error({ err, event: String(event) }, 'event listener rejected'),
          );
        }
      } catch (err) {
        this.logger.error({ err, event: String(event) }, 'event listener threw');
      }
    }
    return listeners.length > 0;
  }
}
