/**
 * Scenario 5, hostile input: fast-check properties over every endpoint's body, path and query,
 * JWT attacks on every secured operation, and a model of authorization (permissions and
 * namespace scope) checked against the API. See lib/hostile.ts for the harness.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import request from 'supertest';
import { PERMISSIONS } from '../../../lib';
import { ROUTES } from '../../../lib/http/routes';
import { progress, type ScenarioResult } from '../lib/common';
import { codeOf } from '../lib/http';
import {
  ALL_PERMISSIONS,
  bodyText,
  contentType,
  createBody,
  createHostileHarness,
  hostileTokens,
  hostileValue,
  newTally,
  pathSegment,
  queryString,
  sendSafely,
  type FuzzTally,
  type HostileHarness,
} from '../lib/hostile';

export interface HostileOptions {
  /** fast-check runs per property. */
  runs: number;
  databases: ('postgres' | 'sqlite')[];
}

export const HOSTILE_CI: HostileOptions = { runs: 300, databases: ['postgres', 'sqlite'] };
export const HOSTILE_SOAK: HostileOptions = { runs: 3000, databases: ['postgres', 'sqlite'] };

const TOKEN_HEADER = (h: HostileHarness, scoped: boolean) =>
  scoped ? `Bearer ${h.sign({ permissions: ['tasker.*'], namespaces: ['alpha'] })}` : h.admin;

/** POST /tasks with hostile bodies, encodings and headers. */
export async function fuzzCreate(h: HostileHarness, runs: number, tally: FuzzTally): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      createBody.chain((b) => bodyText(b)),
      contentType,
      fc.boolean(),
      fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 300 })),
      fc.option(fc.string({ unit: 'grapheme-ascii', maxLength: 100 })),
      async ({ text, how }, type, scoped, idempotencyKey, traceparent) => {
        const headers: Record<string, string> = {
          authorization: TOKEN_HEADER(h, scoped),
          'content-type': type,
        };
        if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
        if (traceparent !== null) headers.traceparent = traceparent;
        const res = await sendSafely(
          h,
          tally,
          { method: 'post', path: '/tasker/tasks', headers, body: text },
          `${how}, ${type}${scoped ? ', scoped to alpha' : ''}`,
        );
        if (res.status === 201 || res.status === 200) {
          const task = res.body as { id?: string; namespace?: string };
          if (typeof task.id !== 'string')
            throw new Error(`a ${res.status} without a task: ${res.text}`);
          if (scoped && task.namespace !== 'alpha') {
            throw new Error(`a user scoped to alpha created a task in ${task.namespace}`);
          }
        }
      },
    ),
    { numRuns: runs },
  );
}

type PathRoute = {
  method: 'get' | 'post' | 'patch' | 'delete' | 'put';
  path: (s: string[]) => string;
  body?: boolean;
};
const PATH_ROUTES: PathRoute[] = [
  { method: 'get', path: (s) => `/tasker/handlers/${s[0]}` },
  { method: 'get', path: (s) => `/tasker/handlers/${s[0]}/${s[1]}` },
  { method: 'get', path: (s) => `/tasker/tasks/${s[0]}` },
  { method: 'delete', path: (s) => `/tasker/tasks/${s[0]}` },
  { method: 'post', path: (s) => `/tasker/tasks/${s[0]}/retry` },
  { method: 'get', path: (s) => `/tasker/tasks/${s[0]}/steps` },
  { method: 'get', path: (s) => `/tasker/tasks/${s[0]}/steps/${s[1]}` },
  { method: 'patch', path: (s) => `/tasker/tasks/${s[0]}/steps/${s[1]}`, body: true },
  { method: 'get', path: (s) => `/tasker/tasks/${s[0]}/${s[1]}/${s[2]}` },
  { method: 'put', path: (s) => `/tasker/tasks/${s[0]}` },
  { method: 'get', path: (s) => `/tasker/health/${s[0]}` },
  { method: 'get', path: (s) => `/tasker/metrics/${s[0]}` },
  { method: 'get', path: (s) => `/tasker/ui/${s[0]}/${s[1]}` },
  { method: 'get', path: (s) => `/tasker/api-docs/${s[0]}` },
];

