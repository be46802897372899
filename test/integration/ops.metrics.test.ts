/**
 * GET /metrics: Prometheus text with the metric names and labels a dashboard relies on, after
 * real tasks run; the host's registry shared; the permission when authorization is on.
 */
import { expect } from 'chai';
import { Counter, Registry } from 'prom-client';
import request from 'supertest';
import { JwtAuthenticator, PermanentError, signDevelopmentToken, type Tasker } from '../../lib';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitFor, waitForTask, type Harness } from '../helpers/tasker';

const SECRET = 'ops-metrics-test-secret-0123456789abcdef';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (enough of it for these tests). */
function parse(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types[type[1]] = type[2];
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

/** The value of the sample with exactly these labels, or undefined. */
function value(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = Object.entries(labels);
  return parse(text).samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === want.length &&
      want.every(([k, v]) => s.labels[k] === v),
  )?.value;
}

let flakyCalls = 0;
function register(t: Tasker): void {
  t.registerHandler({
    namespace: 'ops',
    name: 'metered',
    version: '1.0.0',
    steps: [
      { name: 'fetch', handler: async () => ({ rows: 3 }) },
      {
        name: 'flaky',
        dependsOn: 'fetch',
        handler: async () => {
          flakyCalls += 1;
          if (flakyCalls === 1) throw new Error('first call fails');
          return { ok: true };
        },
      },
    ],
  });
  t.registerHandler({
    namespace: 'ops',
    name: 'doomed',
    version: '1.0.0',
    steps: [
      {
        name: 'refuse',
        handler: async () => {
          throw new PermanentError('no');
        },
      },
    ],
  });
  t.registerHandler({
    namespace: 'ops',
    name: 'stuck',
    version: '1.0.0',
    steps: [
      {
        name: 'wait',
        handler: (ctx) =>
          new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))),
      },
    ],
  });
}

const retryFast = { retry: { baseMs: 10, factor: 1, capMs: 10, jitter: 0 } };

