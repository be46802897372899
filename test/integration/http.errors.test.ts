/**
 * The HTTP error contract (issue "Foundation", item 6): every error is the seed's envelope
 * `{"error": {"type", "message", "code", "details"?}}` with the right status, bodies are
 * checked for JSON, size and media type, and an unexpected failure is a 500 that leaks nothing.
 */
import { expect } from 'chai';
import express from 'express';
import request, { type Response } from 'supertest';
import { ERROR_CODES, TABLES, type ErrorCode, type Logger } from '../../lib';
import { silentLogger } from '../../lib/observability/logger';
import { registerDemoHandlers } from '../../examples/demo/handlers';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, type Harness } from '../helpers/tasker';

process.env.TASKER_DEMO_SPEED = '1000';

const SEED_BODY = {
  name: 'process_payment',
  namespace: 'payments',
  version: '2.1.0',
  context: { payment_id: 12345, amount: 99.99, currency: 'USD', customer_id: 67890 },
};

/** Asserts the seed's error envelope, exactly: `{ error: { type, message, code, details? } }`. */
function expectError(res: Response, status: number, code: ErrorCode, message?: string): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.type).to.equal('application/json');
  expect(Object.keys(res.body)).to.deep.equal(['error']);
  const keys = Object.keys(res.body.error);
  expect(keys).to.include.members(['type', 'message', 'code']);
  expect(['type', 'message', 'code', 'details']).to.include.members(keys);
  for (const k of ['type', 'message', 'code']) expect(res.body.error[k]).to.be.a('string');
  if ('details' in res.body.error) expect(res.body.error.details).to.be.an('object');
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.type).to.equal(ERROR_CODES[code].type);
  expect(res.text).not.to.match(/\bat .+\.(ts|js):\d+/); // no stack frames
  expect(res.text).not.to.include('"stack"');
  if (message !== undefined) expect(res.body.error.message).to.equal(message);
}

/** A logger that keeps what it is given, to check that a 500's cause is logged, not returned. */
function recordingLogger(): Logger & { errors: unknown[] } {
  const errors: unknown[] = [];
  const logger = {
    ...silentLogger,
    errors,
    error: (obj: unknown) => void errors.push(obj),
    child: () => logger,
  };
  return logger;
}

const count = async (h: Harness) =>
  (await request(h.app).get('/tasker/tasks').expect(200)).body.pagination.total_count as number;

