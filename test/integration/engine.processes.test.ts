import { expect } from 'chai';
import type { Knex } from 'knex';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Tasker } from '../../lib';
import { createSchema, pgConfig, tempDir } from '../helpers/databases';
import { startChild, type Child } from '../helpers/processes';
import { makeHarness, waitFor } from '../helpers/tasker';
import { sqlite, postgres } from '../helpers/databases';

const noop = async () => null;
const MIXED = {
  namespace: 'crash',
  name: 'mixed',
  version: '1.0.0',
  steps: [
    { name: 'a', handler: noop },
    { name: 'b', dependsOn: 'a', handler: noop },
    { name: 'c', dependsOn: 'a', handler: noop },
    { name: 'd', dependsOn: ['b', 'c'], handler: noop },
  ],
};

async function createInvocationsTable(knex: Knex) {
  await knex.schema.createTable('test_invocations', (t) => {
    t.increments('id');
    t.string('task_id');
    t.string('step');
    t.integer('attempt');
    t.integer('pid');
    t.bigInteger('started_at');
    t.bigInteger('ended_at').nullable();
  });
}

interface Invocation {
  task_id: string;
  step: string;
  pid: number;
  started_at: number;
  ended_at: number | null;
}

async function checkInvariants(tasker: Tasker, ids: string[], killedPids: Set<number>) {
  const knex = tasker.storage.knex;
  const tasks = await knex('tasker_tasks').whereIn('id', ids).select('status');
  expect(tasks.filter((t) => t.status !== 'complete')).to.have.length(0);
  // Results written exactly once per step: one transition into `complete` each.
  const completions = await knex('tasker_step_transitions')
    .where('to_status', 'complete')
    .whereNotNull('step_name')
    .select('task_id', 'step_name')
    .count({ n: '*' })
    .groupBy('task_id', 'step_name');
  expect(completions).to.have.length(ids.length * 4);
  expect(completions.every((c) => Number(c.n) === 1)).to.equal(true);

  const rows: Invocation[] = (await knex('test_invocations').select('*')).map((r) => ({
    ...r,
    pid: Number(r.pid),
    started_at: Number(r.started_at),
    ended_at: r.ended_at === null ? null : Number(r.ended_at),
  }));
  const byStep = new Map<string, Invocation[]>();
  for (const r of rows) {
    const k = `${r.task_id}/${r.step}`;
    byStep.set(k, [...(byStep.get(k) ?? []), r]);
  }
  let extra = 0;
  for (const list of byStep.values()) {
    if (list.length === 1) continue;
    extra += list.length - 1;
    list.sort((a, b) => a.started_at - b.started_at);
    for (let i = 0; i < list.length - 1; i++) {
      // A repeated invocation is allowed only when the earlier one's process was killed
      // (it never finished); two finished invocations never overlap.
      const earlier = list[i];
      expect(
        killedPids.has(earlier.pid) || earlier.ended_at === null,
        'only killed workers cause re-runs',
      ).to.equal(true);
      if (earlier.ended_at !== null) expect(earlier.ended_at).to.be.at.most(list[i + 1].started_at);
    }
  }
  const steps = await knex('tasker_workflow_steps').whereIn('task_id', ids).select('results');
  const invocationIds = new Set(
    rows.filter((r) => r.ended_at !== null).map((r: any) => Number(r.id)),
  );
  // Every stored result comes from an invocation that ran to its end.
  for (const s of steps) {
    const res = typeof s.results === 'string' ? JSON.parse(s.results) : s.results;
    expect(invocationIds.has(res.invocation)).to.equal(true);
  }
  return { invocations: rows.length, extra };
}

describe('engine: several processes and crashes', function () {
  this.timeout(120_000);
  const children: Child[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  });

  it('on postgres: three workers share 200 tasks; one SIGKILLed mid-step loses nothing', async () => {
    const schema = await createSchema();
    const storage = pgConfig(schema);
    const { tasker } = await makeHarness(postgres, { storage, worker: { enabled: false } }, (t) =>
      t.registerHandler(MIXED),
    );
    await createInvocationsTable(tasker.storage.knex);
    const env = { TASKER_STORAGE: JSON.stringify(storage), LEASE_MS: '2000', CONCURRENCY: '10' };
    for (let i = 0; i < 3; i++) children.push(startChild('test/fixtures/worker.ts', env));
    await Promise.all(children.map((c) => c.waitFor('ready')));
    const ids: string[] = [];
    for (let i = 0; i < 200; i++)
      ids.push((await tasker.createTask({ namespace: 'crash', name: 'mixed' })).id);
    // Kill a worker while it is running steps.
    const victim = children[0];
    await waitFor(
      async () => {
        const n = await tasker.storage
          .knex('test_invocations')
          .where({ pid: victim.proc.pid })
          .whereNull('ended_at')
          .count({ n: '*' })
          .first();
        return Number(n?.n) > 0;
      },
      20_000,
      'victim to be mid-step',
    );
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await waitFor(
      async () => {
        const n = await tasker.storage
          .knex('tasker_tasks')
          .where('status', 'complete')
          .count({ n: '*' })
          .first();
        return Number(n?.n) === 200;
      },
      90_000,
      'all 200 tasks to complete',
    );
    const { extra } = await checkInvariants(tasker, ids, new Set([victim.proc.pid!]));
    expect(extra).to.be.greaterThan(0, 'the killed worker had steps in flight that were re-run');
    const pids = await tasker.storage.knex('test_invocations').distinct('pid');
    expect(pids.length).to.equal(3, 'all three processes did work');
  });

  it('on sqlite: killed mid-run three times and restarted on the same file, finishes every task', async () => {
    const file = join(tempDir(), 'crash.sqlite');
    const storage = { client: 'better-sqlite3', connection: { filename: file } };
    const { tasker } = await makeHarness(sqlite, { storage, worker: { enabled: false } }, (t) =>
      t.registerHandler(MIXED),
    );
    await createInvocationsTable(tasker.storage.knex);
    const ids: string[] = [];
    for (let i = 0; i < 60; i++)
      ids.push((await tasker.createTask({ namespace: 'crash', name: 'mixed' })).id);
    await tasker.close();
    const env = { TASKER_STORAGE: JSON.stringify(storage), LEASE_MS: '800', CONCURRENCY: '5' };
    const killed = new Set<number>();
    for (let round = 0; round < 3; round++) {
      const child = startChild('test/fixtures/worker.ts', env);
      children.push(child);
      await child.waitFor('ready');
      await new Promise((r) => setTimeout(r, 400));
      child.proc.kill('SIGKILL');
      killed.add(child.proc.pid!);
      await child.exited;
    }
    const last = startChild('test/fixtures/worker.ts', env);
    children.push(last);
    await last.waitFor('ready');
    const db = new Database(file, { readonly: true });
    try {
      await waitFor(
        () => {
          const row = db
            .prepare(`SELECT count(*) AS n FROM tasker_tasks WHERE status = 'complete'`)
            .get() as { n: number };
          return row.n === 60;
        },
        60_000,
        'all 60 tasks to complete',
      );
    } finally {
      db.close();
    }
    last.proc.kill('SIGTERM');
    expect(await last.exited).to.equal(0);
    const check = new Database(file);
    expect(check.pragma('integrity_check', { simple: true })).to.equal('ok');
    check.close();
    const { tasker: reader } = await makeHarness(
      sqlite,
      { storage, worker: { enabled: false } },
      (t) => t.registerHandler(MIXED),
    );
    await checkInvariants(reader, ids, killed);
  });
});
