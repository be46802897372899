/**
 * Scenario 5, hostile input: a Tasker with JWT authentication and namespace-scoped authorization
 * on a real database, fuzzed through HTTP with fast-check. The promises: never a 5xx, every
 * error answer is the envelope, and a rejected request stores nothing.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import knexFactory, { type Knex } from 'knex';
import request from 'supertest';
import {
  createTasker,
  defaultAuthorizer,
  JwtAuthenticator,
  PERMISSIONS,
  type Tasker,
} from '../../../lib';
import { silentLogger } from '../../../lib/observability/logger';
import type { Authorizer, HandlerDefinition } from '../../../lib/types';
import { isEnvelope } from './http';
import { createSchema, type Schema } from './pg';

export const SECRET = 'reliability-hostile-input-secret-0123456789abcdef';
export const ISSUER = 'tasker-reliability';
export const AUDIENCE = 'tasker-api';

/** Claims a test user carries: permissions, and optionally the namespaces it is limited to. */
export interface Claims {
  sub?: string;
  permissions?: string[];
  namespaces?: string[];
}

/**
 * The host's authorizer: the default permission check, and when the user carries a
 * `namespaces` claim, only resources in those namespaces (a request naming none is refused).
 */
export const scopedAuthorizer: Authorizer = (user, permission, resource) => {
  if (!defaultAuthorizer(user, permission, resource)) return false;
  const scope = (user as { namespaces?: unknown }).namespaces;
  if (!Array.isArray(scope)) return true;
  return typeof resource.namespace === 'string' && scope.includes(resource.namespace);
};

const step = async () => ({ ok: true });
/** Handlers in two namespaces, with a context schema, a DAG and a skippable step. */
export const HOSTILE_HANDLERS: HandlerDefinition[] = [
  {
    namespace: 'alpha',
    name: 'job',
    version: '1.0.0',
    contextSchema: { type: 'object', properties: { n: { type: 'integer' } } },
    steps: [
      { name: 'a', handler: step },
      { name: 'b', handler: step, dependsOn: 'a', skippable: true },
    ],
  },
  {
    namespace: 'alpha',
    name: 'job',
    version: '2.0.0',
    steps: [{ name: 'a', handler: step }],
  },
  { namespace: 'beta', name: 'job', version: '1.0.0', steps: [{ name: 'a', handler: step }] },
];

/** Every permission; `without(p)` all but one. */
export const ALL_PERMISSIONS: string[] = Object.values(PERMISSIONS);

export interface HostileHarness {
  database: 'postgres' | 'sqlite';
  tasker: Tasker;
  server: Server;
  /** Signs a token the harness accepts (HS256, right issuer and audience, 1 h). */
  sign(claims: Claims, options?: jwt.SignOptions): string;
  /** `Bearer <admin token>` (every permission, every namespace). */
  admin: string;
  /** Tasks seeded in each namespace. */
  ids: { alpha: string[]; beta: string[] };
  /** A fingerprint of everything stored: equal before and after means nothing was written. */
  snapshot(): Promise<string>;
  close(): Promise<void>;
}

