import { createTasker, type Tasker } from '../../createTasker';
import type { TaskerEventPayload } from '../../events/TaskerEvents';
import type { StorageConfig } from '../../storage';
import { DATABASE_ENV, describeStorage, parseDatabase } from '../database';
import { loadTaskerModule } from '../loadModule';
import { UsageError, type Printer } from '../output';

/** Options of `tasker worker`. */
export interface WorkerOptions {
  config: string;
  database?: StorageConfig;
  concurrency?: number;
  /** False with `--no-migrate`. */
  migrate?: boolean;
  /** No line per finished task. */
  quiet?: boolean;
  /** Resolves with the signal that asks the worker to stop. Default: SIGTERM or SIGINT. */
  stopSignal?: Promise<string>;
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      // A second signal while draining exits at once.
      process.once(signal, () => process.exit(1));
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/**
 * `tasker worker`: a process that only runs steps (no HTTP). It registers the handlers of the
 * module, claims their steps until SIGTERM or SIGINT, then drains running steps and exits 0.
 */
export async function worker(opts: WorkerOptions, print: Printer): Promise<number> {
  const stop = opts.stopSignal ?? waitForSignal();
  const mod = loadTaskerModule(opts.config);
  const env = process.env[DATABASE_ENV];
  const storage = opts.database ?? mod.config.storage ?? (env ? parseDatabase(env) : undefined);
  if (!storage) {
    throw new UsageError(
      `no database: pass --database, set storage in ${opts.config}, or set ${DATABASE_ENV}`,
    );
  }
  const tasker: Tasker = createTasker({
    ...mod.config,
    storage,
    migrate: opts.migrate === false ? false : mod.config.migrate,
    worker: {
      ...mod.config.worker,
      enabled: true,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
    },
  });
  try {
    await mod.register(tasker);
    await print.step(`Connecting to ${describeStorage(storage)}`, () => tasker.ready, 'ready');
  } catch (err) {
    await tasker.close();
    throw err;
  }
  const handlerKeys = tasker.registry.handlerKeys();
  print.line(
    `Worker ${tasker.engine.workerId} started: ${handlerKeys.length} handler version(s), ` +
      `concurrency ${tasker.config.worker.concurrency}.`,
  );
  for (const key of handlerKeys) print.line(`  ${key}`);
  if (handlerKeys.length === 0) print.error('Warning: the module registered no handler.');
  if (!opts.quiet) {
    const report = (e: TaskerEventPayload) =>
      print.line(`task ${e.taskId} ${e.namespace}.${e.name}@${e.version}: ${e.event.slice(5)}`);
    for (const event of ['task.completed', 'task.failed', 'task.cancelled']) {
      tasker.events.on(event, report);
    }
  }
  const signal = await stop;
  print.line(
    `Received ${signal}: draining running steps (up to ${tasker.config.worker.shutdownTimeoutMs} ms)...`,
  );
  await tasker.close();
  print.line('Worker stopped.');
  return 0;
}
