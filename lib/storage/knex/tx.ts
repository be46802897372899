import type { Knex } from 'knex';

// Postgres aborts one side of a deadlock (40P01) or a serialisation conflict (40001); the
// transaction did nothing and is safe to run again.
const RETRYABLE = new Set(['40P01', '40001']);

/** Runs `fn` in a transaction, retrying it a few times when Postgres reports a deadlock. */
export function transaction<T>(
  knex: Knex,
  fn: (trx: Knex.Transaction) => Promise<T>,
  attempts = 5,
): Promise<T> {
  return retryOnDeadlock(() => knex.transaction(fn), attempts);
}

/** Runs `op` (one transaction), again after a short pause when Postgres aborted it as a deadlock. */
export async function retryOnDeadlock<T>(op: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      const code = (err as { code?: string } | null)?.code;
      if (i >= attempts || !code || !RETRYABLE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}

/**
 * Inserts rows in chunks inside `trx`. (Knex's own batchInsert waits a timer tick and opens a
 * nested transaction for every call, which costs more than the insert itself.)
 */
export async function insertRows(
  trx: Knex.Transaction,
  table: string,
  rows: Record<string, unknown>[],
  chunkSize = 200,
): Promise<void> {
  for (let i = 0; i < rows.length; i += chunkSize) {
    await trx(table).insert(rows.slice(i, i + chunkSize));
  }
}