/** Starts the harness on a fresh Postgres schema or SQLite file. */
export async function createHostileHarness(
  database: 'postgres' | 'sqlite',
  dir: string,
): Promise<HostileHarness> {
  let schema: Schema | null = null;
  let knex: Knex;
  let storage;
  if (database === 'postgres') {
    schema = await createSchema();
    storage = schema.config({ min: 0, max: 5 });
    knex = schema.knex;
  } else {
    storage = { client: 'better-sqlite3', connection: { filename: `${dir}/hostile.sqlite` } };
    knex = knexFactory({ ...storage, useNullAsDefault: true, pool: { min: 0, max: 1 } });
  }
  const tasker = createTasker({
    storage,
    logger: silentLogger,
    auth: {
      authenticator: JwtAuthenticator,
      authenticatorOptions: {
        secret: SECRET,
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
      },
      authorizationEnabled: true,
      authorizer: scopedAuthorizer,
    },
    // No workers: only the requests under test change what is stored.
    worker: { enabled: false },
  });
  for (const def of HOSTILE_HANDLERS) tasker.registerHandler(def);
  await tasker.ready;
  const app = express();
  app.use('/tasker', tasker);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const sign = (claims: Claims, options: jwt.SignOptions = {}) =>
    jwt.sign({ sub: 'tester', ...claims }, SECRET, {
      algorithm: 'HS256',
      issuer: ISSUER,
      audience: AUDIENCE,
      expiresIn: '1h',
      ...options,
    });
  const ids = { alpha: [] as string[], beta: [] as string[] };
  for (let i = 0; i < 6; i++) {
    ids.alpha.push((await tasker.createTask({ namespace: 'alpha', name: 'job' })).id);
    ids.beta.push((await tasker.createTask({ namespace: 'beta', name: 'job' })).id);
  }
  const snapshot = async () => {
    const row = await knex.raw(
      `SELECT (SELECT count(*) FROM tasker_tasks) AS t, (SELECT coalesce(sum(updated_at), 0) FROM tasker_tasks) AS tu,
              (SELECT count(*) FROM tasker_workflow_steps) AS s, (SELECT coalesce(sum(updated_at), 0) FROM tasker_workflow_steps) AS su,
              (SELECT count(*) FROM tasker_step_transitions) AS x`,
    );
    const r = (Array.isArray(row) ? row[0] : row.rows[0]) as Record<string, unknown>;
    return `${r.t}/${r.tu}/${r.s}/${r.su}/${r.x}`;
  };
  return {
    database,
    tasker,
    server,
    sign,
    admin: `Bearer ${sign({ permissions: ['tasker.*'] })}`,
    ids,
    snapshot,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await tasker.close();
      if (schema) await schema.drop();
      else await knex.destroy();
    },
  };
}

/** What one request did, for the safety check. */
export interface Outcome {
  status: number;
  body: unknown;
  text: string;
}

/** Tallies of a fuzz run. */
export interface FuzzTally {
  requests: number;
  byStatus: Record<string, number>;
}

export function newTally(): FuzzTally {
  return { requests: 0, byStatus: {} };
}

/**
 * Sends one request and checks the promises: no 5xx, the envelope on every error, and, when
 * the request was refused (or only reads), nothing stored.
 */
export async function sendSafely(
  h: HostileHarness,
  tally: FuzzTally,
  req: {
    method: 'get' | 'post' | 'patch' | 'delete' | 'put';
    path: string;
    headers?: Record<string, string>;
    body?: string;
  },
  describe: string,
): Promise<Outcome> {
  const before = await h.snapshot();
  let r = request(h.server)[req.method](req.path);
  for (const [k, v] of Object.entries(req.headers ?? {})) r = r.set(k, v);
  const res = req.body === undefined ? await r : await r.send(req.body);
  const after = await h.snapshot();
  tally.requests++;
  tally.byStatus[res.status] = (tally.byStatus[res.status] ?? 0) + 1;
  const where = `${req.method.toUpperCase()} ${req.path.slice(0, 300)} (${describe})`;
  if (res.status >= 500) {
    throw new Error(`${where} answered ${res.status}: ${res.text.slice(0, 500)}`);
  }
  if (res.status >= 400) {
    if (!isEnvelope(res.body)) {
      throw new Error(
        `${where} answered ${res.status} without the envelope: ${res.text.slice(0, 300)}`,
      );
    }
    if (after !== before)
      throw new Error(`${where} was refused (${res.status}) but changed what is stored`);
  }
  if (req.method === 'get' && after !== before) throw new Error(`${where} changed what is stored`);
  return { status: res.status, body: res.body, text: res.text };
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Strings that have broken web APIs before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '😀',
  'e\u0301',
  '\u202eevil',
  '\ufeff',
  '\r\n',
  "' OR 1=1 --",
  "'; DROP TABLE tasker_tasks; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)',
  "\\'; SELECT 1; --",
  '$1',
  '?',
  '%',
  '%00',
  '%s%s%s%n',
  '../../../../etc/passwd',
  '..\\..\\..\\windows\\win.ini',
  '/etc/passwd',
  '....//....//etc/passwd',
  '%2e%2e%2f%2e%2e%2f',
  '..',
  '.',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${7*7}',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '-0',
  '9007199254740993',
  'null',
  'true',
  '[]',
  '{}',
  'x'.repeat(256),
  'y'.repeat(5000),
];