forEachDatabase((db) => {
  describe('HTTP: errors', () => {
    describe('request bodies', () => {
      let h: Harness;
      beforeEach(async () => {
        h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
      });

      it('answers 400 INVALID_JSON for malformed JSON', async () => {
        for (const raw of ['{"name": "process_payment",', '{name: 1}', '"just a string"', '']) {
          const res = await request(h.app)
            .post('/tasker/tasks')
            .set('Content-Type', 'application/json')
            .send(raw === '' ? '   ' : raw);
          expectError(res, 400, 'INVALID_JSON');
        }
        expect(await count(h)).to.equal(0);
      });

      it('answers 422 when the body is missing altogether', async () => {
        const res = await request(h.app).post('/tasker/tasks');
        expectError(res, 422, 'INVALID_TASK_CONFIG');
        expect(res.body.error.details).to.deep.equal({ body: ['must be a JSON object'] });
      });

      it('answers 413 PAYLOAD_TOO_LARGE above the default 1 MB limit', async () => {
        const big = { ...SEED_BODY, context: { payment_id: 1, blob: 'x'.repeat(1024 * 1024) } };
        expectError(await request(h.app).post('/tasker/tasks').send(big), 413, 'PAYLOAD_TOO_LARGE');
        // Just under the limit is accepted.
        const fits = { ...SEED_BODY, context: { payment_id: 1, blob: 'x'.repeat(1000 * 1000) } };
        await request(h.app).post('/tasker/tasks').send(fits).expect(201);
        expect(await count(h)).to.equal(1);
      });

      it('answers 415 UNSUPPORTED_MEDIA_TYPE for a body that is not JSON', async () => {
        const plain = await request(h.app)
          .post('/tasker/tasks')
          .set('Content-Type', 'text/plain')
          .send(JSON.stringify(SEED_BODY));
        expectError(plain, 415, 'UNSUPPORTED_MEDIA_TYPE');
        const form = await request(h.app)
          .post('/tasker/tasks')
          .type('form')
          .send({ name: 'process_payment', namespace: 'payments' });
        expectError(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
        const latin1 = await request(h.app)
          .post('/tasker/tasks')
          .set('Content-Type', 'application/json; charset=iso-8859-1')
          .send(JSON.stringify(SEED_BODY));
        expectError(latin1, 415, 'UNSUPPORTED_MEDIA_TYPE');
        expect(await count(h)).to.equal(0);
      });

      it('answers 4xx, never 500, for undecodable or NUL-bearing URLs (Postgres cannot store NUL)', async () => {
        const created = await request(h.app).post('/tasker/tasks').send(SEED_BODY).expect(201);
        for (const url of ['/tasker/tasks/%E0%A4%A', '/tasker/tasks/%C3%28/steps']) {
          const res = await request(h.app).get(url);
          expectError(res, 400, 'INVALID_PARAMETER', 'Malformed percent-encoding in the URL path');
        }
        expectError(await request(h.app).get('/tasker/tasks/%00'), 404, 'TASK_NOT_FOUND');
        expectError(await request(h.app).delete('/tasker/tasks/a%00b'), 404, 'TASK_NOT_FOUND');
        expectError(await request(h.app).get('/tasker/tasks/%00/steps'), 404, 'TASK_NOT_FOUND');
        for (const qs of ['namespace=%00', 'name=a%00', 'version=1.0.0%00']) {
          const res = await request(h.app).get(`/tasker/tasks?${qs}`);
          expectError(res, 400, 'INVALID_PARAMETER');
          expect(Object.values(res.body.error.details)).to.deep.equal([
            ['must not contain NUL characters'],
          ]);
        }
        await request(h.app).get(`/tasker/tasks/${created.body.id}`).expect(200);
      });

      it('every error the API gives is the seed envelope', async () => {
        const cases: Array<[request.Test, number, ErrorCode]> = [
          [request(h.app).get('/tasker/handlers/nope'), 404, 'NAMESPACE_NOT_FOUND'],
          [request(h.app).get('/tasker/handlers/payments/nope'), 404, 'HANDLER_NOT_FOUND'],
          [request(h.app).get('/tasker/handlers/payments/x?version=%%'), 400, 'INVALID_PARAMETER'],
          [request(h.app).get('/tasker/tasks?per_page=abc'), 400, 'INVALID_PARAMETER'],
          [request(h.app).get('/tasker/tasks/nope'), 404, 'TASK_NOT_FOUND'],
          [request(h.app).delete('/tasker/tasks/nope'), 404, 'TASK_NOT_FOUND'],
          [request(h.app).post('/tasker/tasks').send({}), 422, 'INVALID_TASK_CONFIG'],
          [
            request(h.app)
              .post('/tasker/tasks')
              .send({ ...SEED_BODY, context: {} }),
            422,
            'INVALID_TASK_CONTEXT',
          ],
          [request(h.app).put('/tasker/tasks'), 404, 'ROUTE_NOT_FOUND'],
        ];
        for (const [req, status, code] of cases) expectError(await req, status, code);
      });
    });

    it('answers 413 above a configured bodyLimit of 1000 bytes', async () => {
      const h = await makeHarness(
        db,
        { worker: { enabled: false }, bodyLimit: 1000 },
        registerDemoHandlers,
      );
      const body = (n: number) => ({
        ...SEED_BODY,
        context: { payment_id: 1, note: 'x'.repeat(n) },
      });
      const over = await request(h.app).post('/tasker/tasks').send(body(1000));
      expectError(over, 413, 'PAYLOAD_TOO_LARGE');
      await request(h.app).post('/tasker/tasks').send(body(500)).expect(201);
      expect(await count(h)).to.equal(1);
    });

    it('answers 500 INTERNAL_ERROR without internals when an authorizer throws', async () => {
      const logger = recordingLogger();
      const h = await makeHarness(
        db,
        {
          logger,
          worker: { enabled: false },
          auth: {
            authorizationEnabled: true,
            authorizer: () => {
              throw new Error('policy service exploded at /srv/policy.js:12 with secret s3cr3t');
            },
          },
        },
        registerDemoHandlers,
      );
      for (const res of [
        await request(h.app).get('/tasker/handlers'),
        await request(h.app).post('/tasker/tasks').send(SEED_BODY),
      ]) {
        expectError(res, 500, 'INTERNAL_ERROR', 'Internal server error');
        expect(res.body.error).not.to.have.property('details');
        expect(res.text).not.to.include('s3cr3t');
        expect(res.text).not.to.include('policy');
      }
      expect(logger.errors).to.have.lengthOf(2);
      expect(String((logger.errors[0] as { err: Error }).err.message)).to.include('s3cr3t');
    });

    it('answers 500 INTERNAL_ERROR without SQL when the database fails a query', async () => {
      const logger = recordingLogger();
      const h = await makeHarness(db, { logger, worker: { enabled: false } }, registerDemoHandlers);
      const created = await request(h.app).post('/tasker/tasks').send(SEED_BODY).expect(201);
      // Sabotage the real database: the tasks table goes away under the running API.
      const { knex } = h.tasker.storage;
      await knex.schema.renameTable(TABLES.tasks, 'tasker_tasks_gone');
      for (const res of [
        await request(h.app).get('/tasker/tasks'),
        await request(h.app).get(`/tasker/tasks/${created.body.id}`),
      ]) {
        expectError(res, 500, 'INTERNAL_ERROR', 'Internal server error');
        expect(res.text).not.to.include(TABLES.tasks);
        expect(res.text.toLowerCase()).not.to.include('select');
      }
      expect(logger.errors.length).to.be.at.least(2);
      await knex.schema.renameTable('tasker_tasks_gone', TABLES.tasks);
      await request(h.app).get(`/tasker/tasks/${created.body.id}`).expect(200);
    });

    it('answers 503 in the envelope once the Tasker is closed', async () => {
      const h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
      await h.close();
      for (const res of [
        await request(h.app).get('/tasker/tasks'),
        await request(h.app).post('/tasker/tasks').send(SEED_BODY),
      ]) {
        expect(res.status).to.equal(503);
        expect(res.body.error.code).to.be.oneOf(['STORAGE_UNAVAILABLE', 'TASKER_CLOSED']);
        expectError(res, 503, res.body.error.code);
      }
    });

    it('passes unknown paths under the mount to the host, 404 envelope for its own prefixes', async () => {
      const h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
      const app = express();
      app.use('/tasker', h.tasker);
      app.get('/tasker/nope/x', (_req, res) => {
        res.status(200).json({ from: 'host route' });
      });
      app.use((_req, res) => {
        res.status(418).json({ from: 'host fallback' });
      });

      const mine = await request(app).get('/tasker/nope/x').expect(200);
      expect(mine.body).to.deep.equal({ from: 'host route' });
      expect((await request(app).get('/tasker/elsewhere')).body).to.deep.equal({
        from: 'host fallback',
      });
      expect((await request(app).get('/other')).status).to.equal(418);

      const deep = await request(app).get('/tasker/tasks/x/y/z');
      expectError(deep, 404, 'ROUTE_NOT_FOUND');
      expect(deep.body.error.message).to.include('/tasker/tasks/x/y/z');
      expectError(await request(app).get('/tasker/handlers/a/b/c'), 404, 'ROUTE_NOT_FOUND');
      expectError(await request(app).put('/tasker/tasks'), 404, 'ROUTE_NOT_FOUND');
      expectError(await request(app).delete('/tasker/handlers'), 404, 'ROUTE_NOT_FOUND');
    });
  });
});
