/**
 * GET /health/live, /health/ready and /health/status: bodies, status codes and auth. Readiness
 * during database outages is in ops.readiness.test.ts.
 */
import { expect } from 'chai';
import request from 'supertest';
import { JwtAuthenticator, signDevelopmentToken } from '../../lib';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitFor, waitForTask, type Harness } from '../helpers/tasker';

const SECRET = 'ops-health-test-secret-0123456789abcdef';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const register = (h: Harness['tasker']) =>
  h.registerHandler({
    namespace: 'ops',
    name: 'pair',
    version: '1.0.0',
    steps: [
      { name: 'first', handler: async () => ({ ok: true }) },
      { name: 'second', dependsOn: 'first', handler: async () => ({ ok: true }) },
    ],
  });

forEachDatabase((db) => {
  describe('GET /health/live and /health/ready', () => {
    it('answer 200 with each check, its status and its time, without authentication', async () => {
      const h = await makeHarness(
        db,
        { auth: { authenticator: JwtAuthenticator, authenticatorOptions: { secret: SECRET } } },
        register,
      );
      const live = await request(h.app).get('/tasker/health/live').expect(200);
      expect(live.headers['cache-control']).to.equal('no-store');
      expect(live.body.status).to.equal('pass');
      expect(live.body.checks.process).to.include({ status: 'pass', pid: process.pid });
      expect(live.body.checks.process.time).to.match(ISO);

      const ready = await request(h.app).get('/tasker/health/ready').expect(200);
      expect(ready.body.status).to.equal('pass');
      expect(Object.keys(ready.body.checks)).to.deep.equal(['database', 'migrations', 'workers']);
      for (const name of ['database', 'migrations', 'workers']) {
        const c = ready.body.checks[name];
        expect(c.status, name).to.equal('pass');
        expect(c.time, name).to.match(ISO);
        expect(c.duration_ms, name).to.be.a('number').at.least(0);
      }
      // The API itself still needs a token.
      await request(h.app).get('/tasker/handlers').expect(401);
    });

    it('reports workers that are not running', async () => {
      const h = await makeHarness(db, {}, register);
      await h.tasker.engine.close();
      const res = await request(h.app).get('/tasker/health/ready').expect(503);
      expect(res.body.status).to.equal('fail');
      expect(res.body.checks.database.status).to.equal('pass');
      expect(res.body.checks.workers).to.include({
        status: 'fail',
        message: 'workers are stopped',
      });
    });

    it('passes workers that are disabled on purpose', async () => {
      const h = await makeHarness(db, { worker: { enabled: false } }, register);
      const res = await request(h.app).get('/tasker/health/ready').expect(200);
      expect(res.body.checks.workers.message).to.equal('workers are disabled in this process');
    });
  });

  describe('GET /health/status', () => {
    it('needs tasker.health_status:index and counts tasks and steps by state', async () => {
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
      const allowed = signDevelopmentToken(SECRET, {
        sub: 'ops',
        permissions: ['tasker.health_status:index'],
      });
      const denied = signDevelopmentToken(SECRET, { sub: 'x', permissions: ['tasker.task:*'] });
      await request(h.app).get('/tasker/health/status').expect(401);
      const forbidden = await request(h.app)
        .get('/tasker/health/status')
        .set('Authorization', `Bearer ${denied}`)
        .expect(403);
      expect(forbidden.body.error.code).to.equal('AUTHORIZATION_FAILED');

      const task = await h.tasker.createTask({ namespace: 'ops', name: 'pair' });
      await waitForTask(h.tasker, task.id, ['complete']);
      const res = await request(h.app)
        .get('/tasker/health/status')
        .set('Authorization', `Bearer ${allowed}`)
        .expect(200);
      expect(res.body.tasks).to.deep.equal({
        pending: 0,
        in_progress: 0,
        complete: 1,
        error: 0,
        cancelled: 0,
        resolved_manually: 0,
      });
      expect(res.body.steps).to.deep.include({ complete: 2, pending: 0, skipped: 0 });
      expect(res.body.retries_pending).to.equal(0);
      expect(res.body.oldest_ready_step_wait_ms).to.equal(0);
      expect(res.body.workers).to.deep.include({
        enabled: true,
        running: true,
        worker_id: h.tasker.engine.workerId,
        active_attempts: 0,
        concurrency: 10,
      });
      expect(res.body.checked_at).to.match(ISO);
    });

    it('counts a scheduled retry', async () => {
      const h = await makeHarness(db, { retry: { baseMs: 60_000, jitter: 0 } }, (t) =>
        t.registerHandler({
          namespace: 'ops',
          name: 'flaky',
          version: '1.0.0',
          steps: [
            {
              name: 'boom',
              handler: async () => {
                throw new Error('boom');
              },
            },
          ],
        }),
      );
      await h.tasker.createTask({ namespace: 'ops', name: 'flaky' });
      await waitFor(async () => {
        const r = await request(h.app).get('/tasker/health/status').expect(200);
        return r.body.retries_pending === 1;
      });
      // The retry is a minute away: this state holds while the test looks at it.
      const res = await request(h.app).get('/tasker/health/status').expect(200);
      expect(res.body.retries_pending).to.equal(1);
      expect(res.body.steps.error).to.equal(1);
      expect(res.body.tasks.in_progress).to.equal(1);
      // The retry is not due yet, so no step is waiting to be claimed.
      expect(res.body.oldest_ready_step_wait_ms).to.equal(0);
    });

    it('shows how long the oldest ready step has waited', async () => {
      const h = await makeHarness(db, { worker: { enabled: false } }, register);
      await h.tasker.createTask({ namespace: 'ops', name: 'pair' });
      const res = await waitFor(async () => {
        const r = await request(h.app).get('/tasker/health/status').expect(200);
        return r.body.oldest_ready_step_wait_ms > 0 ? r : undefined;
      });
      expect(res.body.tasks.pending).to.equal(1);
      expect(res.body.steps.pending).to.equal(2);
      expect(res.body.workers).to.include({ enabled: false, running: false });
    });
  });

  describe('OpenAPI', () => {
    it('documents the health and metrics routes', async () => {
      const h = await makeHarness(db, {}, register);
      const doc = await request(h.app).get('/tasker/api-docs.json').expect(200);
      for (const path of ['/health/live', '/health/ready', '/health/status', '/metrics']) {
        expect(doc.body.paths[path]?.get, path).to.be.an('object');
      }
      expect(doc.body.paths['/health/live'].get.security).to.deep.equal([]);
    });
  });
});