const char16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: char16, maxLength: 40 }),
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    -1,
    1.5,
    2147483647,
    2147483648,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -1e308,
    5e-324,
  ),
);

const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'name', 'namespace', ''),
  hostileString,
);

/** Any JSON value, with hostile leaves and keys. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileKey, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A POST /tasks body: mostly the right keys with hostile values, sometimes anything. */
export const createBody: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        name: fc.oneof(fc.constant('job'), hostileValue),
        namespace: fc.oneof(fc.constantFrom('alpha', 'beta'), hostileValue),
        version: fc.oneof(
          fc.constantFrom('1.0.0', '2.0.0', '^1.0.0', 'latest', '*', '>=1 <3', '9.9.9', 'v1'),
          hostileValue,
        ),
        context: fc.oneof(fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 }), hostileValue),
        idempotency_key: hostileValue,
        bypass_steps: fc.oneof(
          fc.array(fc.oneof(fc.constantFrom('a', 'b'), hostileString)),
          hostileValue,
        ),
      },
      { requiredKeys: [] },
    ),
  },
  hostileValue,
);

/** Turns a body into the text sent, sometimes mangled the way clients mangle JSON. */
export const bodyText = (body: unknown): fc.Arbitrary<{ text: string; how: string }> => {
  const json = JSON.stringify(body) ?? 'null';
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant({ text: json, how: 'json' }) },
    fc.constant({
      text: json.startsWith('{') && json.length > 2 ? `{"namespace":"beta",${json.slice(1)}` : json,
      how: 'duplicate key',
    }),
    fc
      .nat({ max: Math.max(0, json.length - 1) })
      .map((n) => ({ text: json.slice(0, n), how: 'truncated' })),
    fc
      .constantFrom(
        '{"namespace":"alpha","name":"job","context":{"n":1e309,"m":123456789012345678901234567890,"k":-0}}',
        '{"namespace":"alpha","name":"job","context":{"n":1E400}}',
        '{"namespace":"alpha","name":"job","version":"1.0.0","version":"2.0.0"}',
        '{"namespace":"alpha","name":"job","__proto__":{"admin":true}}',
        '{"namespace":"alpha","name":"job","context":{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}}',
        '{"namespace":"alpha","name":"job","idempotency_key":"\\u0000"}',
        '{"namespace":"alpha","name":"job","context":{"s":"\\ud800\\udfff\\u0000"}}',
        '\ufeff{"namespace":"alpha","name":"job"}',
        'null',
        '"just a string"',
        '[]',
        '',
        '{',
        'NaN',
      )
      .map((text) => ({ text, how: 'crafted' })),
    fc.constantFrom(20, 200, 1000, 5000, 50_000).map((d) => ({
      text: `{"namespace":"alpha","name":"job","context":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`,
      how: `nested ${d} deep`,
    })),
    fc.constantFrom(20, 200, 5000, 50_000).map((d) => ({
      text: `{"namespace":"alpha","name":"job","context":{"list":${'['.repeat(d)}${']'.repeat(d)}}}`,
      how: `arrays ${d} deep`,
    })),
    fc.string().map((text) => ({ text, how: 'garbage' })),
  );
};

export const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/merge-patch+json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    '*/*',
    'garbage',
  ),
);

/** Percent-encodes any string, lone surrogates included (as the UTF-8 bytes Node would send). */
export function pct(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  }
}

/** A path segment: hostile text percent-encoded, or raw encodings that trip decoders. */
export const pathSegment = (real: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: hostileString.filter((s) => s.length > 0).map(pct) },
    fc.constantFrom(
      '%E0%A4%A',
      '%',
      '%zz',
      '%00',
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e',
      '..',
      '.',
      '%C0%AE%C0%AE',
      '%ED%A0%80',
      '%FF',
      '%2F',
      '%5C',
      '%252e%252e',
      'a;b',
      '*',
    ),
    fc.constantFrom(...real, 'a', 'b', 'job', 'alpha', 'beta'),
  );

