/**
 * Query plans of the engine's hot queries on a large table: fills a fresh Postgres schema (and
 * an SQLite file) with `--steps` workflow steps (default 1,000,000: 250,000 tasks of 4 steps,
 * nearly all finished, a few ready, scheduled or leased) and prints EXPLAIN ANALYZE (Postgres)
 * and EXPLAIN QUERY PLAN (SQLite) for claiming, settling a task, reclaiming leases and paging.
 *
 *   npx tsx bench/plans.ts [--steps 1000000] [--sqlite]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { applyMigrations, TABLES } from '../lib/storage';

const url = process.env.TASKER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const STEPS = arg('steps', 1_000_000);
const TASKS = Math.floor(STEPS / 4);
const KEY = 'bench.chain@1.0.0';

async function fillPostgres(knex: Knex): Promise<void> {
  const now = Date.now();
  await knex.raw(
    `INSERT INTO ${TABLES.tasks} (id, namespace, name, version, status, context, bypass_steps, created_at, updated_at)
     SELECT md5(g::text)::uuid::text, 'bench', 'chain', '1.0.0',
            CASE WHEN g % 1000 = 0 THEN 'in_progress' ELSE 'complete' END, '{}', '[]', ?::bigint - g, ?::bigint - g
     FROM generate_series(1, ?) g`,
    [now, now, TASKS],
  );
  await knex.raw(
    `INSERT INTO ${TABLES.steps} (task_id, name, position, handler_key, status, depends_on, pending_parents,
       ready_at, max_attempts, skippable, fence, lease_owner, lease_expires_at, created_at, updated_at)
     SELECT md5(g::text)::uuid::text, 's' || p, p, ?,
            CASE WHEN g % 1000 = 0 AND p = 0 THEN 'pending'
                 WHEN g % 1000 = 0 AND p = 1 THEN 'in_progress'
                 WHEN g % 1000 = 0 THEN 'pending' ELSE 'complete' END,
            '[]', 0,
            CASE WHEN g % 1000 = 0 AND p = 0 THEN ?::bigint - g ELSE NULL END,
            4, false, 1,
            CASE WHEN g % 1000 = 0 AND p = 1 THEN 'w1' ELSE NULL END,
            CASE WHEN g % 1000 = 0 AND p = 1 THEN ?::bigint + 30000 ELSE NULL END,
            ?::bigint - g, ?::bigint - g
     FROM generate_series(1, ?) g, generate_series(0, 3) p`,
    [KEY, now, now, now, now, TASKS],
  );
  await knex.raw(`ANALYZE ${TABLES.tasks}`);
  await knex.raw(`ANALYZE ${TABLES.steps}`);
}

function queries(knex: Knex, pg: boolean): { title: string; sql: Knex.Sql }[] {
  const now = Date.now();
  // The fill gives task g the id md5(g) as a UUID; task 1000 has live steps.
  const h = createHash('md5').update('1000').digest('hex');
  const anyTask = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  const claim = knex(TABLES.steps)
    .select('id', 'status', 'task_id')
    .whereNotNull('ready_at')
    .where('ready_at', '<=', now)
    .whereIn('handler_key', [KEY])
    .orderBy('ready_at')
    .limit(10);
  if (pg) claim.forUpdate().skipLocked();
  return [
    { title: 'Claim ready steps', sql: claim.toSQL() },
    {
      title: 'Settle a task (read its steps in the completing transaction)',
      sql: knex(TABLES.steps)
        .select('id', 'name', 'status', 'depends_on', 'pending_parents', 'ready_at')
        .where('task_id', anyTask)
        .toSQL(),
    },
    {
      title: 'Reclaim expired leases',
      sql: knex(TABLES.steps)
        .select('id', 'task_id', 'name', 'attempts')
        .whereNotNull('lease_expires_at')
        .where('lease_expires_at', '<', now)
        .where('status', 'in_progress')
        .limit(500)
        .toSQL(),
    },
    {
      title: 'Next scheduled retry',
      sql: knex(TABLES.steps)
        .whereNotNull('ready_at')
        .where('ready_at', '>', now)
        .whereIn('handler_key', [KEY])
        .min({ t: 'ready_at' })
        .toSQL(),
    },
    {
      title: 'GET /tasks page 100 (newest first)',
      sql: knex(TABLES.tasks)
        .select('*')
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(25)
        .offset(2475)
        .toSQL(),
    },
    {
      title: 'GET /tasks?status=in_progress',
      sql: knex(TABLES.tasks)
        .select('*')
        .where('status', 'in_progress')
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(25)
        .toSQL(),
    },
  ];
}

async function main() {
  const schema = `plans_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: url });
  await admin.raw(`CREATE SCHEMA ${schema}`);
  const knex = knexFactory({ client: 'pg', connection: url, searchPath: [schema] });
  try {
    await applyMigrations(knex, 'postgres');
    let t = Date.now();
    await fillPostgres(knex);
    console.log(
      `# Postgres: ${TASKS.toLocaleString()} tasks, ${STEPS.toLocaleString()} steps (filled in ${Date.now() - t} ms)\n`,
    );
    for (const q of queries(knex, true)) {
      const res = await knex.raw(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${q.sql.sql}`,
        q.sql.bindings as any[],
      );
      console.log(
        `## ${q.title}\n\n\`\`\`\n${res.rows.map((r: any) => r['QUERY PLAN']).join('\n')}\n\`\`\`\n`,
      );
    }
    if (process.argv.includes('--sqlite')) {
      const dir = mkdtempSync(join(tmpdir(), 'plans-'));
      const lite = knexFactory({
        client: 'better-sqlite3',
        connection: { filename: join(dir, 'p.sqlite') },
        useNullAsDefault: true,
      });
      await applyMigrations(lite, 'sqlite');
      t = Date.now();
      console.log(`# SQLite: query plans (EXPLAIN QUERY PLAN)\n`);
      for (const q of queries(lite, false)) {
        const rows = await lite.raw(`EXPLAIN QUERY PLAN ${q.sql.sql}`, q.sql.bindings as any[]);
        console.log(
          `## ${q.title}\n\n\`\`\`\n${rows.map((r: any) => r.detail).join('\n')}\n\`\`\`\n`,
        );
      }
      await lite.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await knex.destroy();
    await admin.raw(`DROP SCHEMA ${schema} CASCADE`);
    await admin.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
