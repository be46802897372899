/**
 * Glossary
 * - **namespace**: a group of handlers (`payments`) with a description.
 * - **handler** (task handler): namespace + name + semantic version, a description, an optional
 *   JSON Schema for the task context, and step templates forming a DAG.
 * - **step template**: one node of a handler's DAG: a name, the code that runs it, its
 *   dependencies and its retry policy.
 * - **task**: one run of a handler with a context, pinned to one handler version.
 * - **workflow step**: one step of one task: status, results, attempts, times, last error.
 * - **attempt**: one execution of a workflow step's code.
 * - **lease**: a worker's time-limited claim on a workflow step, carrying a fencing token.
 */
import type { Request } from 'express';

/** The states a task can be in (the API shows these strings). */
export type TaskStatus =
  'pending' | 'in_progress' | 'complete' | 'error' | 'cancelled' | 'resolved_manually';

/** The states a workflow step can be in: the task states plus `skipped`. */
export type StepStatus = TaskStatus | 'skipped';

/** All task states, in lifecycle order. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'in_progress',
  'complete',
  'error',
  'cancelled',
  'resolved_manually',
];

/** All workflow step states. */
export const STEP_STATUSES: readonly StepStatus[] = [...TASK_STATUSES, 'skipped'];

/** JSON values as stored in context and results. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A pino-compatible logger. Only these methods are used. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  /** Returns a logger whose lines carry `bindings`. */
  child(bindings: Record<string, unknown>): Logger;
}

/** What a step's code receives for one attempt. */
export interface StepContext<TContext = Record<string, any>> {
  /** The task this step belongs to. */
  task: { id: string; namespace: string; name: string; version: string; context: TContext };
  /** The workflow step and the attempt being run (1 for the first). */
  step: { name: string; attempt: number };
  /** Results of the steps this one depends on, by step name. */
  dependencies: Record<string, any>;
  /** Fires on timeout, task cancellation, lease loss and shutdown. */
  signal: AbortSignal;
  /** Emits one of the step template's declared custom events. An undeclared name throws. */
  publish(event: string, payload?: unknown): void;
  /** A logger whose lines carry the task id, step name and attempt. */
  logger: Logger;
  /** Unique per task, step and attempt: pass it to external APIs to make side effects idempotent. */
  idempotencyKey: string;
}

/** An object with a `process` method, such as an instance of {@link StepHandler}. */
export interface StepHandlerInstance {
  process(ctx: StepContext): unknown;
}

/** A class whose instances process a step; constructed once per handler registration. */
export type StepHandlerClass = new () => StepHandlerInstance;

/** A plain async function that processes a step. */
export type StepProcessFunction = (ctx: StepContext) => unknown;

/** Anything accepted as a step's code. */
export type StepHandlerLike = StepHandlerClass | StepProcessFunction | StepHandlerInstance;

/** A step template as the host writes it in {@link HandlerDefinition.steps}. */
export interface StepTemplateDefinition {
  /** Unique within the handler. */
  name: string;
  /** Shown in the discovery API. Default: empty string. */
  description?: string;
  /** The code: a class with `process(ctx)`, an instance of one, or an async function. */
  handler: StepHandlerLike;
  /** Name shown as `handler_class`. Default: the class or function name. */
  handlerClass?: string;
  /** One step name or several: this step runs after all of them. */
  dependsOn?: string | string[];
  /** Default true. False means one attempt only. */
  retryable?: boolean;
  /** How many times a failed attempt is retried. Default 3 (at most 4 attempts). */
  retryLimit?: number;
  /** Default false. A skippable step that fails for good ends `skipped` and its dependents run. */
  skippable?: boolean;
  /** Aborts an attempt after this many milliseconds (through `ctx.signal`) and fails it. */
  timeoutMs?: number;
  /** Custom event names (with a dot, not in task/step/workflow) this step may publish. */
  customEvents?: string[];
}

/** A handler as the host registers it. */
export interface HandlerDefinition {
  namespace: string;
  name: string;
  /** A semantic version, e.g. `2.1.0`. */
  version: string;
  description?: string;
  /** A JSON Schema (draft 2020-12 or 07) the task context must satisfy. */
  contextSchema?: Record<string, unknown>;
  steps: StepTemplateDefinition[];
}

/** A namespace as the host registers it. */
export interface NamespaceDefinition {
  name: string;
  description?: string;
}

/** A step template after registration: defaults applied, dependencies as an array. */
export interface StepTemplate {
  name: string;
  description: string;
  handlerClass: string;
  /** The callable that runs one attempt. */
  run: StepProcessFunction;
  dependsOn: string[];
  retryable: boolean;
  retryLimit: number;
  skippable: boolean;
  timeoutMs: number | null;
  customEvents: string[];
}

/** One edge of a handler's DAG: `to` runs after `from`. */
export interface DependencyEdge {
  from: string;
  to: string;
}

/** The analysed DAG of a handler. */
export interface DependencyGraph {
  /** Step names in definition order. */
  nodes: string[];
  edges: DependencyEdge[];
  /** A deterministic topological order (Kahn's algorithm, ties by definition order). */
  executionOrder: string[];
  /** Groups of steps that can run in parallel, level by level. */
  levels: string[][];
}

/** A registered handler version. */
export interface RegisteredHandler {
  namespace: string;
  name: string;
  version: string;
  description: string;
  contextSchema: Record<string, unknown> | null;
  steps: StepTemplate[];
  graph: DependencyGraph;
  /** Step name to template. */
  stepsByName: Map<string, StepTemplate>;
  /** Step name to the names of the steps that depend on it. */
  children: Map<string, string[]>;
  /** `namespace.name@version`. */
  fullName: string;
}

/** An authenticated user: whatever the authenticator returns (for JWTs, the verified payload). */
export type TaskerUser = Record<string, any>;

/** Decides who the caller is. Return null when the request carries no valid credentials. */
export interface Authenticator {
  authenticate(req: Request): TaskerUser | null | Promise<TaskerUser | null>;
}

/** A class implementing {@link Authenticator}, constructed with `authenticatorOptions`. */
export type AuthenticatorClass = new (options?: any) => Authenticator;

/** What a permission check is about. */
export interface AuthorizationResource {
  namespace?: string;
  name?: string;
  taskId?: string;
}

/** Decides whether a user holds a permission such as `tasker.task:create`. */
export type Authorizer = (
  user: TaskerUser,
  permission: string,
  resource: AuthorizationResource,
) => boolean | Promise<boolean>;
