import express, { type Express } from 'express';
import { createTasker, type Tasker } from '../../lib';
import type { TaskerConfig } from '../../lib/config';
import { silentLogger } from '../../lib/observability/logger';
import type { TestDatabase } from './databases';

/** A Tasker mounted at /tasker in a real Express app, on a fresh database. */
export interface Harness {
  app: Express;
  tasker: Tasker;
  close(): Promise<void>;
}

const open: Tasker[] = [];

/** Builds a harness; every harness is closed after each test, so none leaks. */
export async function makeHarness(
  db: TestDatabase,
  config: Omit<TaskerConfig, 'storage'> & { storage?: TaskerConfig['storage'] } = {},
  register?: (t: Tasker) => void,
): Promise<Harness> {
  const tasker = createTasker({
    logger: silentLogger,
    ...config,
    storage: config.storage ?? (await db.fresh()),
    worker: { pollIntervalMs: 100, ...(config.worker ?? {}) },
  });
  open.push(tasker);
  register?.(tasker);
  await tasker.ready;
  const app = express();
  app.use('/tasker', tasker);
  return { app, tasker, close: () => tasker.close() };
}

afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

/** Resolves when `check` returns truthy, polling; rejects after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits for a task to reach one of `statuses`. */
export async function waitForTask(
  tasker: Tasker,
  id: string,
  statuses: string[],
  timeoutMs = 15_000,
) {
  return waitFor(
    async () => {
      const t = await tasker.getTask(id);
      return statuses.includes(t.status) ? t : undefined;
    },
    timeoutMs,
    `task ${id} to reach ${statuses.join('/')}`,
  );
}
