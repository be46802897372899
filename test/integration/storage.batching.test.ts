import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { KnexStorage } from '../../lib/storage/knex/KnexStorage';
import type { NewTask } from '../../lib/storage';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, waitFor } from '../helpers/tasker';

function newTask(id: string = randomUUID()): NewTask {
  return {
    id,
    namespace: 'test',
    name: 'chain',
    version: '1.0.0',
    context: { n: id },
    bypassSteps: [],
    idempotencyKey: null,
    requestHash: null,
    traceContext: null,
    steps: ['a', 'b'].map((name, position) => ({
      name,
      position,
      status: 'pending' as const,
      dependsOn: position === 0 ? [] : ['a'],
      pendingParents: position === 0 ? 0 : 1,
      maxAttempts: 3,
      skippable: false,
    })),
  };
}

forEachDatabase((db) => {
  describe('storage: batched writes', () => {
    let storage: KnexStorage;
    let config: Awaited<ReturnType<typeof db.fresh>>;
    beforeEach(async () => {
      config = await db.fresh();
      storage = new KnexStorage(config);
      await storage.migrate();
    });
    afterEach(() => storage.close());

    it('concurrent creations share one insert: each task is stored whole, in a few statements', async () => {
      let statements = 0;
      storage.knex.on('query', () => statements++);
      const tasks = Array.from({ length: 40 }, () => newTask());
      const results = await Promise.all(tasks.map((t) => storage.createTask(t, Date.now())));
      expect(results.map((r) => r.task.id)).to.deep.equal(tasks.map((t) => t.id));
      expect(results.every((r) => r.created)).to.equal(true);
      expect(statements, 'statements for 40 tasks').to.be.at.most(6);
      for (const t of [tasks[0], tasks[39]]) {
        const steps = await storage.getSteps(t.id);
        expect(steps.map((s) => [s.name, s.status, s.readyAt !== null])).to.deep.equal([
          ['a', 'pending', true],
          ['b', 'pending', false],
        ]);
        expect((await storage.getTransitions(t.id)).map((r) => r.toStatus)).to.deep.equal([
          'pending',
          'pending',
          'pending',
        ]);
      }
    });

    it('a task that fails in a batch fails alone, with its own error; the others are stored', async () => {
      const existing = newTask();
      await storage.createTask(existing, Date.now());
      const good = Array.from({ length: 5 }, () => newTask());
      const outcomes = await Promise.allSettled([
        ...good.map((t) => storage.createTask(t, Date.now())),
        storage.createTask(newTask(existing.id), Date.now()),
      ]);
      expect(outcomes.slice(0, 5).map((o) => o.status)).to.deep.equal(Array(5).fill('fulfilled'));
      expect(outcomes[5].status).to.equal('rejected');
      for (const t of good) expect((await storage.getTask(t.id))?.id).to.equal(t.id);
      // The duplicate id did not touch the first task.
      expect((await storage.getTask(existing.id))?.context).to.deep.equal({ n: existing.id });
      expect(await storage.getSteps(existing.id)).to.have.length(2);
    });

    it('close() writes the creations it already accepted', async () => {
      const tasks = Array.from({ length: 10 }, () => newTask());
      const pending = tasks.map((t) => storage.createTask(t, Date.now()));
      await storage.close();
      expect((await Promise.all(pending)).every((r) => r.created)).to.equal(true);
      storage = new KnexStorage(db.same(config));
      for (const t of tasks) expect((await storage.getTask(t.id))?.status).to.equal('pending');
    });
  });

  describe('engine: completion batches refill free slots', () => {
    it('runs 120 chains on 4 slots: every task starts once, completes once, each step runs once', async () => {
      const runs = new Map<string, number>();
      let running = 0;
      let maxRunning = 0;
      const step = (name: string) => async (ctx: { task: { id: string } }) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const key = `${ctx.task.id}:${name}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1));
        running--;
        return { name };
      };
      const { tasker } = await makeHarness(db, { worker: { concurrency: 4 } }, (t) =>
        t.registerHandler({
          namespace: 'test',
          name: 'chain3',
          version: '1.0.0',
          steps: [
            { name: 'a', handler: step('a') },
            { name: 'b', dependsOn: 'a', handler: step('b') },
            { name: 'c', dependsOn: 'b', handler: step('c') },
          ],
        }),
      );
      const started = new Map<string, number>();
      const completed = new Map<string, number>();
      tasker.events.on('task.started', (e: { taskId: string }) =>
        started.set(e.taskId, (started.get(e.taskId) ?? 0) + 1),
      );
      tasker.events.on('task.completed', (e: { taskId: string }) =>
        completed.set(e.taskId, (completed.get(e.taskId) ?? 0) + 1),
      );
      const ids = (
        await Promise.all(
          Array.from({ length: 120 }, () =>
            tasker.createTask({ namespace: 'test', name: 'chain3', context: {} }),
          ),
        )
      ).map((t) => t.id);
      await waitFor(() => completed.size === 120, 30_000, '120 completed tasks');
      for (const id of ids) {
        expect(started.get(id), `task.started of ${id}`).to.equal(1);
        expect(completed.get(id), `task.completed of ${id}`).to.equal(1);
        for (const s of ['a', 'b', 'c']) expect(runs.get(`${id}:${s}`)).to.equal(1);
      }
      expect(maxRunning, 'step handlers running at once').to.be.at.most(4);
      const page = await tasker.storage.listTasks({ status: 'complete' }, 1, 1);
      expect(page.totalCount).to.equal(120);
    });
  });
});