/** Every path-parameter route with hostile segments (and real ids mixed in). */
export async function fuzzPaths(h: HostileHarness, runs: number, tally: FuzzTally): Promise<void> {
  const real = [...h.ids.alpha, ...h.ids.beta];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...PATH_ROUTES),
      fc.array(pathSegment(real), { minLength: 3, maxLength: 3 }),
      hostileValue,
      fc.boolean(),
      fc.boolean(),
      async (route, segments, results, wrapped, scoped) => {
        const body = route.body
          ? (JSON.stringify(wrapped ? { results } : results) ?? 'null')
          : undefined;
        await sendSafely(
          h,
          tally,
          {
            method: route.method,
            path: route.path(segments),
            headers: {
              authorization: TOKEN_HEADER(h, scoped),
              ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body,
          },
          scoped ? 'scoped to alpha' : 'admin',
        );
      },
    ),
    { numRuns: runs },
  );
}

/** Query strings on every route that reads them. */
export async function fuzzQueries(
  h: HostileHarness,
  runs: number,
  tally: FuzzTally,
): Promise<void> {
  const real = [...h.ids.alpha, ...h.ids.beta];
  const targets = [
    () => '/tasker/tasks',
    () => '/tasker/tasks',
    (id: string) => `/tasker/tasks/${id}`,
    (id: string) => `/tasker/tasks/${id}/steps`,
    () => '/tasker/handlers/alpha/job',
    () => '/tasker/handlers',
    () => '/tasker/handlers/alpha',
    () => '/tasker/health/ready',
    () => '/tasker/health/live',
    () => '/tasker/health/status',
    () => '/tasker/metrics',
    () => '/tasker/api-docs.json',
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...targets),
      fc.constantFrom(...real),
      queryString,
      async (target, id, query) => {
        const path = `${target(id)}?${query}`;
        const res = await sendSafely(
          h,
          tally,
          { method: 'get', path, headers: { authorization: h.admin } },
          'query',
        );
        if (res.status === 200 && path.startsWith('/tasker/tasks?')) {
          const p = (res.body as { pagination: { per_page: number; current_page: number } })
            .pagination;
          const tasks = (res.body as { tasks: unknown[] }).tasks;
          if (
            !(p.per_page >= 1 && p.per_page <= 100) ||
            tasks.length > p.per_page ||
            p.current_page < 1
          ) {
            throw new Error(`GET ${path} paginated wrongly: ${JSON.stringify(p)}`);
          }
        }
      },
    ),
    { numRuns: runs },
  );
}

/** A secured operation and how to aim it at a namespace. */
export interface SecuredOp {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** The OpenAPI path, as /api-docs.json lists it. */
  path: string;
  permission: string;
  /** Builds the request against `ns` (undefined: the request names no namespace). */
  build(h: HostileHarness, ns: 'alpha' | 'beta' | undefined): { path: string; body?: string };
  /** Whether the request can name no namespace at all. */
  canOmitNamespace?: boolean;
}

const task = (h: HostileHarness, ns: 'alpha' | 'beta' | undefined) => h.ids[ns ?? 'alpha'][0];