forEachDatabase((db) => {
  describe('GET /metrics', () => {
    beforeEach(() => (flakyCalls = 0));

    it('counts tasks, attempts and requests after a real task runs', async () => {
      const h = await makeHarness(db, retryFast, register);
      const created = await request(h.app)
        .post('/tasker/tasks')
        .send({ namespace: 'ops', name: 'metered' })
        .expect(201);
      await waitForTask(h.tasker, created.body.id, ['complete']);
      await request(h.app).get(`/tasker/tasks/${created.body.id}`).expect(200);

      const res = await request(h.app).get('/tasker/metrics').expect(200);
      expect(res.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      const text = res.text;
      const task = { namespace: 'ops', handler: 'metered' };
      expect(value(text, 'tasker_tasks_created_total', task)).to.equal(1);
      expect(value(text, 'tasker_tasks_completed_total', task)).to.equal(1);
      const step = (name: string, outcome: string) => ({ ...task, step: name, outcome });
      expect(value(text, 'tasker_step_attempts_total', step('fetch', 'complete'))).to.equal(1);
      expect(value(text, 'tasker_step_attempts_total', step('flaky', 'retry'))).to.equal(1);
      expect(value(text, 'tasker_step_attempts_total', step('flaky', 'complete'))).to.equal(1);
      expect(value(text, 'tasker_step_duration_seconds_count', step('flaky', 'complete'))).to.equal(
        1,
      );
      expect(
        value(text, 'tasker_step_duration_seconds_bucket', {
          ...step('fetch', 'complete'),
          le: '+Inf',
        }),
      ).to.equal(1);
      // The root step's first attempt is measured from the task's creation.
      expect(value(text, 'tasker_step_queue_wait_seconds_count', task)).to.be.at.least(1);
      expect(value(text, 'tasker_steps_ready')).to.equal(0);
      expect(value(text, 'tasker_steps_in_progress')).to.equal(0);
      expect(value(text, 'tasker_worker_active_attempts')).to.equal(0);
      expect(value(text, 'tasker_database_up')).to.equal(1);
      const http = (method: string, route: string, status: string) =>
        value(text, 'tasker_http_request_duration_seconds_count', { method, route, status });
      expect(http('POST', '/tasks', '201')).to.equal(1);
      // Route templates, never ids, so the label set stays small.
      expect(http('GET', '/tasks/:id', '200')).to.equal(1);
      expect(text).to.not.include(created.body.id);

      const { types } = parse(text);
      expect(types).to.deep.include({
        tasker_tasks_created_total: 'counter',
        tasker_tasks_completed_total: 'counter',
        tasker_tasks_failed_total: 'counter',
        tasker_tasks_cancelled_total: 'counter',
        tasker_step_attempts_total: 'counter',
        tasker_step_duration_seconds: 'histogram',
        tasker_step_queue_wait_seconds: 'histogram',
        tasker_http_request_duration_seconds: 'histogram',
        tasker_steps_ready: 'gauge',
        tasker_steps_in_progress: 'gauge',
        tasker_worker_active_attempts: 'gauge',
        tasker_database_up: 'gauge',
      });
    });

    it('counts failed and cancelled tasks', async () => {
      const h = await makeHarness(db, {}, register);
      const doomed = await h.tasker.createTask({ namespace: 'ops', name: 'doomed' });
      await waitForTask(h.tasker, doomed.id, ['error']);
      const stuck = await h.tasker.createTask({ namespace: 'ops', name: 'stuck' });
      // The lease (a database count) and the attempt in this process (a local count).
      await waitFor(async () => {
        const r = await request(h.app).get('/tasker/metrics').expect(200);
        return (
          value(r.text, 'tasker_steps_in_progress') === 1 &&
          value(r.text, 'tasker_worker_active_attempts') === 1
        );
      });
      await request(h.app).delete(`/tasker/tasks/${stuck.id}`).expect(200);

      // The task.cancelled event follows the answer: wait for the counter, not for the row.
      const stuckLabels = { namespace: 'ops', handler: 'stuck' };
      const text = await waitFor(async () => {
        const r = await request(h.app).get('/tasker/metrics').expect(200);
        return value(r.text, 'tasker_tasks_cancelled_total', stuckLabels) === 1
          ? r.text
          : undefined;
      });
      expect(
        value(text, 'tasker_tasks_failed_total', { namespace: 'ops', handler: 'doomed' }),
      ).to.equal(1);
      expect(
        value(text, 'tasker_step_attempts_total', {
          namespace: 'ops',
          handler: 'doomed',
          step: 'refuse',
          outcome: 'failed',
        }),
      ).to.equal(1);
    });

    it('shows steps waiting to be claimed', async () => {
      const h = await makeHarness(db, { worker: { enabled: false } }, register);
      await h.tasker.createTask({ namespace: 'ops', name: 'metered' });
      const text = (await request(h.app).get('/tasker/metrics').expect(200)).text;
      // Only the root step is claimable; its child waits for it.
      expect(value(text, 'tasker_steps_ready')).to.equal(1);
      expect(value(text, 'tasker_steps_in_progress')).to.equal(0);
    });

    it("serves the host's registry, with a custom prefix", async () => {
      const registry = new Registry();
      const hostCounter = new Counter({
        name: 'host_orders_total',
        help: 'Orders taken by the host app.',
        registers: [registry],
      });
      hostCounter.inc(5);
      const h: Harness = await makeHarness(
        db,
        { metrics: { registry, prefix: 'app_tasker_' } },
        register,
      );
      const task = await h.tasker.createTask({ namespace: 'ops', name: 'doomed' });
      await waitForTask(h.tasker, task.id, ['error']);
      const text = (await request(h.app).get('/tasker/metrics').expect(200)).text;
      expect(value(text, 'host_orders_total')).to.equal(5);
      expect(
        value(text, 'app_tasker_tasks_failed_total', { namespace: 'ops', handler: 'doomed' }),
      ).to.equal(1);
      expect(text).to.not.match(/^tasker_/m);
      // The host can serve the same registry itself.
      expect(await registry.metrics()).to.include('app_tasker_tasks_created_total');
    });

    it('needs tasker.metrics:index when authorization is on', async () => {
      const h = await makeHarness(
        db,
        {
          auth: {
            authenticator: JwtAuthenticator,
            authenticatorOptions: { secret: SECRET },
            authorizationEnabled: true,
          },
        },
        register,
      );
      const scraper = signDevelopmentToken(SECRET, {
        sub: 'prometheus',
        permissions: ['tasker.metrics:index'],
      });
      const other = signDevelopmentToken(SECRET, { sub: 'u', permissions: ['tasker.task:*'] });
      await request(h.app).get('/tasker/metrics').expect(401);
      const denied = await request(h.app)
        .get('/tasker/metrics')
        .set('Authorization', `Bearer ${other}`)
        .expect(403);
      expect(denied.body.error.message).to.equal(
        'Insufficient permissions for tasker.metrics:index',
      );
      const ok = await request(h.app)
        .get('/tasker/metrics')
        .set('Authorization', `Bearer ${scraper}`)
        .expect(200);
      expect(ok.text).to.include('# TYPE tasker_tasks_created_total counter');
      // The 401 and 403 are measured too, under their route.
      expect(
        value(ok.text, 'tasker_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/metrics',
          status: '403',
        }),
      ).to.equal(1);
    });

    it('is absent when metrics are disabled', async () => {
      const h = await makeHarness(db, { metrics: { enabled: false } }, register);
      const res = await request(h.app).get('/tasker/metrics').expect(404);
      expect(res.body.error.code).to.equal('ROUTE_NOT_FOUND');
    });
  });
});
