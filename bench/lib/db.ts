/**
 * Databases for the benchmarks. Each `npm run bench` creates a Postgres database of its own
 * (`tasker_bench_<random>`, dropped at the end) so the NOTIFY traffic of tests running on the
 * shared `test` database cannot wake the engines under test; every engine gets a fresh schema
 * in it per round. When the role may not create databases, schemas in the configured database
 * are used instead. SQLite runs get a fresh file in a temp directory per round.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';

/** The Postgres server the benchmarks use (the same variable as the tests). */
export const BASE_URL =
  process.env.TASKER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A random lowercase hex suffix for schema and database names. */
export function rand(bytes = 4): string {
  return randomBytes(bytes).toString('hex');
}

/** `url` pointing at database `db`. */
export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** `url` whose connections use `schema` first (for clients without a schema option). */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** The bench database and the schemas and files made in it during one run. */
export class BenchDatabases {
  private readonly schemas = new Set<string>();
  private readonly dirs: string[] = [];
  private adminKnex: Knex | null = null;

  private constructor(
    /** Connection string of the bench database. */
    readonly url: string,
    /** The database created for this run, or null when schemas live in the base database. */
    private readonly createdDb: string | null,
  ) {}

  /** Creates the run's database (or falls back to the base database). */
  static async open(log: (line: string) => void = () => {}): Promise<BenchDatabases> {
    const name = `tasker_bench_${rand()}`;
    const base = knexFactory({ client: 'pg', connection: BASE_URL, pool: { min: 0, max: 1 } });
    try {
      await base.raw(`CREATE DATABASE ${name}`);
      return new BenchDatabases(withDatabase(BASE_URL, name), name);
    } catch (err) {
      log(`could not create a bench database (${(err as Error).message}); using schemas in it`);
      return new BenchDatabases(BASE_URL, null);
    } finally {
      await base.destroy();
    }
  }

  /** A Knex instance on the bench database for setup and clean-up (1 connection). */
  admin(): Knex {
    this.adminKnex ??= knexFactory({
      client: 'pg',
      connection: this.url,
      pool: { min: 0, max: 2 },
    });
    return this.adminKnex;
  }

  /** Creates an empty schema `<prefix>_<random>` and returns its name. */
  async freshSchema(prefix = 'b'): Promise<string> {
    const name = `${prefix}_${rand()}`;
    await this.admin().raw(`CREATE SCHEMA ${name}`);
    this.schemas.add(name);
    return name;
  }

  /** A schema name for a client that creates its schema itself; dropped like the others. */
  reserveSchema(prefix: string): string {
    const name = `${prefix}_${rand()}`;
    this.schemas.add(name);
    return name;
  }

  /** Drops a schema made by {@link freshSchema} or {@link reserveSchema}. */
  async dropSchema(name: string): Promise<void> {
    this.schemas.delete(name);
    await this.admin().raw(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  }

  /** Knex storage config for Tasker confined to `schema` (Knex's default pool unless given). */
  pgStorage(schema: string, pool?: Knex.PoolConfig): Knex.Config {
    return {
      client: 'pg',
      connection: this.url,
      searchPath: [schema],
      ...(pool ? { pool } : {}),
    };
  }

  /** A fresh SQLite file path in a temp directory removed at the end. */
  sqliteFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tasker-bench-'));
    this.dirs.push(dir);
    return join(dir, 'tasker.sqlite');
  }

  /** Knex storage config for Tasker on SQLite file `filename`. */
  static sqliteStorage(filename: string): Knex.Config {
    return { client: 'better-sqlite3', connection: { filename } };
  }

  /** Drops everything made during the run (the whole database when one was created). */
  async close(): Promise<void> {
    for (const s of [...this.schemas]) {
      await this.dropSchema(s).catch(() => {});
    }
    if (this.adminKnex) await this.adminKnex.destroy();
    this.adminKnex = null;
    if (this.createdDb) {
      const base = knexFactory({ client: 'pg', connection: BASE_URL, pool: { min: 0, max: 1 } });
      try {
        await base.raw(`DROP DATABASE IF EXISTS ${this.createdDb} WITH (FORCE)`);
      } finally {
        await base.destroy();
      }
    }
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
