/**
 * Fills Tasker's tables with SQL instead of the API (the scale workload's 1M tasks would take far
 * too long through `createTask`): chain tasks of 4 steps, the shape `createTask` writes.
 * Postgres uses `generate_series` with `md5(n)` UUIDs (as bench/plans.ts does); SQLite a
 * recursive CTE with random UUIDs. The transitions table is not filled.
 */
import type { Knex } from 'knex';
import { TABLES } from '../../lib/storage';
import { handlerKey } from './handlers';

const KEY = handlerKey('chain');
const STEPS = 4;

const depends = (pg: boolean) =>
  pg
    ? `CASE WHEN p = 0 THEN '[]' ELSE '["s' || (p - 1) || '"]' END`
    : `CASE WHEN p.p = 0 THEN '[]' ELSE '["s' || (p.p - 1) || '"]' END`;

const SQLITE_UUID = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
  substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`;

const SQLITE_POSITIONS = `(SELECT 0 AS p UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) p`;

/**
 * Adds finished tasks number `from + 1` .. `to` (complete, every step complete, nothing
 * claimable). Task n is created at `now - n` ms, so lower numbers are newer.
 */
export async function fillFinished(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  from: number,
  to: number,
  now: number,
): Promise<void> {
  if (to <= from) return;
  if (dialect === 'postgres') {
    await knex.raw(
      `INSERT INTO ${TABLES.tasks} (id, namespace, name, version, status, context, bypass_steps,
         created_at, updated_at, started_at, completed_at)
       SELECT md5('f' || g)::uuid::text, 'bench', 'chain', '1.0.0', 'complete', '{"i":0}', '[]',
         ?::bigint - g, ?::bigint - g, ?::bigint - g, ?::bigint - g
       FROM generate_series(?::bigint, ?::bigint) g`,
      [now, now, now, now, from + 1, to],
    );
    await knex.raw(
      `INSERT INTO ${TABLES.steps} (task_id, name, position, handler_key, status, depends_on,
         pending_parents, ready_at, attempts, max_attempts, skippable, results, fence,
         started_at, completed_at, created_at, updated_at)
       SELECT md5('f' || g)::uuid::text, 's' || p, p, ?, 'complete', ${depends(true)},
         0, NULL, 1, 4, false, 'null', 1,
         ?::bigint - g, ?::bigint - g, ?::bigint - g, ?::bigint - g
       FROM generate_series(?::bigint, ?::bigint) g, generate_series(0, ${STEPS - 1}) p`,
      [KEY, now, now, now, now, from + 1, to],
    );
    return;
  }
  const before = await maxRowid(knex);
  await knex.raw(
    `WITH RECURSIVE g(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM g WHERE n < ?)
     INSERT INTO ${TABLES.tasks} (id, namespace, name, version, status, context, bypass_steps,
       created_at, updated_at, started_at, completed_at)
     SELECT ${SQLITE_UUID}, 'bench', 'chain', '1.0.0', 'complete', '{"i":0}', '[]',
       ? - n, ? - n, ? - n, ? - n FROM g`,
    [from + 1, to, now, now, now, now],
  );
  await knex.raw(
    `INSERT INTO ${TABLES.steps} (task_id, name, position, handler_key, status, depends_on,
       pending_parents, ready_at, attempts, max_attempts, skippable, results, fence,
       started_at, completed_at, created_at, updated_at)
     SELECT t.id, 's' || p.p, p.p, ?, 'complete', ${depends(false)},
       0, NULL, 1, 4, 0, 'null', 1,
       t.created_at, t.created_at, t.created_at, t.created_at
     FROM ${TABLES.tasks} t, ${SQLITE_POSITIONS}
     WHERE t.rowid > ? ORDER BY t.rowid, p.p`,
    [KEY, before],
  );
}

async function maxRowid(knex: Knex): Promise<number> {
  const rows = await knex.raw(`SELECT COALESCE(MAX(rowid), 0) AS m FROM ${TABLES.tasks}`);
  return Number(rows[0].m);
}

/**
 * Adds `count` pending chain tasks whose first step is claimable (ready since `now - k` ms) and
 * whose other steps wait on their parent, as `createTask` leaves them. `tag` keeps ids apart.
 */
export async function fillPending(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  count: number,
  tag: string,
  now: number,
): Promise<void> {
  if (dialect === 'postgres') {
    await knex.raw(
      `INSERT INTO ${TABLES.tasks} (id, namespace, name, version, status, context, bypass_steps,
         created_at, updated_at)
       SELECT md5(? || g)::uuid::text, 'bench', 'chain', '1.0.0', 'pending', '{"i":0}', '[]',
         ?::bigint + g, ?::bigint + g
       FROM generate_series(1, ?::bigint) g`,
      [tag, now, now, count],
    );
    await knex.raw(
      `INSERT INTO ${TABLES.steps} (task_id, name, position, handler_key, status, depends_on,
         pending_parents, ready_at, max_attempts, skippable, created_at, updated_at)
       SELECT md5(? || g)::uuid::text, 's' || p, p, ?, 'pending', ${depends(true)},
         CASE WHEN p = 0 THEN 0 ELSE 1 END,
         CASE WHEN p = 0 THEN ?::bigint - ?::bigint + g ELSE NULL END,
         4, false, ?::bigint + g, ?::bigint + g
       FROM generate_series(1, ?::bigint) g, generate_series(0, ${STEPS - 1}) p`,
      [tag, KEY, now, count, now, now, count],
    );
    return;
  }
  const before = await maxRowid(knex);
  await knex.raw(
    `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?)
     INSERT INTO ${TABLES.tasks} (id, namespace, name, version, status, context, bypass_steps,
       created_at, updated_at)
     SELECT ${SQLITE_UUID}, 'bench', 'chain', '1.0.0', 'pending', '{"i":0}', '[]', ? + n, ? + n
     FROM g`,
    [count, now, now],
  );
  await knex.raw(
    `INSERT INTO ${TABLES.steps} (task_id, name, position, handler_key, status, depends_on,
       pending_parents, ready_at, max_attempts, skippable, created_at, updated_at)
     SELECT t.id, 's' || p.p, p.p, ?, 'pending', ${depends(false)},
       CASE WHEN p.p = 0 THEN 0 ELSE 1 END,
       CASE WHEN p.p = 0 THEN t.created_at - ? ELSE NULL END,
       4, 0, t.created_at, t.created_at
     FROM ${TABLES.tasks} t, ${SQLITE_POSITIONS}
     WHERE t.rowid > ? ORDER BY t.rowid, p.p`,
    [KEY, count, before],
  );
}

/** Refreshes planner statistics after a fill. */
export async function analyze(knex: Knex, dialect: 'sqlite' | 'postgres'): Promise<void> {
  if (dialect === 'postgres') {
    await knex.raw(`ANALYZE ${TABLES.tasks}`);
    await knex.raw(`ANALYZE ${TABLES.steps}`);
  } else {
    await knex.raw('ANALYZE');
  }
}
