/** Turn records into the API's JSON (snake_case, ISO 8601 times), as the seed shows them. */
import type { NamespaceSummary } from '../registry';
import type { StepRecord, TaskRecord, TransitionRecord } from '../storage';
import type { RegisteredHandler } from '../types';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** GET /handlers entry. */
export function presentNamespace(ns: NamespaceSummary) {
  return {
    name: ns.name,
    description: ns.description,
    handler_count: ns.handlers.length,
    handlers: ns.handlers,
  };
}

/** GET /handlers/{namespace} entry. */
export function presentHandlerSummary(h: RegisteredHandler, versions: string[]) {
  return {
    id: h.name,
    namespace: h.namespace,
    version: h.version,
    description: h.description,
    step_count: h.steps.length,
    step_names: h.steps.map((s) => s.name),
    versions,
  };
}

/** GET /handlers/{namespace}/{name}. */
export function presentHandlerDetail(h: RegisteredHandler, versions: string[]) {
  return {
    id: h.name,
    namespace: h.namespace,
    version: h.version,
    description: h.description,
    versions,
    context_schema: h.contextSchema,
    step_templates: h.steps.map((s) => ({
      name: s.name,
      description: s.description,
      handler_class: s.handlerClass,
      // The seed has one parent per step; with several, the first is given here and all of
      // them in depends_on_steps.
      depends_on_step: s.dependsOn[0] ?? null,
      depends_on_steps: s.dependsOn,
      default_retryable: s.retryable,
      default_retry_limit: s.retryLimit,
      skippable: s.skippable,
      timeout_ms: s.timeoutMs,
      custom_events: s.customEvents,
    })),
    dependency_graph: {
      nodes: h.graph.nodes,
      edges: h.graph.edges,
      execution_order: h.graph.executionOrder,
      levels: h.graph.levels,
    },
  };
}

/** A task as in POST /tasks and GET /tasks. */
export function presentTask(t: TaskRecord) {
  return {
    id: t.id,
    name: t.name,
    namespace: t.namespace,
    version: t.version,
    full_name: `${t.namespace}.${t.name}@${t.version}`,
    status: t.status,
    context: t.context,
    bypass_steps: t.bypassSteps,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    started_at: iso(t.startedAt),
    completed_at: iso(t.completedAt),
  };
}

/** One transition of a step's history. */
export function presentTransition(tr: TransitionRecord) {
  return {
    from: tr.fromStatus,
    to: tr.toStatus,
    at: iso(tr.at),
    attempt: tr.attempt,
    error: tr.error,
  };
}

/** A workflow step; with its history when `transitions` is given. */
export function presentStep(s: StepRecord, transitions?: TransitionRecord[]) {
  return {
    name: s.name,
    status: s.status,
    results: s.results,
    attempts: s.attempts,
    started_at: iso(s.startedAt),
    completed_at: iso(s.completedAt),
    depends_on_steps: s.dependsOn,
    skippable: s.skippable,
    max_attempts: s.maxAttempts,
    last_error: s.lastError,
    next_retry_at: s.status === 'error' ? iso(s.nextRetryAt) : null,
    ...(transitions ? { transitions: transitions.map(presentTransition) } : {}),
  };
}

const DONE = new Set(['complete', 'skipped', 'resolved_manually']);

/** The `dependencies` analysis of GET /tasks/{id}?include_dependencies=true. */
export function analyzeDependencies(task: TaskRecord, steps: StepRecord[]) {
  const status = new Map(steps.map((s) => [s.name, s.status]));
  const parentsDone = (s: StepRecord) => s.dependsOn.every((p) => DONE.has(status.get(p) ?? ''));
  const names = (pred: (s: StepRecord) => boolean) => steps.filter(pred).map((s) => s.name);
  const completed = names((s) => DONE.has(s.status));
  const inProgress = names((s) => s.status === 'in_progress');
  const failed = names((s) => s.status === 'error');
  const retrying = steps.filter((s) => s.status === 'error' && s.nextRetryAt !== null);
  const ready = names(
    (s) =>
      parentsDone(s) &&
      (s.status === 'pending' ||
        s.status === 'in_progress' ||
        (s.status === 'error' && s.nextRetryAt !== null)),
  );
  const blocked = names((s) => s.status === 'pending' && !parentsDone(s));

  let analysis: string;
  if (task.status === 'complete') analysis = 'All steps completed successfully';
  else if (task.status === 'cancelled') analysis = 'Task was cancelled';
  else if (task.status === 'resolved_manually') analysis = 'Task was resolved manually';
  else if (task.status === 'error') {
    analysis = `Task failed: step${failed.length > 1 ? 's' : ''} ${failed.join(', ')} failed permanently; ${blocked.length} step${blocked.length === 1 ? ' is' : 's are'} blocked`;
  } else if (retrying.length > 0) {
    analysis = `Retrying: ${retrying.map((s) => `${s.name} (attempt ${s.attempts} failed)`).join(', ')}`;
  } else if (failed.length > 0) {
    analysis = `Step${failed.length > 1 ? 's' : ''} ${failed.join(', ')} failed; independent branches are still running`;
  } else if (task.status === 'pending') analysis = 'Task is waiting for a worker to start it';
  else analysis = 'Task is progressing normally through dependency chain';

  return {
    analysis,
    blocked_steps: blocked,
    ready_steps: ready,
    completed_steps: completed,
    in_progress_steps: inProgress,
    failed_steps: failed,
  };
}
