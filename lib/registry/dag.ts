/**
 * Analysis of a handler's step DAG. Pure functions: no registry state, so the engine and tests
 * can call them on any list of steps.
 */
import { RegistrationError } from '../errors';
import type { DependencyEdge, DependencyGraph } from '../types';

/** The shape {@link analyzeDag} needs from a step: its name and the names it runs after. */
export interface DagStep {
  name: string;
  dependsOn: string[];
}

/**
 * Finds one dependency cycle, or returns null when there is none.
 *
 * The path follows execution direction (parent before child) and repeats its first step at the
 * end, e.g. `['a', 'b', 'a']`. The search starts from the earliest step in definition order so
 * the reported cycle is the same on every run. Unknown dependencies are ignored here.
 */
export function findCycle(steps: DagStep[]): string[] | null {
  const children = childMap(steps);
  // 0 = unvisited, 1 = on the current DFS path, 2 = fully explored.
  const state = new Map<string, 0 | 1 | 2>(steps.map((s) => [s.name, 0]));
  const path: string[] = [];

  const visit = (name: string): string[] | null => {
    state.set(name, 1);
    path.push(name);
    for (const child of children.get(name) ?? []) {
      const childState = state.get(child);
      if (childState === 1) return [...path.slice(path.indexOf(child)), child];
      if (childState === 0) {
        const found = visit(child);
        if (found) return found;
      }
    }
    path.pop();
    state.set(name, 2);
    return null;
  };

  for (const step of steps) {
    if (state.get(step.name) === 0) {
      const found = visit(step.name);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Validates a handler's steps and computes its {@link DependencyGraph}.
 *
 * Checks, in this order: duplicate step names (`REGISTRATION_DUPLICATE_STEP`), dependencies on
 * unknown steps (`REGISTRATION_UNKNOWN_DEPENDENCY`), cycles including self-dependencies
 * (`REGISTRATION_CYCLE`, with `details.cycle`). A parent listed twice in one `dependsOn` counts
 * once, since running "after X, and after X" is the same constraint.
 */
export function analyzeDag(steps: DagStep[]): DependencyGraph {
  const index = new Map<string, number>();
  for (const [i, step] of steps.entries()) {
    if (index.has(step.name)) {
      throw new RegistrationError(
        'REGISTRATION_DUPLICATE_STEP',
        `Step name '${step.name}' is defined more than once`,
        { step: step.name },
      );
    }
    index.set(step.name, i);
  }

  const parents = new Map<string, string[]>();
  const edges: DependencyEdge[] = [];
  for (const step of steps) {
    const unique = [...new Set(step.dependsOn)];
    for (const parent of unique) {
      if (!index.has(parent)) {
        throw new RegistrationError(
          'REGISTRATION_UNKNOWN_DEPENDENCY',
          `Step '${step.name}' depends on unknown step '${parent}'`,
          { step: step.name, dependency: parent },
        );
      }
      edges.push({ from: parent, to: step.name });
    }
    parents.set(step.name, unique);
  }

  const cycle = findCycle(steps);
  if (cycle) {
    throw new RegistrationError('REGISTRATION_CYCLE', `Steps form a cycle: ${cycle.join(' -> ')}`, {
      cycle,
    });
  }

  const executionOrder = kahn(steps, parents, index);

  // Parents always precede children in executionOrder, so one pass gives longest-path depths.
  const depth = new Map<string, number>();
  for (const name of executionOrder) {
    const parentDepths = (parents.get(name) ?? []).map((p) => depth.get(p) ?? 0);
    depth.set(name, parentDepths.length === 0 ? 0 : 1 + Math.max(...parentDepths));
  }
  const levels: string[][] = [];
  for (const step of steps) {
    const level = depth.get(step.name) ?? 0;
    while (levels.length <= level) levels.push([]);
    levels[level].push(step.name);
  }

  return { nodes: steps.map((s) => s.name), edges, executionOrder, levels };
}

/** Parent name to child names, children in definition order, each child once. */
function childMap(steps: DagStep[]): Map<string, string[]> {
  const children = new Map<string, string[]>(steps.map((s) => [s.name, []]));
  for (const step of steps) {
    for (const parent of new Set(step.dependsOn)) children.get(parent)?.push(step.name);
  }
  return children;
}

/**
 * Kahn's algorithm where the ready step defined first always goes next. Handlers are small
 * (tens of steps), so a sorted array beats a heap for clarity at no real cost.
 */
function kahn(
  steps: DagStep[],
  parents: Map<string, string[]>,
  index: Map<string, number>,
): string[] {
  const children = childMap(steps);
  const remaining = new Map(steps.map((s) => [s.name, parents.get(s.name)?.length ?? 0]));
  const ready = steps.filter((s) => remaining.get(s.name) === 0).map((s) => s.name);
  const order: string[] = [];
  const byDefinition = (a: string, b: string) => (index.get(a) ?? 0) - (index.get(b) ?? 0);

  while (ready.length > 0) {
    const name = ready.shift() as string;
    order.push(name);
    let added = false;
    for (const child of children.get(name) ?? []) {
      const left = (remaining.get(child) ?? 0) - 1;
      remaining.set(child, left);
      if (left === 0) {
        ready.push(child);
        added = true;
      }
    }
    if (added) ready.sort(byDefinition);
  }
  return order;
}
