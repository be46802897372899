import type { Knex } from 'knex';
import { pgFunctionsSql } from './pgFunctions';

/**
 * Tasker's schema, shipped in code. Migrations are applied by {@link applyMigrations}, which
 * keeps its own bookkeeping table (`tasker_migrations`) so they never mix with the host's
 * Knex migrations.
 */
export interface Migration {
  /** Sortable, unique, never renamed. */
  name: string;
  up(trx: Knex.Transaction): Promise<void>;
}

/** Table names, in one place. */
export const TABLES = {
  migrations: 'tasker_migrations',
  tasks: 'tasker_tasks',
  steps: 'tasker_workflow_steps',
  transitions: 'tasker_step_transitions',
} as const;

/** Every migration, in order. */
export const MIGRATIONS: Migration[] = [
  {
    name: '0001_initial',
    async up(trx) {
      await trx.schema.createTable(TABLES.tasks, (t) => {
        t.string('id', 36).primary();
        t.string('namespace', 255).notNullable();
        t.string('name', 255).notNullable();
        t.string('version', 64).notNullable();
        t.string('status', 32).notNullable();
        t.text('context').notNullable();
        t.text('bypass_steps').notNullable();
        t.string('idempotency_key', 255).nullable().unique();
        t.string('request_hash', 64).nullable();
        t.text('trace_context').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.bigInteger('started_at').nullable();
        t.bigInteger('completed_at').nullable();
        // Every index ends in (created_at, id): GET /tasks pages newest first with that order.
        t.index(['created_at', 'id'], 'tasker_tasks_created_at_idx');
        t.index(['status', 'created_at', 'id'], 'tasker_tasks_status_idx');
        t.index(['namespace', 'name', 'version', 'created_at', 'id'], 'tasker_tasks_handler_idx');
        t.index(['namespace', 'created_at', 'id'], 'tasker_tasks_namespace_idx');
      });
      await trx.schema.createTable(TABLES.steps, (t) => {
        t.bigIncrements('id').primary();
        t.string('task_id', 36).notNullable().references('id').inTable(TABLES.tasks);
        t.string('name', 255).notNullable();
        t.integer('position').notNullable();
        t.string('handler_key', 600).notNullable();
        t.string('status', 32).notNullable();
        t.text('depends_on').notNullable();
        t.integer('pending_parents').notNullable();
        t.bigInteger('ready_at').nullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.integer('failures').notNullable().defaultTo(0);
        t.integer('max_attempts').notNullable();
        t.boolean('skippable').notNullable();
        t.text('results').nullable();
        t.text('last_error').nullable();
        t.bigInteger('next_retry_at').nullable();
        t.bigInteger('started_at').nullable();
        t.bigInteger('completed_at').nullable();
        t.bigInteger('fence').notNullable().defaultTo(0);
        t.string('lease_owner', 255).nullable();
        t.bigInteger('lease_expires_at').nullable();
        t.bigInteger('created_at').notNullable();
        t.bigInteger('updated_at').notNullable();
        t.unique(['task_id', 'name'], { indexName: 'tasker_steps_task_name_uq' });
      });
      // Partial indexes keep the claim and the lease reaper index lookups: only claimable
      // (ready_at set) or leased rows are in them, however many finished steps the table holds.
      await trx.raw(
        `CREATE INDEX tasker_steps_ready_idx ON ${TABLES.steps} (ready_at) WHERE ready_at IS NOT NULL`,
      );
      await trx.raw(
        `CREATE INDEX tasker_steps_lease_idx ON ${TABLES.steps} (lease_expires_at) WHERE lease_expires_at IS NOT NULL`,
      );
      await trx.schema.createTable(TABLES.transitions, (t) => {
        t.bigIncrements('id').primary();
        t.string('task_id', 36).notNullable();
        t.string('step_name', 255).nullable();
        t.string('from_status', 32).nullable();
        t.string('to_status', 32).notNullable();
        t.integer('attempt').nullable();
        t.text('error').nullable();
        t.bigInteger('at').notNullable();
        t.index(['task_id', 'id'], 'tasker_transitions_task_idx');
      });
    },
  },
  {
    // Postgres only: the claim and the batched completion as functions (see pgFunctions.ts).
    // Later changes to them come as new migrations that CREATE OR REPLACE them.
    name: '0002_postgres_functions',
    async up(trx) {
      if (!isPostgres(trx)) return;
      for (const sql of pgFunctionsSql()) await trx.raw(sql);
    },
  },
];

function isPostgres(k: Knex | Knex.Transaction): boolean {
  const client = k.client as { config?: { client?: unknown }; dialect?: string };
  return (
    client.dialect === 'postgresql' ||
    ['pg', 'postgres', 'postgresql'].includes(String(client.config?.client))
  );
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? '';
  // SQLITE_BUSY_SNAPSHOT too: a WAL reader that tried to write after another process did.
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Applies pending migrations. Safe when several processes start at once: on Postgres a
 * transaction-scoped advisory lock (keyed by schema) serialises them and the DDL is
 * transactional, so the waiters see the finished schema; on SQLite the write lock does the same
 * and a busy database is retried.
 */
export async function applyMigrations(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  migrations: Migration[] = MIGRATIONS,
  timeoutMs = 60_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await knex.transaction(async (trx) => {
        if (dialect === 'postgres') {
          await trx.raw(
            `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.${TABLES.migrations}'))`,
          );
        }
        await ensureBookkeeping(trx);
        const done = new Set<string>(
          (await trx(TABLES.migrations).select('name')).map((r: { name: string }) => r.name),
        );
        const applied: string[] = [];
        for (const m of migrations) {
          if (done.has(m.name)) continue;
          await m.up(trx);
          await trx(TABLES.migrations).insert({ name: m.name, applied_at: Date.now() });
          applied.push(m.name);
        }
        return applied;
      });
    } catch (err) {
      if (!isBusy(err) || Date.now() > deadline) throw err;
      await sleep(delay);
    }
  }
}

async function ensureBookkeeping(trx: Knex.Transaction): Promise<void> {
  if (await trx.schema.hasTable(TABLES.migrations)) return;
  await trx.schema.createTable(TABLES.migrations, (t) => {
    t.string('name', 255).primary();
    t.bigInteger('applied_at').notNullable();
  });
}

/** Applied and pending migration names, without applying anything. */
export async function migrationStatus(
  knex: Knex,
  migrations: Migration[] = MIGRATIONS,
): Promise<{ applied: string[]; pending: string[] }> {
  const applied = (await knex.schema.hasTable(TABLES.migrations))
    ? (await knex(TABLES.migrations).select('name').orderBy('name')).map(
        (r: { name: string }) => r.name,
      )
    : [];
  const set = new Set(applied);
  return { applied, pending: migrations.map((m) => m.name).filter((n) => !set.has(n)) };
}