/** Every secured operation; the test checks this covers what /api-docs.json lists as secured. */
export const SECURED_OPS: SecuredOp[] = [
  {
    method: 'get',
    path: '/handlers',
    permission: PERMISSIONS.handlerIndex,
    build: () => ({ path: '/tasker/handlers' }),
    canOmitNamespace: true,
  },
  {
    method: 'get',
    path: '/handlers/{namespace}',
    permission: PERMISSIONS.handlerIndex,
    build: (_h, ns) => ({ path: `/tasker/handlers/${ns}` }),
  },
  {
    method: 'get',
    path: '/handlers/{namespace}/{name}',
    permission: PERMISSIONS.handlerShow,
    build: (_h, ns) => ({ path: `/tasker/handlers/${ns}/job` }),
  },
  {
    method: 'post',
    path: '/tasks',
    permission: PERMISSIONS.taskCreate,
    build: (_h, ns) => ({
      path: '/tasker/tasks',
      body: JSON.stringify({ namespace: ns, name: 'job' }),
    }),
  },
  {
    method: 'get',
    path: '/tasks',
    permission: PERMISSIONS.taskIndex,
    build: (_h, ns) => ({ path: ns ? `/tasker/tasks?namespace=${ns}` : '/tasker/tasks' }),
    canOmitNamespace: true,
  },
  {
    method: 'get',
    path: '/tasks/{id}',
    permission: PERMISSIONS.taskShow,
    build: (h, ns) => ({ path: `/tasker/tasks/${task(h, ns)}` }),
  },
  {
    method: 'delete',
    path: '/tasks/{id}',
    permission: PERMISSIONS.taskCancel,
    build: (h, ns) => ({ path: `/tasker/tasks/${task(h, ns)}` }),
  },
  {
    method: 'post',
    path: '/tasks/{id}/retry',
    permission: PERMISSIONS.taskRetry,
    build: (h, ns) => ({ path: `/tasker/tasks/${task(h, ns)}/retry` }),
  },
  {
    method: 'get',
    path: '/tasks/{id}/steps',
    permission: PERMISSIONS.stepIndex,
    build: (h, ns) => ({ path: `/tasker/tasks/${task(h, ns)}/steps` }),
  },
  {
    method: 'get',
    path: '/tasks/{id}/steps/{name}',
    permission: PERMISSIONS.stepShow,
    build: (h, ns) => ({ path: `/tasker/tasks/${task(h, ns)}/steps/a` }),
  },
  {
    method: 'patch',
    path: '/tasks/{id}/steps/{name}',
    permission: PERMISSIONS.stepUpdate,
    build: (h, ns) => ({
      path: `/tasker/tasks/${task(h, ns)}/steps/a`,
      body: JSON.stringify({ results: { by: 'test' } }),
    }),
  },
  {
    method: 'get',
    path: '/health/status',
    permission: PERMISSIONS.healthStatus,
    build: () => ({ path: '/tasker/health/status' }),
    canOmitNamespace: true,
  },
  {
    method: 'get',
    path: '/metrics',
    permission: PERMISSIONS.metricsIndex,
    build: () => ({ path: '/tasker/metrics' }),
    canOmitNamespace: true,
  },
];

/** The secured operations /api-docs.json lists, as `METHOD /path`. */
export async function documentedSecuredOps(h: HostileHarness): Promise<string[]> {
  const res = await request(h.server).get('/tasker/api-docs.json');
  const doc = res.body as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  const out: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (Array.isArray(op.security) && op.security.length > 0)
        out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out.sort();
}

/** The API routes of lib/http/routes.ts, as `METHOD /path`, to catch a route missing above. */
export function routeTableOps(): string[] {
  return ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort();
}

async function sendOp(
  h: HostileHarness,
  tally: FuzzTally,
  op: SecuredOp,
  ns: 'alpha' | 'beta' | undefined,
  headers: Record<string, string>,
  what: string,
) {
  const { path, body } = op.build(h, ns);
  return sendSafely(
    h,
    tally,
    {
      method: op.method,
      path,
      headers: {
        ...headers,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body,
    },
    what,
  );
}

/**
 * Model-based: for random permissions, namespace scope, operation and target namespace, the
 * API refuses (403, nothing stored) exactly when the model says the user may not.
 */
export async function fuzzAuthorization(
  h: HostileHarness,
  runs: number,
  tally: FuzzTally,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.subarray(ALL_PERMISSIONS),
      fc.option(fc.subarray(['alpha', 'beta'])),
      fc.constantFrom(...SECURED_OPS),
      fc.constantFrom<'alpha' | 'beta' | undefined>('alpha', 'beta', undefined),
      async (permissions, scope, op, target) => {
        const ns = target === undefined && !op.canOmitNamespace ? 'alpha' : target;
        const token = h.sign({ permissions, ...(scope ? { namespaces: scope } : {}) });
        const nsOfResource =
          op.path === '/handlers' || op.path === '/health/status' || op.path === '/metrics'
            ? undefined
            : ns;
        const allowed =
          permissions.includes(op.permission) &&
          (scope === null || (nsOfResource !== undefined && scope.includes(nsOfResource)));
        const res = await sendOp(
          h,
          tally,
          op,
          ns,
          { authorization: `Bearer ${token}` },
          `authz ${op.method} ${op.path}`,
        );
        const where = `${op.method.toUpperCase()} ${op.path} on ${ns ?? 'no namespace'} with ${JSON.stringify({ permissions, scope })}`;
        if (!allowed && (res.status !== 403 || codeOf(res.body) !== 'AUTHORIZATION_FAILED')) {
          throw new Error(
            `${where} should be refused with 403, got ${res.status} ${res.text.slice(0, 200)}`,
          );
        }
        if (allowed && (res.status === 403 || res.status === 401)) {
          throw new Error(
            `${where} should be allowed, got ${res.status} ${res.text.slice(0, 200)}`,
          );
        }
      },
    ),
    { numRuns: runs },
  );
}

