import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, resolve } from 'node:path';
import type { TaskerConfig } from '../config';
import type { Tasker } from '../createTasker';
import { UsageError } from './output';

/**
 * What `--config <file>` exports (as `module.exports` or `export default`), either:
 * - a function `(tasker) => void | Promise<void>` that registers handlers on a Tasker the CLI
 *   creates (the database then comes from `--database` or `TASKER_DATABASE_URL`); or
 * - a Tasker config object (`storage`, `worker`, `logger`, ...) with a `register(tasker)`
 *   method, for a worker whose settings live in code.
 */
export type TaskerModule =
  | ((tasker: Tasker) => void | Promise<void>)
  | (TaskerConfig & { register(tasker: Tasker): void | Promise<void> });

/** A loaded module, normalised. */
export interface LoadedModule {
  /** The config part (empty for the function form). */
  config: TaskerConfig;
  register(tasker: Tasker): Promise<void>;
}

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx']);
const load = createRequire(__filename);

/** Loads a worker or catalogue module (JS, or TS through tsx when installed). */
export function loadTaskerModule(file: string, cwd = process.cwd()): LoadedModule {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new UsageError(`--config: no such file: ${path}`);
  if (TYPESCRIPT.has(extname(path))) {
    try {
      load('tsx/cjs');
    } catch {
      throw new UsageError(`--config: loading TypeScript needs tsx (npm install --save-dev tsx)`);
    }
  }
  const mod = load(path) as { default?: unknown } | undefined;
  const exported: unknown =
    mod && 'default' in mod && mod.default !== undefined ? mod.default : mod;
  if (typeof exported === 'function') {
    const fn = exported as (t: Tasker) => void | Promise<void>;
    return { config: {}, register: async (t) => fn(t) };
  }
  if (
    exported &&
    typeof exported === 'object' &&
    typeof (exported as { register?: unknown }).register === 'function'
  ) {
    const mod = exported as TaskerConfig & { register(t: Tasker): void | Promise<void> };
    const config: TaskerConfig & { register?: unknown } = { ...mod };
    delete config.register;
    return { config, register: async (t) => mod.register(t) };
  }
  throw new UsageError(
    `--config: ${file} must export a function (tasker) => void or a config object with register(tasker)`,
  );
}
