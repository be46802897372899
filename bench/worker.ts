/**
 * A worker process for the multi-process benchmarks: a Tasker instance with the benchmark
 * handlers and a running worker, started by the harness with `node --require tsx/cjs`.
 *
 * Environment:
 * - `BENCH_STORAGE`: the Knex storage config, as JSON.
 * - `BENCH_WORKER`: worker config overrides (`concurrency`, `pollIntervalMs`, ...), as JSON.
 * - `BENCH_REPORT`: `tasks` (default) sends `{ type: 'done', at }` per completed task; `steps`
 *   also sends step start and completion times (latency probes); `none` sends nothing.
 *
 * Messages: sends `ready` once the worker runs, `closed` after a `stop` message closed it.
 */
import { createTasker, type WorkerConfig } from '../lib';
import type { StorageConfig } from '../lib/storage';
import { allHandlers } from './lib/handlers';
import { nowMs } from './lib/stats';

const send = (m: Record<string, unknown>) => {
  if (process.send && process.connected) process.send(m);
};

async function main(): Promise<void> {
  const storage = JSON.parse(process.env.BENCH_STORAGE ?? 'null') as StorageConfig | null;
  if (!storage) throw new Error('BENCH_STORAGE is required');
  const worker = JSON.parse(process.env.BENCH_WORKER ?? '{}') as WorkerConfig;
  const report = process.env.BENCH_REPORT ?? 'tasks';
  const probe =
    report === 'steps'
      ? (step: string, taskId: string) => send({ type: 'stepStart', step, taskId, at: nowMs() })
      : undefined;

  const tasker = createTasker({ storage, worker });
  for (const h of allHandlers(probe)) tasker.registerHandler(h);
  if (report !== 'none') {
    tasker.events.on('task.completed', (e: { taskId: string }) =>
      send({ type: 'done', taskId: e.taskId, at: nowMs() }),
    );
  }
  if (report === 'steps') {
    tasker.events.on('step.completed', (e: { taskId: string; stepName?: string }) =>
      send({ type: 'stepDone', taskId: e.taskId, step: e.stepName, at: nowMs() }),
    );
  }
  await tasker.ready;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await tasker.close();
    send({ type: 'closed' });
    process.disconnect?.();
    process.exit(0);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void stop();
  });
  // The harness went away: nothing will ever stop this process otherwise.
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', pid: process.pid, workerId: tasker.engine.workerId });
}

main().catch((err: unknown) => {
  console.error('bench worker failed:', err);
  process.exit(1);
});
