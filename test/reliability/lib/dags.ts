import type { Knex } from 'knex';
import type { HandlerDefinition, StepContext } from '../../../lib/types';

/** The table every reliability worker records its handler invocations in. */
export const INVOCATIONS = 'test_invocations';

/** Creates {@link INVOCATIONS} (start and end of each handler invocation, by process). */
export async function createInvocationsTable(knex: Knex): Promise<void> {
  await knex.schema.createTable(INVOCATIONS, (t) => {
    t.increments('id');
    t.string('task_id', 36).notNullable();
    t.string('step', 255).notNullable();
    t.integer('attempt').notNullable();
    t.integer('pid').notNullable();
    t.bigInteger('started_at').notNullable();
    t.bigInteger('ended_at').nullable();
    // Handlers this process was running when this one started, itself included.
    t.integer('active').notNullable();
    t.index(['task_id', 'step']);
  });
}

/** The shapes of the mixed workload: step name → parents. */
export const SHAPES: Record<string, Record<string, string[]>> = {
  single: { only: [] },
  chain: { a: [], b: ['a'], c: ['b'] },
  diamond: { a: [], b: ['a'], c: ['a'], d: ['b', 'c'] },
  fanout: {
    root: [],
    p1: ['root'],
    p2: ['root'],
    p3: ['root'],
    p4: ['root'],
    join: ['p1', 'p2', 'p3', 'p4'],
  },
  forest: { x: [], y: [], z: ['x', 'y'], w: ['x'] },
};

/** The namespace of the reliability handlers. */
export const NAMESPACE = 'reliability';

/** How many steps a task of shape index `i` has (tasks cycle through the shapes). */
export function shapeOf(i: number): string {
  const names = Object.keys(SHAPES);
  return names[i % names.length];
}

/** Total steps of `tasks` tasks created with {@link shapeOf}. */
export function stepsFor(tasks: number): number {
  let n = 0;
  for (let i = 0; i < tasks; i++) n += Object.keys(SHAPES[shapeOf(i)]).length;
  return n;
}

/** Handlers of this workload running in this process right now. */
let active = 0;

/** Options of the recording step handler. */
export interface StepBehaviour {
  /** Shortest and longest time a step works, in ms. */
  minMs: number;
  maxMs: number;
  /** Records each invocation in {@link INVOCATIONS} when given. */
  knex?: Knex;
}

/**
 * The handler definitions of the mixed workload. Each step records its invocation (start, then
 * end) when `knex` is given, works for a random time in [minMs, maxMs] (honouring the abort
 * signal), and returns `{ pid, invocation }` so a stored result can be traced to the run that
 * produced it.
 */
export function reliabilityHandlers(behaviour: StepBehaviour): HandlerDefinition[] {
  const { minMs, maxMs, knex } = behaviour;
  const run = async (ctx: StepContext) => {
    active++;
    try {
      return await work(ctx, active);
    } finally {
      active--;
    }
  };
  const work = async (ctx: StepContext, activeAtStart: number) => {
    let id: number | null = null;
    if (knex) {
      const [row] = await knex(INVOCATIONS)
        .insert({
          task_id: ctx.task.id,
          step: ctx.step.name,
          attempt: ctx.step.attempt,
          pid: process.pid,
          active: activeAtStart,
          started_at: Date.now(),
        })
        .returning('id');
      id = Number(typeof row === 'object' ? row.id : row);
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, minMs + Math.random() * (maxMs - minMs));
      ctx.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(new Error(`aborted: ${String(ctx.signal.reason)}`));
        },
        { once: true },
      );
    });
    if (knex && id !== null) await knex(INVOCATIONS).where({ id }).update({ ended_at: Date.now() });
    return { pid: process.pid, invocation: id };
  };
  return Object.entries(SHAPES).map(([name, steps]) => ({
    namespace: NAMESPACE,
    name,
    version: '1.0.0',
    description: `reliability workload: ${name}`,
    steps: Object.entries(steps).map(([step, parents]) => ({
      name: step,
      handler: run,
      ...(parents.length > 0 ? { dependsOn: parents } : {}),
    })),
  }));
}
