import { expect } from 'chai';
import request from 'supertest';
import { PermanentError, type StepContext } from '../../lib';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitFor, waitForTask } from '../helpers/tasker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const retry = { baseMs: 100, factor: 2, capMs: 10_000, jitter: 0 };

forEachDatabase((db) => {
  describe('engine: failures, retries and operator actions', () => {
    it('retries a step that fails twice, respecting the backoff delays', async () => {
      const starts: number[] = [];
      const { tasker } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'flaky',
          version: '1.0.0',
          steps: [
            {
              name: 'flaky',
              retryLimit: 3,
              handler: async (ctx: StepContext) => {
                starts.push(Date.now());
                if (ctx.step.attempt < 3) throw new Error(`boom ${ctx.step.attempt}`);
                return { ok: ctx.step.attempt };
              },
            },
          ],
        }),
      );
      const seen: string[] = [];
      tasker.events.on('step.retry_scheduled', (p: { nextRetryAt: string }) =>
        seen.push(p.nextRetryAt),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'flaky' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      const step = done.steps[0];
      expect(step.attempts).to.equal(3);
      expect(step.results).to.deep.equal({ ok: 3 });
      expect(starts).to.have.length(3);
      expect(starts[1] - starts[0]).to.be.at.least(100);
      expect(starts[2] - starts[1]).to.be.at.least(200);
      expect(seen).to.have.length(2);
      const history = await tasker.storage.getTransitions(task.id, 'flaky');
      expect(
        history.filter((h) => h.toStatus === 'error').map((h) => h.error?.message),
      ).to.deep.equal(['boom 1', 'boom 2']);
    });

    it('shows next_retry_at while a retry is pending', async () => {
      const { tasker, app } = await makeHarness(db, { retry: { ...retry, baseMs: 5000 } }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'later',
          version: '1.0.0',
          steps: [
            {
              name: 'once',
              handler: async () => {
                throw new Error('not yet');
              },
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'later' });
      const body = await waitFor(async () => {
        const res = await request(app).get(`/tasker/tasks/${task.id}`);
        return res.body.steps[0].status === 'error' ? res.body : undefined;
      });
      const due = Date.parse(body.steps[0].next_retry_at);
      expect(due - Date.now()).to.be.within(3000, 5100);
      expect(body.steps[0].last_error).to.include({ message: 'not yet', class: 'Error' });
      expect(body.status).to.equal('in_progress');
    });

    it('fails the task for good, lets the independent branch finish, then POST /retry completes it', async () => {
      let fixed = false;
      const { tasker, app } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'broken',
          version: '1.0.0',
          steps: [
            {
              name: 'bad',
              retryLimit: 1,
              handler: async () => {
                if (!fixed) throw new Error('downstream is down');
                return 'fixed';
              },
            },
            { name: 'after_bad', dependsOn: 'bad', handler: async () => 'after' },
            {
              name: 'independent',
              handler: async () => {
                await sleep(150);
                return 'indep';
              },
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'broken' });
      const failed = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(failed.status).to.equal('error');
      const byName = Object.fromEntries(failed.steps.map((s) => [s.name, s]));
      expect(byName.bad.status).to.equal('error');
      expect(byName.bad.attempts).to.equal(2);
      expect(byName.after_bad.status).to.equal('pending');
      expect(byName.independent.status).to.equal('complete');

      const deps = await request(app).get(`/tasker/tasks/${task.id}?include_dependencies=true`);
      expect(deps.body.dependencies.failed_steps).to.deep.equal(['bad']);
      expect(deps.body.dependencies.blocked_steps).to.deep.equal(['after_bad']);

      fixed = true;
      const res = await request(app).post(`/tasker/tasks/${task.id}/retry`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('in_progress');
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      expect(done.steps.find((s) => s.name === 'bad')?.attempts).to.equal(3);
      const again = await request(app).post(`/tasker/tasks/${task.id}/retry`);
      expect(again.status).to.equal(409);
      expect(again.body.error.code).to.equal('INVALID_STATE_TRANSITION');
    });

    it('skips a skippable step that fails for good, and its dependents still run', async () => {
      const { tasker } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'skippy',
          version: '1.0.0',
          steps: [
            {
              name: 'notify',
              skippable: true,
              retryLimit: 0,
              handler: async () => {
                throw new Error('smtp down');
              },
            },
            {
              name: 'finish',
              dependsOn: 'notify',
              handler: async (ctx: StepContext) => ctx.dependencies,
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'skippy' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      expect(done.steps.map((s) => s.status)).to.deep.equal(['skipped', 'complete']);
      expect(done.steps[1].results).to.deep.equal({ notify: null });
    });

    it('bypass_steps skips listed skippable steps without running them', async () => {
      let ran = false;
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'bypass',
          version: '1.0.0',
          steps: [
            {
              name: 'optional',
              skippable: true,
              handler: async () => {
                ran = true;
              },
            },
            { name: 'main', dependsOn: 'optional', handler: async () => 'main' },
          ],
        }),
      );
      const task = await tasker.createTask({
        namespace: 'test',
        name: 'bypass',
        bypassSteps: ['optional'],
      });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      expect(ran).to.equal(false);
      expect(done.steps.map((s) => [s.name, s.status, s.attempts])).to.deep.equal([
        ['optional', 'skipped', 0],
        ['main', 'complete', 1],
      ]);
    });

    it('makes one attempt for retryable: false and for PermanentError', async () => {
      const calls = { once: 0, perm: 0 };
      const { tasker } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'single',
          version: '1.0.0',
          steps: [
            {
              name: 'once',
              retryable: false,
              handler: async () => {
                calls.once++;
                throw new Error('no');
              },
            },
            {
              name: 'perm',
              retryLimit: 5,
              handler: async () => {
                calls.perm++;
                throw new PermanentError('card declined');
              },
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'single' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('error');
      expect(calls).to.deep.equal({ once: 1, perm: 1 });
      const perm = done.steps.find((s) => s.name === 'perm')!;
      expect(perm.lastError).to.include({ message: 'card declined', class: 'PermanentError' });
      expect(perm.nextRetryAt).to.equal(null);
    });

    it('aborts an attempt after timeoutMs through its signal and counts it as a failure', async () => {
      let aborted = 0;
      const { tasker } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'slow',
          version: '1.0.0',
          steps: [
            {
              name: 'slow',
              timeoutMs: 100,
              retryLimit: 1,
              handler: (ctx: StepContext) =>
                new Promise((_, reject) => {
                  ctx.signal.addEventListener('abort', () => {
                    aborted++;
                    reject(new Error('aborted'));
                  });
                }),
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'slow' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('error');
      expect(done.steps[0].attempts).to.equal(2);
      expect(done.steps[0].lastError).to.include({ class: 'StepTimeoutError' });
      expect(aborted).to.equal(2);
    });

    it('cancels a task while a step runs: the signal fires and pending steps are cancelled', async () => {
      let signalled = false;
      let started = false;
      const { tasker, app } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'long',
          version: '1.0.0',
          steps: [
            {
              name: 'wait',
              handler: (ctx: StepContext) =>
                new Promise((resolve) => {
                  started = true;
                  ctx.signal.addEventListener('abort', () => {
                    signalled = true;
                    resolve('stopped');
                  });
                }),
            },
            { name: 'next', dependsOn: 'wait', handler: async () => 'never' },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'long' });
      await waitFor(() => started, 5000, 'step to start');
      const res = await request(app).delete(`/tasker/tasks/${task.id}`);
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('cancelled');
      await waitFor(() => signalled, 5000, 'signal');
      await sleep(100);
      const after = await tasker.getTask(task.id);
      expect(after.status).to.equal('cancelled');
      expect(after.steps.map((s) => s.status)).to.deep.equal(['cancelled', 'cancelled']);
      expect(after.steps[0].results).to.equal(null);
      const again = await request(app).delete(`/tasker/tasks/${task.id}`);
      expect(again.status).to.equal(409);
    });

    it('resolves a failed step manually and the task continues', async () => {
      const { tasker, app } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'manual',
          version: '1.0.0',
          steps: [
            {
              name: 'lookup',
              retryable: false,
              handler: async () => {
                throw new Error('vendor outage');
              },
            },
            {
              name: 'use',
              dependsOn: 'lookup',
              handler: async (ctx: StepContext) => ctx.dependencies.lookup,
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'manual' });
      await waitForTask(tasker, task.id, ['error']);
      const bad = await request(app)
        .patch(`/tasker/tasks/${task.id}/steps/use`)
        .send({ results: 1 });
      expect(bad.status).to.equal(200); // pending steps may be resolved too
      const res = await request(app)
        .patch(`/tasker/tasks/${task.id}/steps/lookup`)
        .send({ results: { price: 42 } });
      expect(res.status).to.equal(200);
      expect(res.body.status).to.equal('resolved_manually');
      expect(res.body.transitions.map((t: { to: string }) => t.to)).to.include('resolved_manually');
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      const conflict = await request(app)
        .patch(`/tasker/tasks/${task.id}/steps/lookup`)
        .send({ results: 1 });
      expect(conflict.status).to.equal(409);
      expect(conflict.body.error.code).to.equal('INVALID_STATE_TRANSITION');
    });

    it('shows each step with its transitions', async () => {
      const { tasker, app } = await makeHarness(db, { retry }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'history',
          version: '1.0.0',
          steps: [
            {
              name: 'twice',
              handler: async (ctx: StepContext) => {
                if (ctx.step.attempt === 1) throw new TypeError('first try');
                return 'ok';
              },
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'history' });
      await waitForTask(tasker, task.id, ['complete']);
      const list = await request(app).get(`/tasker/tasks/${task.id}/steps`);
      expect(list.status).to.equal(200);
      const one = await request(app).get(`/tasker/tasks/${task.id}/steps/twice`);
      expect(one.body.transitions.map((t: any) => [t.from, t.to, t.attempt])).to.deep.equal([
        [null, 'pending', null],
        ['pending', 'in_progress', 1],
        ['in_progress', 'error', 1],
        ['error', 'in_progress', 2],
        ['in_progress', 'complete', 2],
      ]);
      expect(one.body.transitions[2].error).to.include({
        message: 'first try',
        class: 'TypeError',
      });
      expect(list.body.steps[0].transitions).to.deep.equal(one.body.transitions);
      const missing = await request(app).get(`/tasker/tasks/${task.id}/steps/nope`);
      expect(missing.status).to.equal(404);
      expect(missing.body.error.code).to.equal('STEP_NOT_FOUND');
    });

    it('close() during work leaves no step in_progress', async () => {
      const { tasker } = await makeHarness(db, { worker: { shutdownTimeoutMs: 100 } }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'stuck',
          version: '1.0.0',
          steps: [{ name: 'forever', handler: () => new Promise(() => {}) }],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'stuck' });
      await waitFor(async () => (await tasker.getTask(task.id)).steps[0].status === 'in_progress');
      const storage = tasker.storage;
      const steps = await storage.getSteps(task.id);
      expect(steps[0].status).to.equal('in_progress');
      // Read back through a second instance after the first closed.
      const config = tasker.config.storage;
      await tasker.close();
      await tasker.close();
      const { tasker: second } = await makeHarness(db, {
        storage: config as any,
        worker: { enabled: false },
      });
      const after = await second.getTask(task.id);
      expect(after.steps[0].status).to.equal('pending');
      expect(after.steps[0].leaseOwner).to.equal(null);
      expect(after.steps[0].readyAt).to.not.equal(null);
    });
  });
});
