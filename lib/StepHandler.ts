import type { StepContext } from './types';

/**
 * Optional base class for step code. Subclasses implement `process(ctx)`; what it returns
 * becomes the step's `results`. Throwing fails the attempt (retried per the step template);
 * throwing a {@link PermanentError} fails the step without retries.
 *
 * ```ts
 * class ChargeCard extends StepHandler {
 *   async process(ctx: StepContext) {
 *     return { charged: true, amount: ctx.task.context.amount };
 *   }
 * }
 * ```
 */
export abstract class StepHandler<TContext = Record<string, any>> {
  /** Runs one attempt of the step. */
  abstract process(ctx: StepContext<TContext>): unknown;
}
