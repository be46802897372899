/**
 * The handlers the benchmarks run, shared by the harness and the worker processes so every
 * process registers the same versions. Steps are no-ops unless a probe is given.
 */
import type { HandlerDefinition, StepContext, StepTemplateDefinition } from '../../lib/types';

/** The namespace of every benchmark handler. */
export const NS = 'bench';
export const VERSION = '1.0.0';

/** Called at the start of every step with the step's name and task id (latency probes). */
export type StepProbe = (stepName: string, taskId: string) => void;

function noop(name: string, dependsOn: string[], probe?: StepProbe): StepTemplateDefinition {
  const run = probe
    ? (ctx: StepContext) => {
        probe(ctx.step.name, ctx.task.id);
        return null;
      }
    : () => null;
  return { name, handler: run, dependsOn, handlerClass: 'Bench::Noop' };
}

/** s0 -> s1 -> s2 -> s3. */
export function chain(probe?: StepProbe): HandlerDefinition {
  return {
    namespace: NS,
    name: 'chain',
    version: VERSION,
    steps: [0, 1, 2, 3].map((i) => noop(`s${i}`, i === 0 ? [] : [`s${i - 1}`], probe)),
  };
}

/** a -> (b, c) -> d. */
export function diamond(probe?: StepProbe): HandlerDefinition {
  return {
    namespace: NS,
    name: 'diamond',
    version: VERSION,
    steps: [
      noop('a', [], probe),
      noop('b', ['a'], probe),
      noop('c', ['a'], probe),
      noop('d', ['b', 'c'], probe),
    ],
  };
}

/** Width of the fan-out handler. */
export const FANOUT_WIDTH = 20;

/** root -> f01..f20 -> join: 22 steps. */
export function fanout(probe?: StepProbe): HandlerDefinition {
  const mids = Array.from({ length: FANOUT_WIDTH }, (_, i) => `f${String(i + 1).padStart(2, '0')}`);
  return {
    namespace: NS,
    name: 'fanout',
    version: VERSION,
    steps: [
      noop('root', [], probe),
      ...mids.map((m) => noop(m, ['root'], probe)),
      noop('join', mids, probe),
    ],
  };
}

/** a -> b: the dispatch latency probe. */
export function pair(probe?: StepProbe): HandlerDefinition {
  return {
    namespace: NS,
    name: 'pair',
    version: VERSION,
    steps: [noop('a', [], probe), noop('b', ['a'], probe)],
  };
}

/** Every benchmark handler (what worker processes register). */
export function allHandlers(probe?: StepProbe): HandlerDefinition[] {
  return [chain(probe), diamond(probe), fanout(probe), pair(probe)];
}

/** Steps per task of each handler. */
export const STEPS_PER_TASK: Record<string, number> = {
  chain: 4,
  diamond: 4,
  fanout: FANOUT_WIDTH + 2,
  pair: 2,
};

/** `namespace.name@version` of a benchmark handler, as stored in `handler_key`. */
export function handlerKey(name: string): string {
  return `${NS}.${name}@${VERSION}`;
}

/** The POST /tasks body of the HTTP benchmark: a task of the demo's catalogue. */
export const DEMO_CREATE_BODY = {
  name: 'process_payment',
  namespace: 'payments',
  version: '2.1.0',
  context: { payment_id: 123, amount: 49.99, currency: 'USD' },
};