/** A query string: known and unknown keys with hostile values, repeats and odd syntax. */
export const queryString: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.oneof(
          {
            weight: 3,
            arbitrary: fc.constantFrom(
              'namespace',
              'name',
              'version',
              'status',
              'page',
              'per_page',
              'include_dependencies',
            ),
          },
          hostileString,
        ),
        fc.oneof(
          fc.constantFrom(
            '-1',
            '0',
            '1',
            '2',
            '100',
            '101',
            '1e309',
            '1e3',
            '1.5',
            'NaN',
            'Infinity',
            '-Infinity',
            '0x10',
            '+1',
            ' 1',
            '99999999999999999999',
            '2147483648',
            'true',
            'false',
            'complete',
            'pending',
            'alpha',
            'beta',
            'job',
            '',
          ),
          hostileString,
        ),
      ),
      { maxLength: 5 },
    ),
    fc.option(
      fc.constantFrom(
        'a[b]=1',
        'page[]=1',
        'per_page[x]=2',
        '=',
        '&&&',
        '%',
        'per_page=%00',
        'page=1&page=2',
        'x=%E0%A4%A',
      ),
    ),
  )
  .map(([pairs, raw]) =>
    [...pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`), ...(raw ? [raw] : [])].join('&'),
  );

// ---------------------------------------------------------------------------------------------
// JWT attacks

const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

/** Tokens that must all be refused, by name. `valid` is the token they are derived from. */
export function hostileTokens(h: HostileHarness): Record<string, string> {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: 'attacker', permissions: ['tasker.*'], iss: ISSUER, aud: AUDIENCE };
  const valid = h.sign({ permissions: ['tasker.task:index'] });
  const [header, , signature] = valid.split('.');
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const hsWith = (key: string | Buffer, payload: object, alg = 'HS256') => {
    const head = b64url(JSON.stringify({ alg, typ: 'JWT' }));
    const body = b64url(JSON.stringify(payload));
    const algo = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] ?? 'sha256';
    return `${head}.${body}.${createHmac(algo, key).update(`${head}.${body}`).digest('base64url')}`;
  };
  const none = (alg: string) =>
    `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify({ ...claims, exp: now + 3600 }))}.`;
  return {
    'alg none': none('none'),
    'alg NONE': none('NONE'),
    'alg nOnE': none('nOnE'),
    'alg none with a signature': `${none('none')}${signature}`,
    'HS256 signed with the RSA public key (HS/RS confusion)': hsWith(pem, {
      ...claims,
      exp: now + 3600,
    }),
    'HS512 with the right secret (algorithm not allowed)': hsWith(
      SECRET,
      { ...claims, exp: now + 3600 },
      'HS512',
    ),
    'wrong secret': hsWith('not-the-secret', { ...claims, exp: now + 3600 }),
    expired: h.sign({ permissions: ['tasker.*'] }, { expiresIn: -10 }),
    'not yet valid': h.sign({ permissions: ['tasker.*'] }, { notBefore: 3600 }),
    'wrong issuer': h.sign({ permissions: ['tasker.*'] }, { issuer: 'someone-else' }),
    'no issuer': jwt.sign({ permissions: ['tasker.*'] }, SECRET, {
      audience: AUDIENCE,
      expiresIn: '1h',
    }),
    'wrong audience': h.sign({ permissions: ['tasker.*'] }, { audience: 'other-api' }),
    'tampered payload': `${header}.${b64url(JSON.stringify({ ...claims, exp: now + 3600 }))}.${signature}`,
    'signature stripped': `${header}.${valid.split('.')[1]}.`,
    'truncated signature': valid.slice(0, -5),
    'two segments': valid.split('.').slice(0, 2).join('.'),
    'payload not JSON': `${header}.${b64url('not json')}.${signature}`,
    'payload an array': hsWith(SECRET, [1, 2, 3]),
  };
}
