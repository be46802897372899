/**
 * Authentication and authorization over HTTP (issue "Foundation", item 7): the default JWT
 * authenticator, permission checks through the default and a custom authorizer, a host's own
 * authenticator class, and the routes that never need credentials.
 */
import { expect } from 'chai';
import type { Request } from 'express';
import jwt from 'jsonwebtoken';
import request, { type Response } from 'supertest';
import {
  ERROR_CODES,
  JwtAuthenticator,
  type Authenticator,
  type Authorizer,
  type ErrorCode,
  type TaskerUser,
} from '../../lib';
import type { TaskerConfig } from '../../lib/config';
import { registerDemoHandlers } from '../../examples/demo/handlers';
import { forEachDatabase, type TestDatabase } from '../helpers/databases';
import { makeHarness, type Harness } from '../helpers/tasker';

process.env.TASKER_DEMO_SPEED = '1000';

const SECRET = 'an-hs256-secret-for-the-http-auth-tests';
const SEED_BODY = {
  name: 'process_payment',
  namespace: 'payments',
  version: '2.1.0',
  context: { payment_id: 12345, amount: 99.99, currency: 'USD', customer_id: 67890 },
};
const INVENTORY_BODY = { namespace: 'inventory', name: 'update_stock', context: {} };

/** Asserts the seed's error envelope, exactly: `{ error: { type, message, code, details? } }`. */
function expectError(res: Response, status: number, code: ErrorCode, message?: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(Object.keys(res.body)).to.deep.equal(['error']);
  const keys = Object.keys(res.body.error);
  expect(keys).to.include.members(['type', 'message', 'code']);
  expect(['type', 'message', 'code', 'details']).to.include.members(keys);
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.type).to.equal(ERROR_CODES[code].type);
  if (message !== undefined) expect(res.body.error.message).to.equal(message);
}

const token = (claims: object, options: jwt.SignOptions = { expiresIn: 300 }) =>
  jwt.sign(claims, SECRET, { algorithm: 'HS256', ...options });
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });
const NO_TOKEN = 'Invalid or expired authentication token';

const jwtHarness = (db: TestDatabase, auth: TaskerConfig['auth'] = {}) =>
  makeHarness(
    db,
    {
      worker: { enabled: false },
      auth: { authenticator: JwtAuthenticator, authenticatorOptions: { secret: SECRET }, ...auth },
    },
    registerDemoHandlers,
  );

/** A host's own authenticator: looks the `X-Api-Key` header up in the keys it is given. */
class ApiKeyAuthenticator implements Authenticator {
  constructor(private readonly options: { keys: Record<string, TaskerUser> }) {}

  authenticate(req: Request): TaskerUser | null {
    const key = req.get('x-api-key');
    return (key !== undefined && this.options.keys[key]) || null;
  }
}

