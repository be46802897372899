import etag from 'etag';
/**
 * The route table of the REST API. Each route names its permission, query and body schemas and
 * responses; the router (router.ts) and the OpenAPI document (openapi.ts) are both built from
 * this one table, so every served route is documented.
 */
import type { Request } from 'express';
import { handlerNotFound, namespaceNotFound, TaskerError } from '../errors';
import { PERMISSIONS, type Permission } from '../auth';
import type { HandlerRegistry } from '../registry';
import type { Storage, TaskRecord } from '../storage';
import type { TaskService } from '../tasks/TaskService';
import type { AuthorizationResource, Json, TaskStatus } from '../types';
import {
  analyzeDependencies,
  presentHandlerDetail,
  presentHandlerSummary,
  presentNamespace,
  presentStep,
  presentTask,
} from './presenters';
import type { querySchemas, requestSchemas, responseSchemas } from './schemas';
import { validateQuery, validateResolveStepBody } from './validation';
import semver from 'semver';

/** Operator actions the engine carries out (cancel, retry, resolve). */
export interface TaskControl {
  cancelTask(id: string): Promise<TaskRecord>;
  retryTask(id: string): Promise<TaskRecord>;
  resolveStep(id: string, stepName: string, results: Json): Promise<TaskRecord>;
}

/** What a route handler can use. */
export interface RouteApi {
  registry: HandlerRegistry;
  tasks: TaskService;
  storage: Storage;
  control: TaskControl;
  /** Checks the route's permission for this resource; throws 403 when denied. */
  authorize(resource: AuthorizationResource): Promise<void>;
  /** Trace context to carry from the request to the task's steps. */
  traceContext(req: Request): Record<string, string> | null;
}

/** A route's answer. */
export interface RouteResult {
  status: number;
  body: unknown;
  /** The body already serialised, with its ETag, for answers cached between requests. */
  serialized?: { json: string; etag: string };
}

/** One route of the API. */
export interface RouteDef {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express path, relative to the mount point. */
  path: string;
  operationId: string;
  summary: string;
  tag: 'Handlers' | 'Tasks' | 'Steps';
  permission: Permission;
  query?: keyof typeof querySchemas;
  body?: keyof typeof requestSchemas;
  /** Status → response schema name (or null for no body). */
  responses: Record<number, keyof typeof responseSchemas | null>;
  handle(req: Request, api: RouteApi): Promise<RouteResult>;
}

const p = (req: Request, name: string): string => String(req.params[name]);

async function loadTask(req: Request, api: RouteApi): Promise<TaskRecord> {
  const task = await api.tasks.getTask(p(req, 'id'));
  await api.authorize({ namespace: task.namespace, name: task.name, taskId: task.id });
  return task;
}

const namespaceListCache = new WeakMap<
  HandlerRegistry,
  { revision: number; body: unknown; serialized: { json: string; etag: string } }
>();

