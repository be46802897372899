import { isAbsolute, resolve } from 'node:path';
import type { StorageConfig } from '../storage';
import { UsageError } from './output';

/** The environment variable read when `--database` is not given. */
export const DATABASE_ENV = 'TASKER_DATABASE_URL';

const SQLITE_FILE = /\.(sqlite3?|db)$/i;

/**
 * Turns a `--database` value into a storage config:
 * - `postgres://user:pass@host:5432/db` (or `postgresql://`); `?schema=name` sets the schema;
 * - `sqlite:path/to/file`, `sqlite:///absolute/path` or `sqlite::memory:`;
 * - a path ending `.sqlite`, `.sqlite3` or `.db`.
 * Relative SQLite paths are resolved against `cwd`.
 */
export function parseDatabase(value: string, cwd = process.cwd()): StorageConfig {
  const v = value.trim();
  if (/^postgres(ql)?:\/\//i.test(v)) {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new UsageError(`--database: '${redact(v)}' is not a valid URL`);
    }
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    if (schema !== null && !/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema)) {
      throw new UsageError(`--database: schema '${schema}' is not a plain identifier`);
    }
    return {
      client: 'pg',
      connection: url.toString(),
      ...(schema ? { searchPath: [schema] } : {}),
    };
  }
  let file: string | null = null;
  if (/^sqlite:/i.test(v)) {
    file = v.slice('sqlite:'.length);
    if (file.startsWith('//')) file = file.slice(2);
  } else if (SQLITE_FILE.test(v) && !v.includes('://')) {
    file = v;
  }
  if (file === null || file === '') {
    throw new UsageError(
      `--database must be a postgres:// URL, sqlite:<path>, or a file ending .sqlite or .db (got '${redact(v)}')`,
    );
  }
  const filename = file === ':memory:' || isAbsolute(file) ? file : resolve(cwd, file);
  return { client: 'better-sqlite3', connection: { filename } };
}

/** The value with any password in it replaced, for printing. */
export function redact(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+:)[^@]*@/i, '$1****@');
}

/** A one-line description of a storage config, without secrets. */
export function describeStorage(config: StorageConfig): string {
  const c = config as { client?: unknown; connection?: unknown; searchPath?: unknown };
  if (c.client === 'pg') {
    const conn = typeof c.connection === 'string' ? redact(c.connection) : 'postgres';
    const schema = Array.isArray(c.searchPath) ? ` (schema ${String(c.searchPath[0])})` : '';
    return `${conn}${schema}`;
  }
  const filename = (c.connection as { filename?: unknown } | undefined)?.filename;
  return `sqlite:${typeof filename === 'string' ? filename : '(configured)'}`;
}
