import type { Knex } from 'knex';
import { TABLES } from '../storage';

/** The queue as the gauges show it. */
export interface QueueDepth {
  /** Steps claimable now (ready_at due). */
  ready: number;
  /** Steps leased by a worker: in progress. */
  inProgress: number;
}

/**
 * Two counts that stay cheap however large the tables grow: each predicate repeats the
 * condition of a partial index (`tasker_steps_ready_idx`, `tasker_steps_lease_idx`), so both
 * databases count index entries of live steps only, never finished ones.
 */
export async function readQueueDepth(knex: Knex, now: number): Promise<QueueDepth> {
  const [ready, leased] = await Promise.all([
    knex(TABLES.steps)
      .whereNotNull('ready_at')
      .where('ready_at', '<=', now)
      .count({ n: '*' })
      .first(),
    knex(TABLES.steps).whereNotNull('lease_expires_at').count({ n: '*' }).first(),
  ]);
  return { ready: Number(ready?.n ?? 0), inProgress: Number(leased?.n ?? 0) };
}
