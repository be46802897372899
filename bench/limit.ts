/**
 * Workload 3, the limit: how many single-row insert-then-update transactions per second the
 * same Postgres server takes from Node with the same pool size (10 connections, 10 loops in
 * flight). One transaction per step is what a step could cost at the very least, so this is the
 * ceiling a one-transaction-per-step engine could reach. For scale, the same on SQLite
 * (better-sqlite3, WAL, synchronous=NORMAL, as Tasker opens it) in one connection.
 */
import Database from 'better-sqlite3';
import { Pool } from 'pg';
import { POOL_SIZE } from './lib/engines';
import type { BenchContext, WorkloadResult } from './lib/report';
import { markdownTable } from './lib/report';
import { fmt, median, nowMs } from './lib/stats';

const DDL = (t: string) =>
  `CREATE TABLE ${t} (id BIGSERIAL PRIMARY KEY, task_id TEXT NOT NULL, status TEXT NOT NULL,
     results TEXT, updated_at BIGINT NOT NULL)`;

async function pgRound(url: string, schema: string, ms: number): Promise<number> {
  const pool = new Pool({
    connectionString: url,
    max: POOL_SIZE,
    options: `-c search_path=${schema}`,
  });
  try {
    // Open every connection first, so connecting is not timed.
    const warm = await Promise.all(Array.from({ length: POOL_SIZE }, () => pool.connect()));
    for (const c of warm) c.release();
    let n = 0;
    const end = nowMs() + ms;
    const lane = async (k: number) => {
      const c = await pool.connect();
      try {
        while (nowMs() < end) {
          await c.query('BEGIN');
          const r = await c.query(
            'INSERT INTO steps (task_id, status, updated_at) VALUES ($1, $2, $3) RETURNING id',
            [`t${k}`, 'in_progress', Date.now()],
          );
          await c.query(
            'UPDATE steps SET status = $1, results = $2, updated_at = $3 WHERE id = $4',
            ['complete', 'null', Date.now(), r.rows[0].id],
          );
          await c.query('COMMIT');
          n++;
        }
      } finally {
        c.release();
      }
    };
    const t0 = nowMs();
    await Promise.all(Array.from({ length: POOL_SIZE }, (_, k) => lane(k)));
    return n / ((nowMs() - t0) / 1000);
  } finally {
    await pool.end();
  }
}

function sqliteRound(file: string, ms: number): number {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(DDL('steps').replace('BIGSERIAL PRIMARY KEY', 'INTEGER PRIMARY KEY AUTOINCREMENT'));
    const ins = db.prepare('INSERT INTO steps (task_id, status, updated_at) VALUES (?, ?, ?)');
    const upd = db.prepare('UPDATE steps SET status = ?, results = ?, updated_at = ? WHERE id = ?');
    const tx = db.transaction((k: number) => {
      const id = ins.run(`t${k}`, 'in_progress', Date.now()).lastInsertRowid;
      upd.run('complete', 'null', Date.now(), id);
    });
    let n = 0;
    const t0 = nowMs();
    const end = t0 + ms;
    while (nowMs() < end) tx(n++);
    return n / ((nowMs() - t0) / 1000);
  } finally {
    db.close();
  }
}

export async function runLimit(ctx: BenchContext): Promise<WorkloadResult> {
  const started = Date.now();
  const ms = ctx.quick ? 1000 : 5000;
  const pg: number[] = [];
  const lite: number[] = [];
  for (let r = 1; r <= ctx.rounds; r++) {
    const schema = await ctx.dbs.freshSchema('limit');
    await ctx.dbs.admin().raw(DDL(`${schema}.steps`));
    try {
      pg.push(await pgRound(ctx.dbs.url, schema, ms));
    } finally {
      await ctx.dbs.dropSchema(schema);
    }
    lite.push(sqliteRound(ctx.dbs.sqliteFile(), ms));
    ctx.log(`  round ${r}: postgres ${fmt(pg[r - 1])} tx/s, sqlite ${fmt(lite[r - 1])} tx/s`);
  }
  const pgMedian = median(pg);
  const liteMedian = median(lite);
  ctx.log(
    markdownTable(
      ['database', 'insert+update tx/s (median)', 'rounds'],
      [
        ['Postgres, 10 connections', fmt(pgMedian), pg.map((x) => fmt(x)).join(', ')],
        ['SQLite, 1 connection', fmt(liteMedian), lite.map((x) => fmt(x)).join(', ')],
      ],
    ),
  );
  return {
    name: 'limit',
    elapsedMs: Date.now() - started,
    summary: [
      {
        workload: 'Limit: Postgres insert+update tx/s (pool 10)',
        unit: 'tx/s',
        ours: pgMedian,
        note: 'ceiling for one transaction per step',
      },
      { workload: 'Limit: SQLite insert+update tx/s', unit: 'tx/s', ours: liteMedian },
    ],
    details: { durationMs: ms, poolSize: POOL_SIZE, postgres: pg, sqlite: lite },
  };
}
