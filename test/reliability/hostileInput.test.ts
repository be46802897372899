import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PERMISSIONS } from '../../lib';
import { createHostileHarness, newTally, sendSafely, type HostileHarness } from './lib/hostile';
import { codeOf } from './lib/http';
import {
  documentedSecuredOps,
  fuzzAuthorization,
  fuzzCreate,
  fuzzPaths,
  fuzzQueries,
  HOSTILE_CI,
  jwtAttacks,
  routeTableOps,
  SECURED_OPS,
} from './scenarios/hostile';

for (const database of HOSTILE_CI.databases) {
  describe(`reliability: hostile input on ${database}`, function () {
    this.timeout(180_000);
    let h: HostileHarness;
    let dir: string;
    const tally = newTally();
    const runs = HOSTILE_CI.runs;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tasker-rel-hostile-'));
      h = await createHostileHarness(database, dir);
    });
    after(async () => {
      await h?.close();
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(
        `      figures [hostile-input ${database}] ${tally.requests} requests; ${JSON.stringify(tally.byStatus)}\n`,
      );
    });

    const send = (
      method: 'get' | 'post' | 'patch',
      path: string,
      body?: string,
      headers: Record<string, string> = {},
    ) =>
      sendSafely(
        h,
        tally,
        {
          method,
          path,
          headers: {
            authorization: h.admin,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
          body,
        },
        'example',
      );

    describe('examples', () => {
      it('per_page=-1 and page=1e309 are 400 INVALID_PARAMETER', async () => {
        for (const q of ['per_page=-1', 'page=1e309', 'page=0', 'per_page=1e309', 'page=NaN']) {
          const res = await send('get', `/tasker/tasks?${q}`);
          expect(res.status, q).to.equal(400);
          expect(codeOf(res.body), q).to.equal('INVALID_PARAMETER');
        }
      });

      it('a context nested thousands deep is refused, not a stack overflow', async () => {
        for (const depth of [5000, 50_000]) {
          const res = await send(
            'post',
            '/tasker/tasks',
            `{"namespace":"alpha","name":"job","context":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
          );
          expect(res.status, `depth ${depth}`).to.be.within(400, 499);
        }
      });

      it('results nested thousands deep are refused on PATCH', async () => {
        const res = await send(
          'patch',
          `/tasker/tasks/${h.ids.alpha[5]}/steps/a`,
          `{"results":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
        );
        expect(res.status).to.be.within(400, 499);
      });

      it('NUL characters anywhere are refused or not found, never a 500', async () => {
        const id = h.ids.alpha[4];
        await send('get', '/tasker/tasks/%00');
        await send('get', `/tasker/tasks/${id}/steps/%00`);
        await send('patch', `/tasker/tasks/${id}/steps/%00`, '{"results":1}');
        await send('patch', `/tasker/tasks/${id}%00/steps/a`, '{"results":1}');
        await send('get', '/tasker/tasks?namespace=%00&name=a%00&version=%00');
        await send('get', '/tasker/handlers/%00/%00?version=%00');
        const res = await send(
          'post',
          '/tasker/tasks',
          '{"namespace":"alpha","name":"job","idempotency_key":"k\\u0000"}',
        );
        expect(res.status).to.equal(422);
      });

      it('a malformed percent-encoding in the path is 400, not 500', async () => {
        const res = await send('get', '/tasker/tasks/%E0%A4%A');
        expect(res.status).to.equal(400);
      });

      it('a body over the limit is 413 and nothing is stored', async () => {
        const res = await send(
          'post',
          '/tasker/tasks',
          JSON.stringify({
            namespace: 'alpha',
            name: 'job',
            context: { s: 'x'.repeat(2_000_000) },
          }),
        );
        expect(res.status).to.equal(413);
      });

      it('duplicate keys: the last one wins, as JSON.parse does, and the request is judged as a whole', async () => {
        const res = await send(
          'post',
          '/tasker/tasks',
          '{"namespace":"beta","name":"job","version":"1.0.0","namespace":"alpha","version":"2.0.0"}',
        );
        expect(res.status).to.equal(201);
        expect((res.body as { full_name: string }).full_name).to.equal('alpha.job@2.0.0');
      });

      it('__proto__ keys neither pollute nor break anything', async () => {
        const res = await send(
          'post',
          '/tasker/tasks',
          '{"namespace":"alpha","name":"job","context":{"__proto__":{"polluted":1},"n":1}}',
        );
        expect(res.status).to.equal(201);
        expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      });
    });

    describe('properties (fast-check)', () => {
      it('POST /tasks: random JSON, wrong types, huge numbers, deep nesting, long and unicode strings, duplicate keys', async () => {
        await fuzzCreate(h, runs, tally);
      });

      it('every path parameter: SQL, traversal, unicode, bad percent-encodings, real and unknown ids', async () => {
        await fuzzPaths(h, runs, tally);
      });

      it('every query string: unknown keys, repeats, out-of-range numbers, odd syntax', async () => {
        await fuzzQueries(h, runs, tally);
      });

      it('authorization matches the model: a permission per route, namespace scope enforced', async () => {
        await fuzzAuthorization(h, runs, tally);
      });
    });

    describe('authentication and authorization', () => {
      it('covers every secured operation the API documents', async () => {
        const covered = SECURED_OPS.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort();
        expect(covered).to.include.members(await documentedSecuredOps(h));
        expect(covered).to.include.members(routeTableOps());
      });

      it('JWT attacks are 401 on every secured operation: alg none, HS/RS confusion, expired, not yet valid, wrong issuer or audience, tampered, and tokens outside the header', async () => {
        const checked = await jwtAttacks(h, tally);
        expect(checked).to.be.greaterThan(100);
      });

      it('every route is denied without its permission, even with all the others', async () => {
        for (const op of SECURED_OPS) {
          const others = Object.values(PERMISSIONS).filter((p) => p !== op.permission);
          const token = h.sign({ permissions: others });
          const { path, body } = op.build(h, 'alpha');
          const res = await send(op.method as 'get', path, body, {
            authorization: `Bearer ${token}`,
          });
          expect(res.status, `${op.method} ${op.path}`).to.equal(403);
          expect(codeOf(res.body)).to.equal('AUTHORIZATION_FAILED');
        }
      });

      it('a user scoped to alpha can neither read nor create in beta', async () => {
        const token = `Bearer ${h.sign({ permissions: ['tasker.*'], namespaces: ['alpha'] })}`;
        for (const op of SECURED_OPS) {
          const { path, body } = op.build(h, 'beta');
          const res = await send(op.method as 'get', path, body, { authorization: token });
          expect(res.status, `${op.method} ${op.path}`).to.equal(403);
        }
        const own = await send('get', '/tasker/tasks?namespace=alpha&per_page=100', undefined, {
          authorization: token,
        });
        expect(own.status).to.equal(200);
        const namespaces = (own.body as { tasks: { namespace: string }[] }).tasks.map(
          (t) => t.namespace,
        );
        expect(namespaces).to.not.include('beta');
      });
    });
  });
}
