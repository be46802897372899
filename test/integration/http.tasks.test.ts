/**
 * Task management over HTTP (issue "Foundation", item 5): POST /tasks, GET /tasks with filters
 * and pagination, GET /tasks/{id} with its steps and dependency analysis.
 */
import { expect } from 'chai';
import request, { type Response } from 'supertest';
import { ERROR_CODES, type ErrorCode } from '../../lib';
import { registerDemoHandlers } from '../../examples/demo/handlers';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitFor, type Harness } from '../helpers/tasker';

process.env.TASKER_DEMO_SPEED = '1000';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const SEED_BODY = {
  name: 'process_payment',
  namespace: 'payments',
  version: '2.1.0',
  context: { payment_id: 12345, amount: 99.99, currency: 'USD', customer_id: 67890 },
};
const PAYMENT_STEPS = ['validate_payment', 'charge_card', 'update_order', 'send_confirmation'];

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

forEachDatabase((db) => {
  describe('HTTP: tasks', () => {
    let h: Harness;
    const post = (body: unknown) =>
      request(h.app)
        .post('/tasker/tasks')
        .send(body as object);
    const count = async (query: Record<string, string> = {}) =>
      (await request(h.app).get('/tasker/tasks').query(query).expect(200)).body.pagination
        .total_count as number;

    describe('with workers disabled', () => {
      beforeEach(async () => {
        h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
      });

      it('POST /tasks creates the seed task: 201, seed fields, pending, all steps written', async () => {
        const res = await post(SEED_BODY).expect(201);
        expect(res.body).to.include({
          name: 'process_payment',
          namespace: 'payments',
          version: '2.1.0',
          full_name: 'payments.process_payment@2.1.0',
          status: 'pending',
        });
        expect(res.body.id).to.match(UUID);
        expect(res.body.context).to.deep.equal(SEED_BODY.context);
        expect(res.body.created_at).to.match(ISO);
        expect(res.body.updated_at).to.match(ISO);

        const show = await request(h.app).get(`/tasker/tasks/${res.body.id}`).expect(200);
        expect(show.body).to.include({ id: res.body.id, status: 'pending' });
        expect(show.body.context).to.deep.equal(SEED_BODY.context);
        expect(show.body).not.to.have.property('dependencies');
        expect(show.body.steps.map((s: any) => s.name)).to.deep.equal(PAYMENT_STEPS);
        for (const s of show.body.steps) {
          expect(s).to.include({
            status: 'pending',
            results: null,
            attempts: 0,
            started_at: null,
            completed_at: null,
          });
        }
        expect(await count()).to.equal(1);
      });

      it('resolves a version range and pins the task to the exact version', async () => {
        const res = await post({ ...SEED_BODY, version: '^2.0.0' }).expect(201);
        expect(res.body.version).to.equal('2.1.0');
        expect(res.body.full_name).to.equal('payments.process_payment@2.1.0');
        const old = await post({ ...SEED_BODY, version: '~1.0' }).expect(201);
        expect(old.body.full_name).to.equal('payments.process_payment@1.0.0');
        const steps = (await request(h.app).get(`/tasker/tasks/${old.body.id}`)).body.steps;
        expect(steps.map((s: any) => s.name)).to.deep.equal(PAYMENT_STEPS.slice(0, 3));
        const latest = await post({ ...SEED_BODY, version: undefined }).expect(201);
        expect(latest.body.version).to.equal('2.1.0');
        expect(await count({ version: '2.1.0' })).to.equal(2);
        expect(await count({ version: '^2.0.0' })).to.equal(0); // the filter is exact
      });

      it('rejects a bad task config with 422 INVALID_TASK_CONFIG, details per field, nothing stored', async () => {
        const base = await count();
        const missing = await post({ context: {} });
        expectError(missing, 422, 'INVALID_TASK_CONFIG', 'Invalid task configuration');
        expect(missing.body.error.details).to.deep.equal({
          name: ['must be present'],
          namespace: ['must be present'],
        });
        // The seed's own example: no namespace and a version that is not semantic.
        const seedExample = await post({ name: 'process_payment', version: 'banana' });
        expectError(seedExample, 422, 'INVALID_TASK_CONFIG');
        expect(Object.keys(seedExample.body.error.details).sort()).to.deep.equal([
          'namespace',
          'version',
        ]);
        expect(seedExample.body.error.details.namespace).to.deep.equal(['must be present']);
        expect(seedExample.body.error.details.version[0]).to.match(
          /^must be a valid semantic version/,
        );
        const unknown = await post({ ...SEED_BODY, priority: 'high', callback_url: 'x' });
        expectError(unknown, 422, 'INVALID_TASK_CONFIG');
        expect(unknown.body.error.details).to.deep.equal({
          priority: ['is not a permitted field'],
          callback_url: ['is not a permitted field'],
        });
        const empty = await post({ ...SEED_BODY, name: '' });
        expect(empty.body.error.details).to.deep.equal({ name: ['must be present'] });
        const arrayContext = await post({ ...SEED_BODY, context: [1] });
        expectError(arrayContext, 422, 'INVALID_TASK_CONFIG');
        expect(arrayContext.body.error.details).to.have.property('context');
        expectError(await post([SEED_BODY]), 422, 'INVALID_TASK_CONFIG');
        expect(await count()).to.equal(base);
      });

      it('rejects a context failing the contextSchema with 422 INVALID_TASK_CONTEXT naming the path', async () => {
        const missing = await post({ ...SEED_BODY, context: { amount: 5 } });
        expectError(missing, 422, 'INVALID_TASK_CONTEXT');
        expect(missing.body.error.details).to.deep.equal({
          'context.payment_id': ['must be present'],
        });
        const wrongType = await post({ ...SEED_BODY, context: { payment_id: 'abc' } });
        expectError(wrongType, 422, 'INVALID_TASK_CONTEXT');
        expect(Object.keys(wrongType.body.error.details)).to.deep.equal(['context.payment_id']);
        const nested = await post({
          namespace: 'inventory',
          name: 'process_order',
          context: { items: [{ sku: 'A', quantity: 'two' }] },
        });
        expectError(nested, 422, 'INVALID_TASK_CONTEXT');
        expect(Object.keys(nested.body.error.details)).to.deep.equal(['context.items.0.quantity']);
        expect(await count()).to.equal(0);
      });

      it('answers 404 HANDLER_NOT_FOUND for an unknown handler, namespace or version', async () => {
        expectError(
          await post({ name: 'unknown_handler', namespace: 'payments', version: '1.0.0' }),
          404,
          'HANDLER_NOT_FOUND',
          "Handler 'unknown_handler' not found in namespace 'payments' version '1.0.0'",
        );
        expectError(await post({ ...SEED_BODY, namespace: 'nope' }), 404, 'HANDLER_NOT_FOUND');
        expectError(await post({ ...SEED_BODY, version: '^9.0.0' }), 404, 'HANDLER_NOT_FOUND');
        expect(await count()).to.equal(0);
      });

      it('bypass_steps: a non-skippable step is refused (422), a skippable one is skipped', async () => {
        const refused = await post({ ...SEED_BODY, bypass_steps: ['charge_card'] });
        expectError(refused, 422, 'INVALID_TASK_CONFIG');
        expect(refused.body.error.details.bypass_steps).to.have.lengthOf(1);
        expect(refused.body.error.details.bypass_steps[0]).to.include('charge_card');
        expectError(
          await post({ ...SEED_BODY, bypass_steps: ['no_such_step'] }),
          422,
          'INVALID_TASK_CONFIG',
        );
        expect(await count()).to.equal(0);

        const ok = await post({ ...SEED_BODY, bypass_steps: ['send_confirmation'] }).expect(201);
        const show = await request(h.app)
          .get(`/tasker/tasks/${ok.body.id}`)
          .query({ include_dependencies: 'true' })
          .expect(200);
        const status = Object.fromEntries(show.body.steps.map((s: any) => [s.name, s.status]));
        expect(status).to.deep.equal({
          validate_payment: 'pending',
          charge_card: 'pending',
          update_order: 'pending',
          send_confirmation: 'skipped',
        });
        expect(show.body.dependencies.completed_steps).to.deep.equal(['send_confirmation']);
      });

      it('GET /tasks/{id}?include_dependencies=true: root steps ready, the rest blocked', async () => {
        const chain = await post(SEED_BODY).expect(201);
        const res = await request(h.app)
          .get(`/tasker/tasks/${chain.body.id}?include_dependencies=true`)
          .expect(200);
        expect(res.body.dependencies).to.deep.equal({
          analysis: res.body.dependencies.analysis,
          ready_steps: ['validate_payment'],
          blocked_steps: ['charge_card', 'update_order', 'send_confirmation'],
          completed_steps: [],
          in_progress_steps: [],
          failed_steps: [],
        });
        expect(res.body.dependencies.analysis).to.be.a('string').and.not.equal('');

        const diamond = await post({ namespace: 'inventory', name: 'process_order' }).expect(201);
        const d = await request(h.app)
          .get(`/tasker/tasks/${diamond.body.id}`)
          .query({ include_dependencies: true })
          .expect(200);
        expect(d.body.dependencies.ready_steps).to.deep.equal(['validate_order']);
        expect(d.body.dependencies.blocked_steps).to.have.members([
          'reserve_stock',
          'calculate_shipping',
          'create_shipment',
          'notify_warehouse',
        ]);
        const off = await request(h.app)
          .get(`/tasker/tasks/${diamond.body.id}?include_dependencies=false`)
          .expect(200);
        expect(off.body).not.to.have.property('dependencies');
        expectError(
          await request(h.app).get(`/tasker/tasks/${diamond.body.id}?include_dependencies=maybe`),
          400,
          'INVALID_PARAMETER',
        );
      });

      it('GET /tasks/{id} of an unknown id answers 404 TASK_NOT_FOUND', async () => {
        const id = '00000000-0000-4000-8000-000000000000';
        expectError(
          await request(h.app).get(`/tasker/tasks/${id}`),
          404,
          'TASK_NOT_FOUND',
          `Task '${id}' not found`,
        );
        expectError(await request(h.app).get('/tasker/tasks/not-a-uuid'), 404, 'TASK_NOT_FOUND');
      });

      it('GET /tasks filters by namespace, name, version and status, newest first', async () => {
        const made: string[] = [];
        const create = async (body: object) => {
          made.push((await post(body).expect(201)).body.id);
          await new Promise((r) => setTimeout(r, 5)); // distinct created_at for the order check
        };
        await create(SEED_BODY);
        await create(SEED_BODY);
        await create({ ...SEED_BODY, version: '1.0.0' });
        await create({ namespace: 'payments', name: 'refund_payment', context: { payment_id: 1 } });
        await create({ namespace: 'inventory', name: 'update_stock' });
        await request(h.app).delete(`/tasker/tasks/${made[1]}`).expect(200);

        const all = await request(h.app).get('/tasker/tasks').expect(200);
        expect(all.body.tasks.map((t: any) => t.id)).to.deep.equal([...made].reverse());
        expect(all.body.pagination).to.deep.equal({
          current_page: 1,
          per_page: 25,
          total_pages: 1,
          total_count: 5,
        });
        const ids = async (query: Record<string, string>) =>
          (await request(h.app).get('/tasker/tasks').query(query).expect(200)).body.tasks.map(
            (t: any) => t.id,
          );
        expect(await ids({ namespace: 'payments' })).to.deep.equal(made.slice(0, 4).reverse());
        expect(await ids({ name: 'process_payment' })).to.deep.equal(made.slice(0, 3).reverse());
        expect(await ids({ version: '1.0.0' })).to.deep.equal([made[4], made[2]]);
        expect(await ids({ namespace: 'payments', version: '1.0.0' })).to.deep.equal([made[2]]);
        expect(await ids({ status: 'cancelled' })).to.deep.equal([made[1]]);
        expect(await ids({ status: 'pending', namespace: 'payments' })).to.deep.equal([
          made[3],
          made[2],
          made[0],
        ]);
        expect(await ids({ namespace: 'nowhere' })).to.deep.equal([]);
        const task = all.body.tasks.find((t: any) => t.id === made[4]);
        expect(task).to.include({ full_name: 'inventory.update_stock@1.0.0', status: 'pending' });
      });

      it('GET /tasks paginates: default 25, per_page clamped to 100, bad values are 400', async () => {
        for (let i = 0; i < 27; i++) {
          await h.tasker.createTask({ ...SEED_BODY, context: { payment_id: i } });
        }
        const first = await request(h.app).get('/tasker/tasks').expect(200);
        expect(first.body.tasks).to.have.lengthOf(25);
        expect(first.body.pagination).to.deep.equal({
          current_page: 1,
          per_page: 25,
          total_pages: 2,
          total_count: 27,
        });
        const second = await request(h.app).get('/tasker/tasks?page=2').expect(200);
        expect(second.body.tasks).to.have.lengthOf(2);
        expect(second.body.pagination.current_page).to.equal(2);
        const seen = new Set([...first.body.tasks, ...second.body.tasks].map((t: any) => t.id));
        expect(seen.size).to.equal(27);

        const small = await request(h.app).get('/tasker/tasks?per_page=10&page=3').expect(200);
        expect(small.body.tasks).to.have.lengthOf(7);
        expect(small.body.pagination).to.deep.equal({
          current_page: 3,
          per_page: 10,
          total_pages: 3,
          total_count: 27,
        });
        const past = await request(h.app).get('/tasker/tasks?page=9').expect(200);
        expect(past.body.tasks).to.deep.equal([]);
        const clamped = await request(h.app).get('/tasker/tasks?per_page=500').expect(200);
        expect(clamped.body.tasks).to.have.lengthOf(27);
        expect(clamped.body.pagination.per_page).to.equal(100);
        expect(clamped.body.pagination.total_pages).to.equal(1);

        for (const qs of [
          'per_page=-1',
          'per_page=0',
          'page=0',
          'page=abc',
          'page=1e309',
          'page=1.5',
          'page=1&page=2',
          'status=bogus',
        ]) {
          const res = await request(h.app).get(`/tasker/tasks?${qs}`);
          expectError(res, 400, 'INVALID_PARAMETER');
          expect(res.body.error.details, qs).to.be.an('object');
        }
      });
    });

    describe('with workers running', () => {
      beforeEach(async () => {
        h = await makeHarness(db, {}, registerDemoHandlers);
      });

      it('GET /tasks/{id} shows results, attempts and timestamps once the steps ran', async () => {
        const created = await post({ ...SEED_BODY, bypass_steps: ['send_confirmation'] }).expect(
          201,
        );
        const done = await waitFor(
          async () => {
            const res = await request(h.app)
              .get(`/tasker/tasks/${created.body.id}?include_dependencies=true`)
              .expect(200);
            return ['complete', 'error'].includes(res.body.status) ? res.body : undefined;
          },
          15_000,
          'the task to finish',
        );
        expect(done.status).to.equal('complete');
        for (const s of done.steps.slice(0, 3)) {
          expect(s.status, s.name).to.equal('complete');
          expect(s.attempts).to.equal(1);
          expect(s.results).to.be.an('object');
          expect(s.started_at).to.match(ISO);
          expect(s.completed_at).to.match(ISO);
          expect(Date.parse(s.completed_at)).to.be.at.least(Date.parse(s.started_at));
        }
        expect(done.steps[0].results).to.include({ valid: true, amount: 99.99, currency: 'USD' });
        expect(done.steps[3]).to.include({ name: 'send_confirmation', status: 'skipped' });
        expect(done.dependencies).to.include({ analysis: 'All steps completed successfully' });
        expect(done.dependencies.completed_steps).to.have.members(PAYMENT_STEPS);
        expect(done.dependencies.ready_steps).to.deep.equal([]);
        expect(done.dependencies.blocked_steps).to.deep.equal([]);
      });
    });
  });
});
