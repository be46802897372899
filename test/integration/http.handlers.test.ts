import { SEED_PROCESS_PAYMENT_TEMPLATES } from '../helpers/seed';
/**
 * Handler discovery over HTTP (issue "Foundation", item 4): GET /handlers, GET /handlers/{ns}
 * and GET /handlers/{ns}/{name}?version=, checked field for field against the seed's examples.
 */
import { expect } from 'chai';
import request, { type Response } from 'supertest';
import { ERROR_CODES, type ErrorCode } from '../../lib';
import { registerDemoHandlers } from '../../examples/demo/handlers';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, type Harness } from '../helpers/tasker';

process.env.TASKER_DEMO_SPEED = '1000';

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
  if (message !== undefined) expect(res.body.error.message).to.equal(message);
}

const SEED_PROCESS_PAYMENT_GRAPH = {
  nodes: ['validate_payment', 'charge_card', 'update_order', 'send_confirmation'],
  edges: [
    { from: 'validate_payment', to: 'charge_card' },
    { from: 'charge_card', to: 'update_order' },
    { from: 'update_order', to: 'send_confirmation' },
  ],
  execution_order: ['validate_payment', 'charge_card', 'update_order', 'send_confirmation'],
};

forEachDatabase((db) => {
  describe('HTTP: handler discovery', () => {
    let h: Harness;
    beforeEach(async () => {
      h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
    });

    it('GET /handlers lists the seed namespaces with description, handler_count and handlers', async () => {
      const res = await request(h.app).get('/tasker/handlers').expect(200);
      expect(Object.keys(res.body)).to.deep.equal(['namespaces']);
      const seed = [
        {
          name: 'payments',
          description: 'Payment processing workflows',
          handlers: [
            'process_payment',
            'refund_payment',
            'validate_card',
            'process_subscription',
            'cancel_subscription',
          ],
        },
        {
          name: 'inventory',
          description: 'Inventory management workflows',
          handlers: ['update_stock', 'process_order', 'check_availability'],
        },
        {
          name: 'notifications',
          description: 'Notification and messaging workflows',
          handlers: ['send_email', 'send_sms', 'push_notification', 'alert_admin'],
        },
      ];
      expect(res.body.namespaces.map((n: { name: string }) => n.name)).to.have.members(
        seed.map((n) => n.name),
      );
      for (const ns of seed) {
        const got = res.body.namespaces.find((n: { name: string }) => n.name === ns.name);
        expect(Object.keys(got).sort()).to.deep.equal([
          'description',
          'handler_count',
          'handlers',
          'name',
        ]);
        expect(got.description).to.equal(ns.description);
        expect(got.handler_count).to.equal(ns.handlers.length);
        // Each handler name once, even with several versions (process_payment has two).
        expect(got.handlers).to.have.members(ns.handlers).and.have.lengthOf(ns.handlers.length);
      }
    });

    it('GET /handlers is JSON with an ETag, 304 on a match, and changes when a handler registers', async () => {
      const first = await request(h.app).get('/tasker/handlers').expect(200);
      expect(first.headers['content-type']).to.equal('application/json; charset=utf-8');
      const tag = first.headers.etag;
      expect(tag).to.match(/^W\/"[0-9a-f]+-[\w+/=-]+"$/);
      await request(h.app).get('/tasker/handlers').set('If-None-Match', tag).expect(304);
      h.tasker.registerHandler({
        namespace: 'reports',
        name: 'nightly',
        version: '1.0.0',
        steps: [{ name: 'run', handler: async () => ({}) }],
      });
      const after = await request(h.app)
        .get('/tasker/handlers')
        .set('If-None-Match', tag)
        .expect(200);
      expect(after.headers.etag).to.not.equal(tag);
      expect(after.body.namespaces.map((n: { name: string }) => n.name)).to.include('reports');
    });

    it('GET /handlers/payments gives each handler at its latest version with all versions', async () => {
      const res = await request(h.app).get('/tasker/handlers/payments').expect(200);
      expect(res.body.namespace).to.equal('payments');
      const byId = new Map(res.body.handlers.map((x: { id: string }) => [x.id, x]));
      expect([...byId.keys()]).to.have.members([
        'process_payment',
        'refund_payment',
        'validate_card',
        'process_subscription',
        'cancel_subscription',
      ]);
      expect(byId.get('process_payment')).to.deep.equal({
        id: 'process_payment',
        namespace: 'payments',
        version: '2.1.0',
        description: 'Process customer payment with validation and confirmation',
        step_count: 4,
        step_names: ['validate_payment', 'charge_card', 'update_order', 'send_confirmation'],
        versions: ['2.1.0', '1.0.0'],
      });
      expect(byId.get('refund_payment')).to.deep.equal({
        id: 'refund_payment',
        namespace: 'payments',
        version: '1.5.0',
        description: 'Process customer refund with validation',
        step_count: 3,
        step_names: ['validate_refund', 'process_refund', 'notify_customer'],
        versions: ['1.5.0'],
      });
    });

    it('GET /handlers/payments/process_payment?version=2.1.0 matches the seed example', async () => {
      const res = await request(h.app)
        .get('/tasker/handlers/payments/process_payment')
        .query({ version: '2.1.0' })
        .expect(200);
      const b = res.body;
      expect(b).to.include({
        id: 'process_payment',
        namespace: 'payments',
        version: '2.1.0',
        description: 'Process customer payment with validation and confirmation',
      });
      expect(b.versions).to.deep.equal(['2.1.0', '1.0.0']);
      const seedFields = Object.keys(SEED_PROCESS_PAYMENT_TEMPLATES[0]);
      const picked = b.step_templates.map((t: Record<string, unknown>) =>
        Object.fromEntries(seedFields.map((f) => [f, t[f]])),
      );
      expect(picked).to.deep.equal(SEED_PROCESS_PAYMENT_TEMPLATES);
      expect(b.step_templates.map((t: any) => t.depends_on_steps)).to.deep.equal([
        [],
        ['validate_payment'],
        ['charge_card'],
        ['update_order'],
      ]);
      expect(b.dependency_graph).to.deep.equal({
        ...SEED_PROCESS_PAYMENT_GRAPH,
        levels: [['validate_payment'], ['charge_card'], ['update_order'], ['send_confirmation']],
      });
    });

    it('gives a diamond its levels and every parent in depends_on_steps', async () => {
      const res = await request(h.app).get('/tasker/handlers/inventory/process_order').expect(200);
      const g = res.body.dependency_graph;
      expect(g.levels).to.deep.equal([
        ['validate_order'],
        ['reserve_stock', 'calculate_shipping'],
        ['create_shipment'],
        ['notify_warehouse'],
      ]);
      expect(g.edges).to.deep.include.members([
        { from: 'reserve_stock', to: 'create_shipment' },
        { from: 'calculate_shipping', to: 'create_shipment' },
      ]);
      expect(g.execution_order[0]).to.equal('validate_order');
      expect(g.execution_order.indexOf('create_shipment')).to.be.greaterThan(
        Math.max(
          g.execution_order.indexOf('reserve_stock'),
          g.execution_order.indexOf('calculate_shipping'),
        ),
      );
      const join = res.body.step_templates.find((t: any) => t.name === 'create_shipment');
      expect(join.depends_on_steps).to.deep.equal(['reserve_stock', 'calculate_shipping']);
      expect(join.depends_on_step).to.equal('reserve_stock');
    });

    it('resolves ?version= as a range, as an exact older version, and as latest when absent', async () => {
      const range = await request(h.app)
        .get('/tasker/handlers/payments/process_payment')
        .query({ version: '^2.0.0' })
        .expect(200);
      expect(range.body.version).to.equal('2.1.0');

      const old = await request(h.app)
        .get('/tasker/handlers/payments/process_payment')
        .query({ version: '1.0.0' })
        .expect(200);
      expect(old.body.version).to.equal('1.0.0');
      expect(old.body.description).to.equal('Process customer payment with validation');
      expect(old.body.step_templates.map((t: any) => t.name)).to.deep.equal([
        'validate_payment',
        'charge_card',
        'update_order',
      ]);
      expect(old.body.dependency_graph.nodes).to.have.lengthOf(3);

      const latest = await request(h.app)
        .get('/tasker/handlers/payments/process_payment')
        .expect(200);
      expect(latest.body.version).to.equal('2.1.0');
    });

    it('picks the latest by semver precedence, not string order (10.0.0 beats 9.0.0)', async () => {
      for (const version of ['9.0.0', '10.0.0', '2.0.0']) {
        h.tasker.registerHandler({
          namespace: 'semver_test',
          name: 'numbered',
          version,
          description: `numbered ${version}`,
          steps: [{ name: 'only', handler: async () => version }],
        });
      }
      const show = await request(h.app).get('/tasker/handlers/semver_test/numbered').expect(200);
      expect(show.body.version).to.equal('10.0.0');
      expect(show.body.versions).to.deep.equal(['10.0.0', '9.0.0', '2.0.0']);

      const list = await request(h.app).get('/tasker/handlers/semver_test').expect(200);
      expect(list.body.handlers).to.have.lengthOf(1);
      expect(list.body.handlers[0]).to.include({ id: 'numbered', version: '10.0.0' });

      const ns = await request(h.app).get('/tasker/handlers').expect(200);
      expect(ns.body.namespaces.find((n: any) => n.name === 'semver_test')).to.deep.equal({
        name: 'semver_test',
        description: '',
        handler_count: 1,
        handlers: ['numbered'],
      });

      const range = await request(h.app)
        .get('/tasker/handlers/semver_test/numbered')
        .query({ version: '>=9.0.0 <10.0.0' })
        .expect(200);
      expect(range.body.version).to.equal('9.0.0');
    });

    it('answers 404 NAMESPACE_NOT_FOUND with the seed message', async () => {
      expectError(
        await request(h.app).get('/tasker/handlers/x'),
        404,
        'NAMESPACE_NOT_FOUND',
        "Namespace 'x' does not exist",
      );
      expectError(
        await request(h.app).get('/tasker/handlers/unknown_namespace/process_payment'),
        404,
        'NAMESPACE_NOT_FOUND',
        "Namespace 'unknown_namespace' does not exist",
      );
    });

    it('answers 404 HANDLER_NOT_FOUND with the seed message', async () => {
      expectError(
        await request(h.app)
          .get('/tasker/handlers/payments/unknown_handler')
          .query({ version: '1.0.0' }),
        404,
        'HANDLER_NOT_FOUND',
        "Handler 'unknown_handler' not found in namespace 'payments' version '1.0.0'",
      );
      // A known handler at a version that is not registered, exact or as a range.
      expectError(
        await request(h.app)
          .get('/tasker/handlers/payments/process_payment')
          .query({ version: '3.0.0' }),
        404,
        'HANDLER_NOT_FOUND',
        "Handler 'process_payment' not found in namespace 'payments' version '3.0.0'",
      );
      expectError(
        await request(h.app)
          .get('/tasker/handlers/payments/process_payment')
          .query({ version: '^3.0.0' }),
        404,
        'HANDLER_NOT_FOUND',
      );
    });

    it('answers 400 INVALID_PARAMETER for a version that is neither a version nor a range', async () => {
      const bad = await request(h.app)
        .get('/tasker/handlers/payments/process_payment')
        .query({ version: 'not-a-version' });
      expectError(bad, 400, 'INVALID_PARAMETER');
      expect(bad.body.error.details).to.have.property('version');
      expectError(
        await request(h.app).get('/tasker/handlers/payments/process_payment?version=1&version=2'),
        400,
        'INVALID_PARAMETER',
      );
      expectError(
        await request(h.app)
          .get('/tasker/handlers/payments/process_payment')
          .query({ version: 'x'.repeat(100) }),
        400,
        'INVALID_PARAMETER',
      );
    });
  });
});