/** Every route of the REST API. */
export const ROUTES: RouteDef[] = [
  {
    method: 'get',
    path: '/handlers',
    operationId: 'listNamespaces',
    summary: 'List namespaces with their handler counts and names',
    tag: 'Handlers',
    permission: PERMISSIONS.handlerIndex,
    query: 'Empty',
    responses: { 200: 'NamespaceList' },
    async handle(_req, api) {
      await api.authorize({});
      // The catalogue changes only when a handler is registered: build it, serialise it and
      // hash its ETag once per revision.
      let cached = namespaceListCache.get(api.registry);
      if (!cached || cached.revision !== api.registry.revision) {
        const body = { namespaces: api.registry.namespaces().map(presentNamespace) };
        const json = JSON.stringify(body);
        cached = {
          revision: api.registry.revision,
          body,
          serialized: { json, etag: etag(json, { weak: true }) },
        };
        namespaceListCache.set(api.registry, cached);
      }
      return { status: 200, body: cached.body, serialized: cached.serialized };
    },
  },
  {
    method: 'get',
    path: '/handlers/:namespace',
    operationId: 'listHandlers',
    summary: 'List the handlers of a namespace, each at its latest version',
    tag: 'Handlers',
    permission: PERMISSIONS.handlerIndex,
    query: 'Empty',
    responses: { 200: 'NamespaceHandlers', 404: 'Error' },
    async handle(req, api) {
      const namespace = p(req, 'namespace');
      await api.authorize({ namespace });
      if (!api.registry.hasNamespace(namespace)) throw namespaceNotFound(namespace);
      const handlers = api.registry
        .latestIn(namespace)
        .map((h) => presentHandlerSummary(h, api.registry.versions(namespace, h.name)));
      return { status: 200, body: { namespace, handlers } };
    },
  },
  {
    method: 'get',
    path: '/handlers/:namespace/:name',
    operationId: 'showHandler',
    summary: 'Show a handler version: step templates and dependency graph',
    tag: 'Handlers',
    permission: PERMISSIONS.handlerShow,
    query: 'HandlerShowQuery',
    responses: { 200: 'HandlerDetail', 400: 'Error', 404: 'Error' },
    async handle(req, api) {
      const namespace = p(req, 'namespace');
      const name = p(req, 'name');
      const { version } = validateQuery<{ version?: string }>('HandlerShowQuery', req.query);
      await api.authorize({ namespace, name });
      if (
        version !== undefined &&
        version !== 'latest' &&
        !semver.valid(version) &&
        !semver.validRange(version)
      ) {
        throw new TaskerError('INVALID_PARAMETER', `Invalid version '${version}'`, {
          version: ['must be a valid semantic version or range'],
        });
      }
      if (!api.registry.hasNamespace(namespace)) throw namespaceNotFound(namespace);
      const handler = api.registry.resolve(namespace, name, version);
      if (!handler) throw handlerNotFound(name, namespace, version);
      return {
        status: 200,
        body: presentHandlerDetail(handler, api.registry.versions(namespace, name)),
      };
    },
  },
  {
    method: 'post',
    path: '/tasks',
    operationId: 'createTask',
    summary: 'Create a task (an Idempotency-Key header returns the first task on repeat)',
    tag: 'Tasks',
    permission: PERMISSIONS.taskCreate,
    body: 'CreateTaskRequest',
    responses: {
      200: 'Task',
      201: 'Task',
      400: 'Error',
      404: 'Error',
      409: 'Error',
      413: 'Error',
      422: 'Error',
    },
    async handle(req, api) {
      const body = req.body as Record<string, unknown> | undefined;
      await api.authorize({
        namespace: typeof body?.namespace === 'string' ? body.namespace : undefined,
        name: typeof body?.name === 'string' ? body.name : undefined,
      });
      const header = req.get('idempotency-key');
      const { task, created } = await api.tasks.createTask(body, {
        idempotencyKey: header,
        traceContext: api.traceContext(req),
      });
      return { status: created ? 201 : 200, body: presentTask(task) };
    },
  },
  {
    method: 'get',
    path: '/tasks',
    operationId: 'listTasks',
    summary: 'List tasks, newest first, with filters and pagination',
    tag: 'Tasks',
    permission: PERMISSIONS.taskIndex,
    query: 'TaskListQuery',
    responses: { 200: 'TaskList', 400: 'Error' },
    async handle(req, api) {
      const q = validateQuery<{
        namespace?: string;
        name?: string;
        version?: string;
        status?: TaskStatus;
        page: number;
        per_page: number;
      }>('TaskListQuery', req.query);
      await api.authorize({ namespace: q.namespace, name: q.name });
      const perPage = Math.min(q.per_page, 100);
      const { tasks, totalCount } = await api.storage.listTasks(
        { namespace: q.namespace, name: q.name, version: q.version, status: q.status },
        q.page,
        perPage,
      );
      return {
        status: 200,
        body: {
          tasks: tasks.map(presentTask),
          pagination: {
            current_page: q.page,
            per_page: perPage,
            total_pages: Math.ceil(totalCount / perPage),
            total_count: totalCount,
          },
        },
      };
    },
  },
  {
    method: 'get',
    path: '/tasks/:id',
    operationId: 'showTask',
    summary: 'Show a task with its steps (and the dependency analysis on request)',
    tag: 'Tasks',
    permission: PERMISSIONS.taskShow,
    query: 'TaskShowQuery',
    responses: { 200: 'TaskDetail', 400: 'Error', 404: 'Error' },
    async handle(req, api) {
      const q = validateQuery<{ include_dependencies: boolean }>('TaskShowQuery', req.query);
      const task = await loadTask(req, api);
      const steps = await api.storage.getSteps(task.id);
      return {
        status: 200,
        body: {
          ...presentTask(task),
          steps: steps.map((s) => presentStep(s)),
          ...(q.include_dependencies ? { dependencies: analyzeDependencies(task, steps) } : {}),
        },
      };
    },
  },
  {
    method: 'delete',
    path: '/tasks/:id',
    operationId: 'cancelTask',
    summary: 'Cancel a task: running steps are aborted, pending steps cancelled',
    tag: 'Tasks',
    permission: PERMISSIONS.taskCancel,
    responses: { 200: 'Task', 404: 'Error', 409: 'Error' },
    async handle(req, api) {
      const task = await loadTask(req, api);
      return { status: 200, body: presentTask(await api.control.cancelTask(task.id)) };
    },
  },
  {
    method: 'post',
    path: '/tasks/:id/retry',
    operationId: 'retryTask',
    summary: 'Give failed steps new attempts and resume the task',
    tag: 'Tasks',
    permission: PERMISSIONS.taskRetry,
    responses: { 200: 'Task', 404: 'Error', 409: 'Error' },
    async handle(req, api) {
      const task = await loadTask(req, api);
      return { status: 200, body: presentTask(await api.control.retryTask(task.id)) };
    },
  },
  {
    method: 'get',
    path: '/tasks/:id/steps',
    operationId: 'listSteps',
    summary: "List a task's workflow steps with their transitions",
    tag: 'Steps',
    permission: PERMISSIONS.stepIndex,
    query: 'Empty',
    responses: { 200: 'StepList', 404: 'Error' },
    async handle(req, api) {
      const task = await loadTask(req, api);
      const [steps, transitions] = await Promise.all([
        api.storage.getSteps(task.id),
        api.storage.getTransitions(task.id),
      ]);
      return {
        status: 200,
        body: {
          task_id: task.id,
          steps: steps.map((s) =>
            presentStep(
              s,
              transitions.filter((t) => t.stepName === s.name),
            ),
          ),
        },
      };
    },
  },
  {
    method: 'get',
    path: '/tasks/:id/steps/:name',
    operationId: 'showStep',
    summary: 'Show one workflow step with its transitions',
    tag: 'Steps',
    permission: PERMISSIONS.stepShow,
    query: 'Empty',
    responses: { 200: 'Step', 404: 'Error' },
    async handle(req, api) {
      const task = await loadTask(req, api);
      const step = (await api.storage.getSteps(task.id)).find((s) => s.name === p(req, 'name'));
      if (!step) {
        throw new TaskerError(
          'STEP_NOT_FOUND',
          `Step '${p(req, 'name')}' not found in task '${task.id}'`,
        );
      }
      return {
        status: 200,
        body: presentStep(step, await api.storage.getTransitions(task.id, step.name)),
      };
    },
  },
  {
    method: 'patch',
    path: '/tasks/:id/steps/:name',
    operationId: 'resolveStep',
    summary: 'Resolve a pending or failed step manually with the given results',
    tag: 'Steps',
    permission: PERMISSIONS.stepUpdate,
    body: 'ResolveStepRequest',
    responses: { 200: 'Step', 400: 'Error', 404: 'Error', 409: 'Error', 422: 'Error' },
    async handle(req, api) {
      const task = await loadTask(req, api);
      // No step name holds NUL, and Postgres would fail the query on it: not found, not a 500.
      if (p(req, 'name').includes('\0')) {
        throw new TaskerError('STEP_NOT_FOUND', `Step not found in task '${task.id}'`);
      }
      const { results } = validateResolveStepBody(req.body);
      await api.control.resolveStep(task.id, p(req, 'name'), results as Json);
      const step = (await api.storage.getSteps(task.id)).find((s) => s.name === p(req, 'name'));
      return {
        status: 200,
        body: presentStep(step!, await api.storage.getTransitions(task.id, p(req, 'name'))),
      };
    },
  },
];
