/**
 * Idempotent task creation over HTTP (issue "Foundation", item 5): the `Idempotency-Key` header
 * and the `idempotency_key` body field return the first task on repeat, a reused key with a
 * different request is a 409, and concurrent duplicates create exactly one task.
 */
import { expect } from 'chai';
import request, { type Response } from 'supertest';
import { ERROR_CODES, type ErrorCode } from '../../lib';
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
function expectError(res: Response, status: number, code: ErrorCode): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(Object.keys(res.body)).to.deep.equal(['error']);
  const keys = Object.keys(res.body.error);
  expect(keys).to.include.members(['type', 'message', 'code']);
  expect(['type', 'message', 'code', 'details']).to.include.members(keys);
  expect(res.body.error.code).to.equal(code);
  expect(res.body.error.type).to.equal(ERROR_CODES[code].type);
}

forEachDatabase((db) => {
  describe('HTTP: idempotent POST /tasks', () => {
    let h: Harness;
    const post = (body: object, key?: string) => {
      const req = request(h.app).post('/tasker/tasks');
      if (key !== undefined) req.set('Idempotency-Key', key);
      return req.send(body);
    };
    const tasks = async () => (await request(h.app).get('/tasker/tasks').expect(200)).body;

    beforeEach(async () => {
      h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
    });

    it('returns the first task (200) when the Idempotency-Key header repeats', async () => {
      const first = await post(SEED_BODY, 'order-42-payment').expect(201);
      const again = await post(SEED_BODY, 'order-42-payment').expect(200);
      expect(again.body.id).to.equal(first.body.id);
      expect(again.body).to.deep.equal(first.body);
      // Key order and whitespace in the JSON do not make it a different request.
      const reordered = {
        context: { customer_id: 67890, currency: 'USD', amount: 99.99, payment_id: 12345 },
        version: '2.1.0',
        namespace: 'payments',
        name: 'process_payment',
      };
      expect((await post(reordered, 'order-42-payment').expect(200)).body.id).to.equal(
        first.body.id,
      );
      const list = await tasks();
      expect(list.pagination.total_count).to.equal(1);
      const steps = (await request(h.app).get(`/tasker/tasks/${first.body.id}`)).body.steps;
      expect(steps).to.have.lengthOf(4);
      // Another key, or none, is another task.
      await post(SEED_BODY, 'order-43-payment').expect(201);
      await post(SEED_BODY).expect(201);
      await post(SEED_BODY).expect(201);
      expect((await tasks()).pagination.total_count).to.equal(4);
    });

    it('honours the idempotency_key body field, interchangeably with the header', async () => {
      const first = await post({ ...SEED_BODY, idempotency_key: 'body-key' }).expect(201);
      const again = await post({ ...SEED_BODY, idempotency_key: 'body-key' }).expect(200);
      expect(again.body.id).to.equal(first.body.id);
      // The same key given as the header names the same request.
      expect((await post(SEED_BODY, 'body-key').expect(200)).body.id).to.equal(first.body.id);
      // Header and body agreeing is fine; disagreeing is a bad request.
      await post({ ...SEED_BODY, idempotency_key: 'body-key' }, 'body-key').expect(200);
      const clash = await post({ ...SEED_BODY, idempotency_key: 'one' }, 'two');
      expectError(clash, 422, 'INVALID_TASK_CONFIG');
      expect(clash.body.error.details).to.have.property('idempotency_key');
      expect((await tasks()).pagination.total_count).to.equal(1);
    });

    it('answers 409 IDEMPOTENCY_CONFLICT when a key is reused with a different request', async () => {
      const first = await post(SEED_BODY, 'k-conflict').expect(201);
      for (const other of [
        { ...SEED_BODY, context: { ...SEED_BODY.context, amount: 100 } },
        { ...SEED_BODY, version: '1.0.0' },
        { ...SEED_BODY, bypass_steps: ['send_confirmation'] },
        { namespace: 'inventory', name: 'update_stock' },
      ]) {
        const res = await post(other, 'k-conflict');
        expectError(res, 409, 'IDEMPOTENCY_CONFLICT');
        expect(res.body.error.message).to.include('k-conflict');
      }
      // The original request still replays.
      expect((await post(SEED_BODY, 'k-conflict').expect(200)).body.id).to.equal(first.body.id);
      expect((await tasks()).pagination.total_count).to.equal(1);
    });

    it('does not spend a key on a rejected request', async () => {
      expectError(
        await post({ ...SEED_BODY, context: {} }, 'k-retry'),
        422,
        'INVALID_TASK_CONTEXT',
      );
      expectError(await post({ ...SEED_BODY, name: 'nope' }, 'k-retry'), 404, 'HANDLER_NOT_FOUND');
      expect((await tasks()).pagination.total_count).to.equal(0);
      await post(SEED_BODY, 'k-retry').expect(201);
    });

    it('rejects an empty, over-long or NUL-bearing key with 422', async () => {
      expectError(await post(SEED_BODY, ''), 422, 'INVALID_TASK_CONFIG');
      expectError(await post(SEED_BODY, 'k'.repeat(256)), 422, 'INVALID_TASK_CONFIG');
      expectError(
        await post({ ...SEED_BODY, idempotency_key: 'k'.repeat(256) }),
        422,
        'INVALID_TASK_CONFIG',
      );
      // Postgres text cannot hold NUL: refused on both databases alike, not a 500.
      const nul = await post({ ...SEED_BODY, idempotency_key: 'a\u0000b' });
      expectError(nul, 422, 'INVALID_TASK_CONFIG');
      expect(nul.body.error.details).to.deep.equal({
        idempotency_key: ['must not contain NUL characters'],
      });
      await post(SEED_BODY, 'k'.repeat(255)).expect(201);
      expect((await tasks()).pagination.total_count).to.equal(1);
    });

    it('20 concurrent POSTs with one key: exactly one 201, the rest 200, one task stored', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => post(SEED_BODY, 'burst-key')),
      );
      const statuses = results.map((r) => r.status);
      expect(
        statuses.filter((s) => s === 201),
        JSON.stringify(statuses),
      ).to.have.lengthOf(1);
      expect(statuses.filter((s) => s === 200)).to.have.lengthOf(19);
      const ids = new Set(results.map((r) => r.body.id));
      expect(ids.size).to.equal(1);
      const list = await tasks();
      expect(list.pagination.total_count).to.equal(1);
      expect(list.tasks[0].id).to.equal([...ids][0]);
      const show = await request(h.app).get(`/tasker/tasks/${list.tasks[0].id}`).expect(200);
      expect(show.body.steps.map((s: any) => s.name)).to.deep.equal([
        'validate_payment',
        'charge_card',
        'update_order',
        'send_confirmation',
      ]);
    });

    it('concurrent POSTs with one key but different bodies: one 201, the others 409', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          post({ ...SEED_BODY, context: { payment_id: i } }, 'burst-conflict'),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).to.deep.equal([201, ...Array(9).fill(409)]);
      expect((await tasks()).pagination.total_count).to.equal(1);
    });
  });
});
