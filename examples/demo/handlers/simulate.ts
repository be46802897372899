/**
 * Helpers that make the demo's step handlers look like real integrations: random latency that
 * honours cancellation, transient failures that retries recover from, and realistic ids.
 *
 * `TASKER_DEMO_SPEED` (a positive number, default 1) divides every simulated duration. Above 100
 * random failures are switched off too, so tests can run the demo fast and deterministically.
 * It is read on every call, so a test may set it after importing this module.
 */
import { randomBytes } from 'node:crypto';
import type {
  HandlerDefinition,
  StepContext,
  StepHandlerClass,
  StepTemplateDefinition,
} from '../../../lib/types';

/** The speed factor from `TASKER_DEMO_SPEED`; invalid or non-positive values mean 1. */
export function demoSpeed(): number {
  const raw = process.env.TASKER_DEMO_SPEED;
  if (raw === undefined || raw.trim() === '') return 1;
  const speed = Number(raw);
  return Number.isFinite(speed) && speed > 0 ? speed : 1;
}

/** Whether {@link maybeFail} may throw: only when the demo is not sped up past 100x. */
export function failuresEnabled(): boolean {
  return demoSpeed() <= 100;
}

/**
 * What {@link sleep} rejects with when its signal aborts. Shaped like Node's own `AbortError`
 * (`name` and `code`) so code that checks either recognises it; the signal's reason is the cause.
 */
export class AbortError extends Error {
  /** Node's code for aborted operations. */
  readonly code = 'ABORT_ERR';

  constructor(reason?: unknown) {
    const detail = reason instanceof Error ? `: ${reason.message}` : '';
    super(`The operation was aborted${detail}`, { cause: reason });
    this.name = 'AbortError';
  }
}

/**
 * Waits `ms` milliseconds (not scaled by the demo speed). Rejects with an {@link AbortError}
 * as soon as `signal` aborts, and clears the timer then so an aborted step leaves nothing behind.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(signal.reason));
      return;
    }
    let timer: NodeJS.Timeout | undefined = undefined;
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError(signal?.reason));
    };
    timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A random integer in `[min, max]`. */
export function randomInt(min: number, max: number): number {
  const low = Math.ceil(Math.min(min, max));
  const high = Math.floor(Math.max(min, max));
  return low + Math.floor(Math.random() * (high - low + 1));
}

/** An id such as `ch_3f9a...`: the prefix followed by `bytes` random bytes in hex. */
export function randomId(prefix: string, bytes = 12): string {
  return `${prefix}${randomBytes(bytes).toString('hex')}`;
}

/** Rounds to cents, because amounts computed with floats otherwise show `12.000000001`. */
export function money(amount: number): number {
  return Math.round(amount * 100) / 100;
}

/**
 * Simulates the latency of an external call: sleeps a random time between `minMs` and `maxMs`
 * divided by the demo speed, and rejects if `ctx.signal` aborts (timeout, cancellation,
 * shutdown). Resolves with the simulated latency in (unscaled) milliseconds, for results.
 */
export async function work(
  ctx: Pick<StepContext, 'signal'>,
  minMs: number,
  maxMs: number,
): Promise<number> {
  const latency = randomInt(minMs, maxMs);
  await sleep(latency / demoSpeed(), ctx.signal);
  return latency;
}

/**
 * Throws a plain (retryable) `Error` with `message` with the given probability, but only on
 * attempts 1 and 2: every demo step that calls this allows at least two retries, so the task
 * still completes and the dashboard shows retries rather than dead tasks. Never throws when
 * failures are disabled (see {@link failuresEnabled}).
 */
export function maybeFail(
  ctx: Pick<StepContext, 'step'>,
  probability: number,
  message: string,
): void {
  if (!failuresEnabled() || ctx.step.attempt > 2) return;
  if (Math.random() < probability) throw new Error(message);
}

/** `value` when it is a finite number, else `fallback`: demo contexts may omit optional fields. */
export function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** `value` when it is a non-empty string, else `fallback`. */
export function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

/** Step options for checks whose failure a retry cannot fix (bad input): one attempt only. */
export const NO_RETRY = { retryable: false, retryLimit: 0 } as const;

/** Everything of a step template but its name, description and code. */
export type StepOptions = Omit<StepTemplateDefinition, 'name' | 'description' | 'handler'>;

/**
 * Returns a builder of step templates whose `handlerClass` reads like the seed's Ruby names,
 * `<module>::StepHandler::<ClassName>`, so the discovery API looks like the original's.
 */
export function stepFactory(module: string) {
  return (
    name: string,
    handler: StepHandlerClass,
    description: string,
    options: StepOptions = {},
  ): StepTemplateDefinition => ({
    name,
    description,
    handler,
    handlerClass: `${module}::StepHandler::${handler.name}`,
    ...options,
  });
}

/**
 * A JSON Schema for a task context. A property given as a string is shorthand for `{ type }`.
 * Extra fields stay allowed, since callers often pass correlation ids the steps ignore.
 */
export function objectSchema(
  properties: Record<string, string | Record<string, unknown>>,
  required: string[] = [],
): Record<string, unknown> {
  const expanded = Object.fromEntries(
    Object.entries(properties).map(([key, p]) => [key, typeof p === 'string' ? { type: p } : p]),
  );
  return {
    type: 'object',
    ...(required.length > 0 ? { required } : {}),
    properties: expanded,
    additionalProperties: true,
  };
}

/** Returns a builder of this namespace's handler definitions, to keep the catalogues short. */
export function handlerFactory(namespace: string) {
  return (
    name: string,
    version: string,
    description: string,
    contextSchema: Record<string, unknown>,
    steps: StepTemplateDefinition[],
  ): HandlerDefinition => ({ namespace, name, version, description, contextSchema, steps });
}
