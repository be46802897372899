import { expect } from 'chai';
import type { StepContext } from '../../lib';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitForTask } from '../helpers/tasker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

forEachDatabase((db) => {
  describe('engine: DAG execution', () => {
    it('runs a diamond: b and c overlap in time and d sees both results', async () => {
      const spans: Record<string, [number, number]> = {};
      let seen: Record<string, unknown> = {};
      const timed = (name: string, ms: number) => async (ctx: StepContext) => {
        const start = Date.now();
        await sleep(ms);
        spans[name] = [start, Date.now()];
        return { from: name, attempt: ctx.step.attempt };
      };
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'diamond',
          version: '1.0.0',
          steps: [
            { name: 'a', handler: timed('a', 10) },
            { name: 'b', dependsOn: 'a', handler: timed('b', 300) },
            { name: 'c', dependsOn: 'a', handler: timed('c', 300) },
            {
              name: 'd',
              dependsOn: ['b', 'c'],
              handler: async (ctx: StepContext) => {
                seen = ctx.dependencies;
                return { sum: Object.keys(ctx.dependencies).length };
              },
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'diamond', context: {} });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      const [bStart, bEnd] = spans.b;
      const [cStart, cEnd] = spans.c;
      expect(bStart < cEnd && cStart < bEnd, 'b and c ran at the same time').to.equal(true);
      expect(spans.a[1]).to.be.at.most(Math.min(bStart, cStart));
      expect(seen).to.deep.equal({ b: { from: 'b', attempt: 1 }, c: { from: 'c', attempt: 1 } });
      expect(done.steps.map((s) => s.status)).to.deep.equal(Array(4).fill('complete'));
      expect(done.steps.find((s) => s.name === 'd')?.results).to.deep.equal({ sum: 2 });
    });

    it('fans in three parents', async () => {
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'fanin',
          version: '1.0.0',
          steps: [
            { name: 'p1', handler: async () => 1 },
            { name: 'p2', handler: async () => 2 },
            { name: 'p3', handler: async () => 3 },
            {
              name: 'join',
              dependsOn: ['p1', 'p2', 'p3'],
              handler: async (ctx: StepContext) =>
                Object.values(ctx.dependencies).reduce((a: number, b) => a + Number(b), 0),
            },
          ],
        }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'fanin' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      expect(done.steps.find((s) => s.name === 'join')?.results).to.equal(6);
    });

    it('runs a 20-step chain in order', async () => {
      const order: number[] = [];
      const steps = Array.from({ length: 20 }, (_, i) => ({
        name: `s${i}`,
        ...(i > 0 ? { dependsOn: `s${i - 1}` } : {}),
        handler: async (ctx: StepContext) => {
          order.push(i);
          return i === 0 ? 0 : Number(ctx.dependencies[`s${i - 1}`]) + 1;
        },
      }));
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({ namespace: 'test', name: 'chain', version: '1.0.0', steps }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'chain' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('complete');
      expect(order).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      expect(done.steps.find((s) => s.name === 's19')?.results).to.equal(19);
    });

    it('finishes a 50-wide fan-out with concurrency 10, never running more than 10 at once', async () => {
      let running = 0;
      let peak = 0;
      const leaf = async () => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(20);
        running -= 1;
        return 'ok';
      };
      const steps = [
        { name: 'root', handler: async () => 'root' },
        ...Array.from({ length: 50 }, (_, i) => ({
          name: `leaf${i}`,
          dependsOn: 'root',
          handler: leaf,
        })),
        {
          name: 'join',
          dependsOn: Array.from({ length: 50 }, (_, i) => `leaf${i}`),
          handler: async (ctx: StepContext) => Object.keys(ctx.dependencies).length,
        },
      ];
      const { tasker } = await makeHarness(db, { worker: { concurrency: 10 } }, (t) =>
        t.registerHandler({ namespace: 'test', name: 'fanout', version: '1.0.0', steps }),
      );
      const task = await tasker.createTask({ namespace: 'test', name: 'fanout' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error'], 30_000);
      expect(done.status).to.equal('complete');
      expect(peak).to.be.at.most(10);
      expect(peak).to.be.at.least(2);
      expect(done.steps.find((s) => s.name === 'join')?.results).to.equal(50);
    });

    it('pins tasks to the version they were created with while a newer one is registered', async () => {
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'versioned',
          version: '1.0.0',
          steps: [{ name: 'which', handler: async () => 'v1' }],
        }),
      );
      const old = await tasker.createTask({ namespace: 'test', name: 'versioned' });
      tasker.registerHandler({
        namespace: 'test',
        name: 'versioned',
        version: '2.0.0',
        steps: [
          { name: 'which', handler: async () => 'v2' },
          { name: 'extra', dependsOn: 'which', handler: async () => 'v2-extra' },
        ],
      });
      const neu = await tasker.createTask({ namespace: 'test', name: 'versioned' });
      const a = await waitForTask(tasker, old.id, ['complete', 'error']);
      const b = await waitForTask(tasker, neu.id, ['complete', 'error']);
      expect(a.version).to.equal('1.0.0');
      expect(a.steps.map((s) => [s.name, s.results])).to.deep.equal([['which', 'v1']]);
      expect(b.version).to.equal('2.0.0');
      expect(b.steps.map((s) => [s.name, s.results])).to.deep.equal([
        ['which', 'v2'],
        ['extra', 'v2-extra'],
      ]);
    });

    it('emits lifecycle and declared custom events; a throwing listener breaks nothing', async () => {
      const seen: string[] = [];
      const { tasker } = await makeHarness(db, {}, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'events',
          version: '1.0.0',
          steps: [
            {
              name: 'pay',
              customEvents: ['payment.gateway.charged'],
              handler: async (ctx: StepContext) => {
                ctx.publish('payment.gateway.charged', { amount: 5 });
                return 'paid';
              },
            },
            {
              name: 'rogue',
              dependsOn: 'pay',
              retryable: false,
              handler: async (ctx: StepContext) => {
                ctx.publish('undeclared.event', {});
                return 'never';
              },
            },
          ],
        }),
      );
      for (const e of [
        'task.created',
        'task.started',
        'task.failed',
        'step.started',
        'step.completed',
        'step.failed',
        'payment.gateway.charged',
      ]) {
        tasker.events.on(e, (p: { event: string; stepName?: string }) => {
          seen.push(p.stepName ? `${p.event}:${p.stepName}` : p.event);
        });
      }
      tasker.events.on('step.completed', () => {
        throw new Error('listener bug');
      });
      const task = await tasker.createTask({ namespace: 'test', name: 'events' });
      const done = await waitForTask(tasker, task.id, ['complete', 'error']);
      expect(done.status).to.equal('error');
      const rogue = done.steps.find((s) => s.name === 'rogue')!;
      expect(rogue.lastError?.message).to.match(/did not declare custom event 'undeclared.event'/);
      await sleep(50);
      expect(seen).to.include.members([
        'task.created',
        'task.started',
        'step.started:pay',
        'payment.gateway.charged:pay',
        'step.completed:pay',
        'step.failed:rogue',
        'task.failed',
      ]);
    });
  });
});
