import type { Knex } from 'knex';
import { transaction } from './tx';

/** A result row as the driver returns it. */
export type Row = Record<string, unknown>;

/**
 * One statement runner for the engine's hot path (claims, completions, task creation), with `?`
 * placeholders on both databases. On Postgres it is Knex's `raw` (Knex numbers the
 * placeholders); on SQLite with better-sqlite3 it runs the statement on the driver's connection
 * directly, with prepared statements cached per connection: Knex compiles and prepares every
 * statement anew, which was most of the engine's CPU time on SQLite.
 */
export interface Exec {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs one statement; returns its rows (a SELECT's, or RETURNING's), else `[]`. */
  all(sql: string, bindings?: readonly unknown[]): Promise<Row[]>;
}

interface Statement {
  reader: boolean;
  all(...params: unknown[]): Row[];
  run(...params: unknown[]): unknown;
}

/** The part of a better-sqlite3 `Database` used here. */
interface SqliteDb {
  prepare(sql: string): Statement;
  inTransaction: boolean;
  pragma?: unknown;
}

const CACHE_LIMIT = 500;
const caches = new WeakMap<object, Map<string, Statement>>();

function prepared(db: SqliteDb, sql: string): Statement {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  let stmt = cache.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    // Statements are keyed by text; texts vary with batch sizes, so the cache is bounded.
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(sql, stmt);
  }
  return stmt;
}

// better-sqlite3 binds numbers, strings, bigints, buffers and null; Knex maps the rest like this.
function bindable(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.valueOf();
  return v;
}

function sqliteExec(db: SqliteDb, knex: Knex): Exec {
  return {
    dialect: 'sqlite',
    all(sql, bindings = []) {
      // Knex's query event, so a host logging Knex's queries still sees these.
      knex.emit('query', { sql, bindings });
      const stmt = prepared(db, sql);
      const params = bindings.map(bindable);
      if (stmt.reader) return Promise.resolve(stmt.all(...params));
      stmt.run(...params);
      return Promise.resolve([]);
    },
  };
}

function knexExec(k: Knex | Knex.Transaction, dialect: 'sqlite' | 'postgres'): Exec {
  return {
    dialect,
    async all(sql, bindings = []) {
      const res: unknown = await k.raw(sql, bindings as Knex.RawBinding[]);
      if (Array.isArray(res)) return res as Row[];
      return (res as { rows?: Row[] }).rows ?? [];
    },
  };
}

interface Pool {
  acquireConnection(): Promise<unknown>;
  releaseConnection(conn: unknown): Promise<unknown>;
}

/** Knex's pool of driver connections (a connection acquired here is the caller's alone). */
export function poolOf(knex: Knex): Pool {
  return knex.client as Pool;
}

/** True for a better-sqlite3 connection (the only SQLite driver the direct path knows). */
function isBetterSqlite(conn: unknown): conn is SqliteDb {
  const c = conn as SqliteDb | null;
  return Boolean(c) && typeof c!.prepare === 'function' && typeof c!.pragma === 'function';
}

/**
 * Runs `fn` in one transaction. SQLite: the pool's connection is held for the whole transaction
 * (Knex's other queries wait for it, as they would for a Knex transaction), which starts with
 * `BEGIN IMMEDIATE` so that another process's writer makes it wait (busy_timeout) rather than
 * fail halfway. Postgres: a Knex transaction, retried on deadlock.
 */
export async function inTransaction<T>(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  fn: (x: Exec) => Promise<T>,
): Promise<T> {
  if (dialect === 'postgres') return transaction(knex, (trx) => fn(knexExec(trx, dialect)));
  const client = poolOf(knex);
  const conn = await client.acquireConnection();
  if (!isBetterSqlite(conn)) {
    await client.releaseConnection(conn);
    return transaction(knex, (trx) => fn(knexExec(trx, dialect)));
  }
  try {
    const x = sqliteExec(conn, knex);
    prepared(conn, 'BEGIN IMMEDIATE').run();
    try {
      const out = await fn(x);
      prepared(conn, 'COMMIT').run();
      return out;
    } catch (err) {
      if (conn.inTransaction) prepared(conn, 'ROLLBACK').run();
      throw err;
    }
  } finally {
    await client.releaseConnection(conn);
  }
}

/**
 * Runs `fn` outside a transaction (each statement on its own; for reads and single
 * statements). SQLite holds the connection for the duration like {@link inTransaction}.
 */
export async function withExec<T>(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  fn: (x: Exec) => Promise<T>,
): Promise<T> {
  if (dialect === 'postgres') return fn(knexExec(knex, dialect));
  const client = poolOf(knex);
  const conn = await client.acquireConnection();
  if (!isBetterSqlite(conn)) {
    await client.releaseConnection(conn);
    return fn(knexExec(knex, dialect));
  }
  try {
    return await fn(sqliteExec(conn, knex));
  } finally {
    await client.releaseConnection(conn);
  }
}

/** `INSERT INTO table (columns) VALUES (?, ...), ...` for rows of objects with those keys. */
export function insertSql(
  table: string,
  rows: Record<string, unknown>[],
): { sql: string; bindings: unknown[] } {
  const columns = Object.keys(rows[0]);
  const one = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${rows.map(() => one).join(', ')}`,
    bindings: rows.flatMap((r) => columns.map((c) => r[c])),
  };
}

/** Inserts rows (all with the same keys) in chunks. */
export async function insertAll(
  x: Exec,
  table: string,
  rows: Record<string, unknown>[],
  chunkSize = 100,
): Promise<void> {
  for (let i = 0; i < rows.length; i += chunkSize) {
    const q = insertSql(table, rows.slice(i, i + chunkSize));
    await x.all(q.sql, q.bindings);
  }
}