/** Every attack token on every secured operation, and tokens outside the Authorization header. */
export async function jwtAttacks(h: HostileHarness, tally: FuzzTally): Promise<number> {
  const tokens = hostileTokens(h);
  const valid = h.sign({ permissions: ['tasker.*'] });
  const variants: [string, Record<string, string>, string?][] = [
    ['no credentials', {}],
    ...Object.entries(tokens).map(([name, t]): [string, Record<string, string>] => [
      name,
      { authorization: `Bearer ${t}` },
    ]),
    ['token as Basic credentials', { authorization: `Basic ${valid}` }],
    ['token without the scheme', { authorization: valid }],
    ['token in a cookie', { cookie: `token=${valid}; access_token=${valid}; jwt=${valid}` }],
    ['token in X-Access-Token', { 'x-access-token': valid }],
    [
      'token in the query string',
      {},
      `access_token=${valid}&token=${valid}&jwt=${valid}&authorization=Bearer%20${valid}`,
    ],
  ];
  let checked = 0;
  for (const op of SECURED_OPS) {
    for (const [name, headers, query] of variants) {
      const { path, body } = op.build(h, 'alpha');
      const res = await sendSafely(
        h,
        tally,
        {
          method: op.method,
          path: query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path,
          headers: {
            ...headers,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body,
        },
        name,
      );
      if (res.status !== 401 || codeOf(res.body) !== 'AUTHENTICATION_FAILED') {
        throw new Error(
          `${op.method.toUpperCase()} ${op.path} with ${name}: expected 401, got ${res.status} ${res.text.slice(0, 200)}`,
        );
      }
      checked++;
    }
  }
  return checked;
}

/** Runs everything above at `o`'s size, for soak. */
export async function hostileInput(o: HostileOptions): Promise<ScenarioResult> {
  const log = progress('hostile-input');
  const started = Date.now();
  const tally = newTally();
  let jwtChecks = 0;
  for (const database of o.databases) {
    const dir = mkdtempSync(join(tmpdir(), 'tasker-rel-hostile-'));
    const h = await createHostileHarness(database, dir);
    try {
      await fuzzCreate(h, o.runs, tally);
      log(`${database}: bodies`);
      await fuzzPaths(h, o.runs, tally);
      log(`${database}: paths`);
      await fuzzQueries(h, o.runs, tally);
      log(`${database}: queries`);
      await fuzzAuthorization(h, o.runs, tally);
      log(`${database}: authorization`);
      jwtChecks += await jwtAttacks(h, tally);
    } finally {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    scenario: 'hostile-input',
    size: `${o.runs} runs per property x 4 properties, on ${o.databases.join(' and ')}`,
    durationMs: Date.now() - started,
    figures: {
      requests: tally.requests,
      '5xx': 0,
      jwt_attack_checks: jwtChecks,
      statuses: Object.entries(tally.byStatus)
        .map(([k, v]) => `${k}:${v}`)
        .join(' '),
    },
  };
}
