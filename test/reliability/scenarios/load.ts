/**
 * Scenario 4, load: concurrent clients create tasks against the demo app (examples/demo, JWT
 * auth and authorization on) on Postgres for a fixed time. No 5xx, latency percentiles reported,
 * every created task completes, and the counts agree (client, database, API).
 */
import { EXACT_COUNT_LIMIT } from '../../../lib/storage/knex/KnexStorage';
import { startChild, type Child } from '../../helpers/processes';
import { percentile, progress, round, waitUntil, type ScenarioResult } from '../lib/common';
import { Client, type Exchange } from '../lib/http';
import { createSchema } from '../lib/pg';

export interface LoadOptions {
  clients: number;
  durationMs: number;
  /** How long the created tasks may take to finish after the load stops. */
  drainTimeoutMs: number;
}

/**
 * CI: 50 clients for 10 s. The 30 s makes ~11 000 tasks, which the demo's single worker
 * (default concurrency 10, ~300 steps/s here) needs ~150 s to finish: too long for CI's budget.
 * Soak runs the size and a bigger one.
 */
export const LOAD_CI: LoadOptions = { clients: 50, durationMs: 10_000, drainTimeoutMs: 150_000 };

export const LOAD_SOAK: LoadOptions[] = [
  { clients: 50, durationMs: 30_000, drainTimeoutMs: 600_000 },
  { clients: 100, durationMs: 30_000, drainTimeoutMs: 900_000 },
];

/** Task requests the demo accepts and completes (valid contexts, no permanent failures). */
function body(i: number): Record<string, unknown> {
  switch (i % 4) {
    case 0:
      return {
        namespace: 'payments',
        name: 'process_payment',
        version: '2.1.0',
        context: { payment_id: i, amount: 10 + (i % 490), currency: 'USD', customer_id: i % 97 },
      };
    case 1:
      return {
        namespace: 'payments',
        name: 'process_subscription',
        context: { customer_id: i, plan: 'pro', billing_cycle: 'monthly' },
      };
    case 2:
      return {
        namespace: 'inventory',
        name: 'check_availability',
        context: { skus: [`SKU-${i % 50}`, `SKU-${(i + 7) % 50}`] },
      };
    default:
      return {
        namespace: 'payments',
        name: 'process_payment',
        version: '^2.0.0',
        context: { payment_id: i, amount: 25.5 },
      };
  }
}

