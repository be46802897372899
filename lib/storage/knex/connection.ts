import knexFactory, { type Knex } from 'knex';
import { ConfigurationError } from '../../errors';

/** Storage configuration: any Knex config, or an existing Knex instance. */
export type StorageConfig = Knex.Config | { knex: Knex };

/** A Knex instance with what Tasker needs to know about it. */
export interface Connection {
  knex: Knex;
  dialect: 'sqlite' | 'postgres';
  /** True when Tasker created the instance and so destroys it on close. */
  owned: boolean;
  /** Set while long statements (migrations) run: the half-open guard leaves them alone. */
  guard: { paused: boolean };
}

function dialectOf(client: unknown): 'sqlite' | 'postgres' {
  const name = typeof client === 'string' ? client : (client as { dialect?: string })?.dialect;
  if (name === 'better-sqlite3' || name === 'sqlite3' || name === 'sqlite') return 'sqlite';
  if (name === 'pg' || name === 'postgres' || name === 'postgresql' || name === 'pgnative') {
    return 'postgres';
  }
  throw new ConfigurationError(
    `Unsupported storage client '${String(name)}': use 'better-sqlite3' or 'pg'`,
  );
}

/** The default storage: an SQLite file in the working directory. */
export const DEFAULT_STORAGE: Knex.Config = {
  client: 'better-sqlite3',
  connection: { filename: 'tasker.sqlite' },
};

/** Creates (or adopts) the Knex instance described by `config`. */
export function openConnection(
  config: StorageConfig | undefined,
  queryTimeoutMs = 5000,
): Connection {
  if (config && 'knex' in config && config.knex) {
    const knex = config.knex;
    return {
      knex,
      dialect: dialectOf(knex.client.config?.client ?? knex.client),
      owned: false,
      guard: { paused: false },
    };
  }
  const cfg: Knex.Config = { ...((config as Knex.Config | undefined) ?? DEFAULT_STORAGE) };
  if (!cfg.client) throw new ConfigurationError('storage.client is required');
  const dialect = dialectOf(cfg.client);
  // An unreachable database must fail a request quickly, not hang it for Knex's 60 s default.
  cfg.acquireConnectionTimeout ??= 5000;
  if (dialect === 'sqlite') {
    cfg.useNullAsDefault = true;
    const pool = { ...(cfg.pool ?? {}) };
    const userAfterCreate = pool.afterCreate as
      ((conn: any, done: (err: Error | null, conn: any) => void) => void) | undefined;
    pool.afterCreate = (conn: any, done: (err: Error | null, conn: any) => void) => {
      try {
        // WAL lets readers proceed during a write; busy_timeout makes a second process wait
        // for the write lock instead of failing at once.
        conn.pragma('journal_mode = WAL');
        conn.pragma('synchronous = NORMAL');
        conn.pragma('busy_timeout = 5000');
        conn.pragma('foreign_keys = ON');
      } catch (err) {
        done(err as Error, conn);
        return;
      }
      if (userAfterCreate) userAfterCreate(conn, done);
      else done(null, conn);
    };
    cfg.pool = pool;
  }
  const guard = { paused: false };
  if (dialect === 'postgres') {
    guardHalfOpen(cfg, queryTimeoutMs, guard);
    // A connect that gets no answer (a half-open path) fails instead of pending forever.
    if (typeof cfg.connection === 'string') {
      cfg.connection = {
        connectionString: cfg.connection,
        connectionTimeoutMillis: queryTimeoutMs,
      };
    } else if (cfg.connection && typeof cfg.connection === 'object') {
      cfg.connection = {
        connectionTimeoutMillis: queryTimeoutMs,
        ...cfg.connection,
      };
    }
  }
  return { knex: knexFactory(cfg), dialect, owned: true, guard };
}

/**
 * A Postgres connection whose peer vanished without closing it (a dropped NAT entry, a failed
 * proxy) makes a query wait forever: TCP never reports it while nothing is sent. Each pooled
 * connection's socket gets an idle timeout; when it fires while a query is in flight, the socket
 * is destroyed, the query fails (503 STORAGE_UNAVAILABLE in the API, a retry in the engine) and
 * the pool replaces the connection. Idle connections are left alone.
 */
function guardHalfOpen(cfg: Knex.Config, queryTimeoutMs: number, guard: { paused: boolean }): void {
  // Idle connections are recycled rather than kept forever (Knex keeps `min: 2` by default), so
  // one that went half-open while idle is not handed to the next request.
  const pool = { min: 0, idleTimeoutMillis: 10_000, ...(cfg.pool ?? {}) };
  const userAfterCreate = pool.afterCreate as
    ((conn: any, done: (err: Error | null, conn: any) => void) => void) | undefined;
  pool.afterCreate = (conn: any, done: (err: Error | null, conn: any) => void) => {
    const stream = conn?.connection?.stream;
    if (stream && typeof stream.setTimeout === 'function') {
      stream.setKeepAlive?.(true, 10_000);
      stream.setTimeout(queryTimeoutMs);
      stream.on('timeout', () => {
        const busy = Boolean(conn._activeQuery) || (conn._queryQueue?.length ?? 0) > 0;
        if (busy && !guard.paused) {
          stream.destroy(
            Object.assign(new Error(`Postgres did not answer within ${queryTimeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          );
        }
      });
    }
    if (userAfterCreate) userAfterCreate(conn, done);
    else done(null, conn);
  };
  cfg.pool = pool;
}
