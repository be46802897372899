import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { StorageConfig } from '../../lib/storage';

/** The Postgres server tests use; `.ci/run` sets it, the default fits the dev machine. */
export const PG_URL =
  process.env.TASKER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A database a test suite runs against. */
export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty database (SQLite file or Postgres schema) for one Tasker instance. */
  fresh(): Promise<StorageConfig>;
  /** Storage config for an existing database made by `fresh` (a second process or instance). */
  same(config: StorageConfig): StorageConfig;
}

let admin: Knex | null = null;
const schemas: string[] = [];
const dirs: string[] = [];

function adminKnex(): Knex {
  admin ??= knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 2 } });
  return admin;
}

/** Creates a Postgres schema of its own for a test and returns its name. */
export async function createSchema(): Promise<string> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await adminKnex().raw(`CREATE SCHEMA ${name}`);
  schemas.push(name);
  return name;
}

/** Postgres Knex config confined to `schema`. */
export function pgConfig(schema: string, pool = { min: 0, max: 5 }): StorageConfig {
  return { client: 'pg', connection: PG_URL, searchPath: [schema], pool };
}

/** A temp directory removed after the run. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tasker-test-'));
  dirs.push(dir);
  return dir;
}

export const sqlite: TestDatabase = {
  name: 'sqlite',
  async fresh() {
    return { client: 'better-sqlite3', connection: { filename: join(tempDir(), 'tasker.sqlite') } };
  },
  same: (c) => ({ ...(c as Knex.Config) }),
};

export const postgres: TestDatabase = {
  name: 'postgres',
  async fresh() {
    return pgConfig(await createSchema());
  },
  same: (c) => ({ ...(c as Knex.Config) }),
};

/** Every database the storage, engine and HTTP suites run on. */
export const DATABASES: TestDatabase[] = [sqlite, postgres];

/** Runs `suite` once per database, in a describe block named after it. */
export function forEachDatabase(suite: (db: TestDatabase) => void): void {
  for (const db of DATABASES) describe(`on ${db.name}`, () => suite(db));
}

// Clean-up once the whole run is over. Schemas of failed runs are dropped too: each test's
// schema has a random name, so nothing collides across runs anyway.
after(async () => {
  if (admin) {
    for (const s of schemas.splice(0)) await admin.raw(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.destroy();
    admin = null;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