export async function load(o: LoadOptions): Promise<ScenarioResult> {
  const log = progress('load');
  const started = Date.now();
  const schema = await createSchema();
  let child: Child | null = null;
  let client: Client | null = null;
  try {
    const app = startChild('test/fixtures/reliability-app.ts', {
      APP: 'demo',
      TASKER_STORAGE: JSON.stringify(schema.config({ min: 0, max: 10 })),
      // Steps take well under a millisecond and the demo's random failures are off: the
      // load measures Tasker, not the simulated gateways.
      TASKER_DEMO_SPEED: '1000',
    });
    child = app;
    await app.waitFor('listening', 60_000);
    const port = Number(/listening (\d+)/.exec(app.output())![1]);
    const token = /token (\S+)/.exec(app.output())![1];
    const c = new Client(
      `http://127.0.0.1:${port}`,
      { authorization: `Bearer ${token}` },
      o.clients,
    );
    client = c;

    const exchanges: Exchange[] = [];
    const ids: string[] = [];
    let sent = 0;
    const loadStart = Date.now();
    const until = loadStart + o.durationMs;
    await Promise.all(
      Array.from({ length: o.clients }, async () => {
        while (Date.now() < until) {
          const x = await c.request('POST', '/tasker/tasks', body(sent++), 30_000);
          exchanges.push(x);
          if (x.status === 201) ids.push((x.body as { id: string }).id);
        }
      }),
    );
    const loadMs = Date.now() - loadStart;
    log(`${exchanges.length} requests in ${loadMs} ms`);

    const byStatus: Record<string, number> = {};
    for (const x of exchanges) {
      const k = x.status === 0 ? `no answer (${x.error})` : String(x.status);
      byStatus[k] = (byStatus[k] ?? 0) + 1;
    }
    const bad = exchanges.filter((x) => x.status !== 201 && x.status !== 429);
    if (bad.length > 0) {
      throw new Error(
        `${bad.length} answers other than 201/429: ${JSON.stringify(byStatus)}; first: ${JSON.stringify(bad[0].body)}`,
      );
    }

    const drainStart = Date.now();
    let lastLog = 0;
    await waitUntil(
      async () => {
        const row = await schema
          .knex('tasker_tasks')
          .whereNot('status', 'complete')
          .count({ n: '*' })
          .first();
        const left = Number(row?.n);
        if (Date.now() - lastLog > 5000) {
          lastLog = Date.now();
          log(`${left} tasks left`);
        }
        return left === 0;
      },
      o.drainTimeoutMs,
      'every created task to complete',
      250,
    );
    const drainMs = Date.now() - drainStart;
    log(`drained in ${drainMs} ms`);
    const dbCount = Number((await schema.knex('tasker_tasks').count({ n: '*' }).first())?.n ?? 0);
    // The API lists every created task exactly once: page through GET /tasks (nothing is
    // created any more, so offsets are stable).
    const listed = new Map<string, number>();
    let apiCount: number | undefined;
    for (let page = 1; ; page++) {
      const x = await c.request(
        'GET',
        `/tasker/tasks?per_page=100&page=${page}`,
        undefined,
        60_000,
      );
      if (x.status !== 200) throw new Error(`GET /tasks page ${page} answered ${x.status}`);
      const body = x.body as { tasks: { id: string }[]; pagination: { total_count: number } };
      apiCount ??= body.pagination.total_count;
      if (body.tasks.length === 0) break;
      for (const t of body.tasks) listed.set(t.id, (listed.get(t.id) ?? 0) + 1);
    }
    const distinct = new Set(ids).size;
    const twice = [...listed.values()].filter((n) => n > 1).length;
    const unlisted = ids.filter((id) => !listed.has(id)).length;
    if (
      distinct !== ids.length ||
      dbCount !== ids.length ||
      listed.size !== ids.length ||
      twice ||
      unlisted
    ) {
      throw new Error(
        `counts disagree: ${ids.length} created (${distinct} distinct), ${dbCount} in the database, ${listed.size} listed by GET /tasks (${unlisted} created but not listed, ${twice} listed twice)`,
      );
    }
    // total_count is exact up to EXACT_COUNT_LIMIT; above it GET /tasks reports an estimate.
    if (ids.length <= EXACT_COUNT_LIMIT && apiCount !== ids.length) {
      throw new Error(`GET /tasks total_count is ${apiCount}, not ${ids.length}`);
    }
    const complete = Number(
      (await schema.knex('tasker_tasks').where('status', 'complete').count({ n: '*' }).first())
        ?.n ?? 0,
    );
    const steps = Number(
      (await schema.knex('tasker_workflow_steps').count({ n: '*' }).first())?.n ?? 0,
    );

    app.proc.kill('SIGTERM');
    const code = await app.exited;
    if (code !== 0) throw new Error(`the demo exited with ${code} on SIGTERM: ${app.output()}`);

    const ms = exchanges.map((x) => x.ms);
    return {
      scenario: 'load',
      size: `${o.clients} clients creating tasks for ${o.durationMs / 1000} s against the demo on Postgres`,
      durationMs: Date.now() - started,
      figures: {
        requests: exchanges.length,
        created: ids.length,
        req_per_s: round(exchanges.length / (loadMs / 1000)),
        p50_ms: round(percentile(ms, 50)),
        p95_ms: round(percentile(ms, 95)),
        p99_ms: round(percentile(ms, 99)),
        max_ms: round(Math.max(...ms)),
        '5xx': 0,
        rate_limited: byStatus['429'] ?? 0,
        completed: complete,
        listed: listed.size,
        total_count: apiCount ?? 'none',
        steps,
        drain_s: round(drainMs / 1000),
      },
    };
  } finally {
    client?.close();
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    await schema.drop();
  }
}
