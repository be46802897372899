import type { Knex } from 'knex';

/** The database did not answer in time. */
export class ProbeTimeoutError extends Error {
  override name = 'ProbeTimeoutError';
}

/** Rejects with {@link ProbeTimeoutError} (`message`) when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeTimeoutError(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `SELECT 1` on a pooled connection within `timeoutMs`. A Postgres connection that does
 * not answer in time is destroyed rather than handed back: after a network failure it may be
 * half-open (the server is gone but no packet says so), and every later query sent on it would
 * wait forever. So probes never leave a pool slot stuck, and each failed probe removes a dead
 * connection from the pool.
 */
export async function probeDatabase(
  knex: Knex,
  dialect: 'sqlite' | 'postgres',
  timeoutMs: number,
): Promise<void> {
  const started = Date.now();
  const message = `the database did not answer within ${timeoutMs} ms`;
  let gaveUp = false;
  const acquiring = knex.client.acquireConnection() as Promise<any>;
  // A connection that arrives after the probe gave up goes straight back to the pool.
  acquiring.then(
    (late: unknown) => {
      if (gaveUp) void knex.client.releaseConnection(late).catch(() => {});
    },
    () => {},
  );
  let conn: any;
  try {
    conn = await withTimeout(acquiring, timeoutMs, message);
  } catch (err) {
    gaveUp = true;
    throw err;
  }
  try {
    const left = Math.max(1, timeoutMs - (Date.now() - started));
    await withTimeout(
      Promise.resolve(knex.select(knex.raw('1 AS ok')).connection(conn)),
      left,
      message,
    );
  } catch (err) {
    if (err instanceof ProbeTimeoutError && dialect === 'postgres') {
      // The pool destroys a connection marked disposed instead of lending it again (the pg
      // dialect marks it so itself when the socket errors); closing the socket ends the query.
      conn.__knex__disposed = err;
      conn.connection?.stream?.destroy?.();
    }
    throw err;
  } finally {
    await knex.client.releaseConnection(conn).catch(() => {});
  }
}