forEachDatabase((db) => {
  describe('HTTP: authentication and authorization', () => {
    describe('JwtAuthenticator', () => {
      let h: Harness;
      beforeEach(async () => {
        h = await jwtHarness(db);
      });

      it('answers 401 AUTHENTICATION_FAILED without a token, on every API route', async () => {
        for (const res of [
          await request(h.app).get('/tasker/handlers'),
          await request(h.app).get('/tasker/handlers/payments'),
          await request(h.app).get('/tasker/handlers/payments/process_payment'),
          await request(h.app).get('/tasker/tasks'),
          await request(h.app).post('/tasker/tasks').send(SEED_BODY),
          await request(h.app).get('/tasker/tasks/00000000-0000-4000-8000-000000000000'),
        ]) {
          expectError(res, 401, 'AUTHENTICATION_FAILED', NO_TOKEN);
        }
        const ok = await request(h.app)
          .get('/tasker/tasks')
          .set(bearer(token({})))
          .expect(200);
        expect(ok.body.pagination.total_count).to.equal(0);
      });

      it('answers 401 for expired, forged, malformed or misplaced tokens', async () => {
        const expired = token({ sub: 'u', exp: Math.floor(Date.now() / 1000) - 60 }, {});
        const forged = jwt.sign({ sub: 'u' }, 'another-secret', { algorithm: 'HS256' });
        const unsigned = jwt.sign({ sub: 'u' }, '', { algorithm: 'none' });
        for (const headers of [
          bearer(expired),
          bearer(forged),
          bearer(unsigned),
          bearer('not-a-jwt'),
          { Authorization: token({ sub: 'u' }) }, // no scheme
          { Authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
        ]) {
          const res = await request(h.app).get('/tasker/handlers').set(headers);
          expectError(res, 401, 'AUTHENTICATION_FAILED', NO_TOKEN);
        }
        // A valid token in the query string is ignored (it would end up in access logs).
        const valid = token({ sub: 'u' });
        for (const param of ['token', 'access_token', 'jwt', 'authorization']) {
          expectError(
            await request(h.app)
              .get('/tasker/handlers')
              .query({ [param]: valid }),
            401,
            'AUTHENTICATION_FAILED',
          );
        }
        expect(
          (await request(h.app).get('/tasker/handlers').set(bearer(valid)).expect(200)).body
            .namespaces,
        ).to.have.lengthOf(3);
      });

      it('answers 401 before looking at the body of an anonymous request', async () => {
        const anonymous = [
          request(h.app).post('/tasker/tasks').set('Content-Type', 'application/json').send('{bad'),
          request(h.app).post('/tasker/tasks').set('Content-Type', 'text/plain').send('hello'),
          request(h.app)
            .post('/tasker/tasks')
            .send({ ...SEED_BODY, context: { blob: 'x'.repeat(2 * 1024 * 1024) } }),
          request(h.app).post('/tasker/tasks').send({ name: 'process_payment' }),
        ];
        for (const req of anonymous) {
          expectError(await req, 401, 'AUTHENTICATION_FAILED', NO_TOKEN);
        }
        // With a token, the same bodies get their own errors.
        const t = bearer(token({ sub: 'u' }));
        const bad = await request(h.app)
          .post('/tasker/tasks')
          .set(t)
          .set('Content-Type', 'application/json')
          .send('{bad');
        expectError(bad, 400, 'INVALID_JSON');
      });

      it('lets a valid token create and read tasks; a rejected request stores nothing', async () => {
        const t = bearer(token({ sub: 'alice' }));
        await request(h.app).post('/tasker/tasks').send(SEED_BODY).expect(401);
        const created = await request(h.app).post('/tasker/tasks').set(t).send(SEED_BODY);
        expect(created.status).to.equal(201);
        await request(h.app).get(`/tasker/tasks/${created.body.id}`).set(t).expect(200);
        const list = await request(h.app).get('/tasker/tasks').set(t).expect(200);
        expect(list.body.pagination.total_count).to.equal(1);
      });

      it('serves /api-docs.json and Swagger UI without credentials', async () => {
        const doc = await request(h.app).get('/tasker/api-docs.json').expect(200);
        expect(doc.body.openapi).to.equal('3.1.0');
        // The document says the API routes want a bearer token.
        expect(doc.body.paths['/tasks'].post.security).to.deep.equal([{ bearerAuth: [] }]);
        const ui = await request(h.app).get('/tasker/api-docs/').expect(200);
        expect(ui.text).to.include('swagger-ui');
        // Every operation the document marks as open (docs, health) answers without a token.
        const open = Object.entries(doc.body.paths as Record<string, Record<string, any>>)
          .filter(([path, ops]) => ops.get && ops.get.security?.length === 0 && !path.includes('{'))
          .map(([path]) => path);
        expect(open).to.include.members(['/api-docs.json', '/api-docs']);
        for (const path of open) {
          const res = await request(h.app).get(`/tasker${path}`).redirects(1);
          expect(res.status, `GET ${path}`).to.equal(200);
        }
      });
    });

    describe('with authorizationEnabled and the default authorizer', () => {
      let h: Harness;
      beforeEach(async () => {
        h = await jwtHarness(db, { authorizationEnabled: true });
      });

      it("grants 'tasker.task:*' the task routes but not GET /handlers (403)", async () => {
        const t = bearer(token({ sub: 'ops', permissions: ['tasker.task:*'] }));
        const created = await request(h.app).post('/tasker/tasks').set(t).send(SEED_BODY);
        expect(created.status).to.equal(201);
        await request(h.app).get('/tasker/tasks').set(t).expect(200);
        await request(h.app).get(`/tasker/tasks/${created.body.id}`).set(t).expect(200);
        expectError(
          await request(h.app).get('/tasker/handlers').set(t),
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.handler:index',
        );
        expectError(
          await request(h.app).get('/tasker/handlers/payments/process_payment').set(t),
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.handler:show',
        );
      });

      it("grants everything to 'tasker.*' and nothing without a permissions claim", async () => {
        const all = bearer(token({ sub: 'admin', permissions: ['tasker.*'] }));
        await request(h.app).get('/tasker/handlers').set(all).expect(200);
        await request(h.app).get('/tasker/handlers/payments').set(all).expect(200);
        await request(h.app).get('/tasker/handlers/payments/process_payment').set(all).expect(200);
        const created = await request(h.app).post('/tasker/tasks').set(all).send(SEED_BODY);
        expect(created.status).to.equal(201);
        await request(h.app).get(`/tasker/tasks/${created.body.id}`).set(all).expect(200);

        const none = bearer(token({ sub: 'nobody' }));
        const denied = await request(h.app).post('/tasker/tasks').set(none).send(SEED_BODY);
        expectError(
          denied,
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.task:create',
        );
        const readOnly = bearer(token({ sub: 'ro', permissions: ['tasker.task:index'] }));
        await request(h.app).get('/tasker/tasks').set(readOnly).expect(200);
        expectError(
          await request(h.app).post('/tasker/tasks').set(readOnly).send(SEED_BODY),
          403,
          'AUTHORIZATION_FAILED',
        );
        const list = await request(h.app).get('/tasker/tasks').set(all).expect(200);
        expect(list.body.pagination.total_count).to.equal(1);
        // Authentication still comes first: no token is a 401, not a 403.
        expectError(await request(h.app).get('/tasker/handlers'), 401, 'AUTHENTICATION_FAILED');
      });
    });

    describe('a custom authorizer scoping users to namespaces', () => {
      let h: Harness;
      const seen: Array<{ permission: string; namespace?: string }> = [];
      const scoped: Authorizer = (user, permission, resource) => {
        seen.push({ permission, namespace: resource.namespace });
        return resource.namespace !== undefined && resource.namespace === user.namespace;
      };
      beforeEach(async () => {
        seen.length = 0;
        h = await jwtHarness(db, { authorizationEnabled: true, authorizer: scoped });
      });

      it("lets a 'payments' user create and read payments tasks only", async () => {
        const t = bearer(token({ sub: 'pat', namespace: 'payments' }));
        const mine = await request(h.app).post('/tasker/tasks').set(t).send(SEED_BODY);
        expect(mine.status).to.equal(201);
        await request(h.app).get(`/tasker/tasks/${mine.body.id}`).set(t).expect(200);
        await request(h.app).get('/tasker/tasks?namespace=payments').set(t).expect(200);

        expectError(
          await request(h.app).post('/tasker/tasks').set(t).send(INVENTORY_BODY),
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.task:create',
        );
        const theirs = await h.tasker.createTask(INVENTORY_BODY);
        expectError(
          await request(h.app).get(`/tasker/tasks/${theirs.id}`).set(t),
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.task:show',
        );
        expectError(
          await request(h.app).get('/tasker/tasks?namespace=inventory').set(t),
          403,
          'AUTHORIZATION_FAILED',
        );
        // Listing every namespace is not scoped to one, so this authorizer refuses it.
        expectError(await request(h.app).get('/tasker/tasks').set(t), 403, 'AUTHORIZATION_FAILED');
        await request(h.app).get('/tasker/handlers/payments').set(t).expect(200);
        expectError(
          await request(h.app).get('/tasker/handlers/inventory').set(t),
          403,
          'AUTHORIZATION_FAILED',
        );

        const inventoryUser = bearer(token({ sub: 'ivy', namespace: 'inventory' }));
        await request(h.app).get(`/tasker/tasks/${theirs.id}`).set(inventoryUser).expect(200);
        const list = await request(h.app)
          .get('/tasker/tasks?namespace=inventory')
          .set(inventoryUser)
          .expect(200);
        expect(list.body.tasks.map((x: any) => x.id)).to.deep.equal([theirs.id]);

        expect(seen).to.deep.include({ permission: 'tasker.task:create', namespace: 'inventory' });
        expect(seen).to.deep.include({ permission: 'tasker.task:show', namespace: 'inventory' });
      });
    });

    describe('a custom authenticator class', () => {
      let h: Harness;
      beforeEach(async () => {
        h = await makeHarness(
          db,
          {
            worker: { enabled: false },
            auth: {
              authenticator: ApiKeyAuthenticator,
              authenticatorOptions: {
                keys: {
                  'key-admin': { sub: 'admin', permissions: ['tasker.*'] },
                  'key-reader': { sub: 'reader', permissions: ['tasker.handler:*'] },
                },
              },
              authorizationEnabled: true,
            },
          },
          registerDemoHandlers,
        );
      });

      it('is built with authenticatorOptions and its users go to the authorizer', async () => {
        expectError(await request(h.app).get('/tasker/handlers'), 401, 'AUTHENTICATION_FAILED');
        expectError(
          await request(h.app).get('/tasker/handlers').set('X-Api-Key', 'wrong'),
          401,
          'AUTHENTICATION_FAILED',
          NO_TOKEN,
        );
        // A JWT means nothing to this host.
        expectError(
          await request(h.app)
            .get('/tasker/handlers')
            .set(bearer(token({ permissions: ['*'] }))),
          401,
          'AUTHENTICATION_FAILED',
        );
        await request(h.app).get('/tasker/handlers').set('X-Api-Key', 'key-reader').expect(200);
        expectError(
          await request(h.app).get('/tasker/tasks').set('X-Api-Key', 'key-reader'),
          403,
          'AUTHORIZATION_FAILED',
          'Insufficient permissions for tasker.task:index',
        );
        await request(h.app)
          .post('/tasker/tasks')
          .set('X-Api-Key', 'key-admin')
          .send(SEED_BODY)
          .expect(201);
        // Docs stay open.
        await request(h.app).get('/tasker/api-docs.json').expect(200);
      });
    });
  });
});
