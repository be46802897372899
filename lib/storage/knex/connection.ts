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
export function openConnection(config: StorageConfig | undefined): Connection {
  if (config && 'knex' in config && config.knex) {
    const knex = config.knex;
    return { knex, dialect: dialectOf(knex.client.config?.client ?? knex.client), owned: false };
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
  return { knex: knexFactory(cfg), dialect, owned: true };
}
