import type { Logger } from '../types';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * The default logger: one JSON line per entry on stderr, warnings and errors only (set
 * `TASKER_LOG_LEVEL=debug|info` for more). Quiet by default so a host's output stays its own.
 * Values under keys such as `authorization`, `cookie`, `token` or `password` are written as
 * `[redacted]`, so a credential logged by mistake does not reach the output.
 */
export function createConsoleLogger(
  level: Level = (process.env.TASKER_LOG_LEVEL as Level | undefined) ?? 'warn',
  bindings: Record<string, unknown> = {},
): Logger {
  const min = ORDER[level] ?? ORDER.warn;
  const write = (lvl: Level) => (obj: object | string, msg?: string) => {
    if (ORDER[lvl] < min) return;
    const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, ...(msg ? { msg } : {}) };
    const entry = { level: lvl, time: new Date().toISOString(), ...bindings, ...fields };
    process.stderr.write(`${JSON.stringify(entry, errorReplacer)}\n`);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => createConsoleLogger(level, { ...bindings, ...more }),
  };
}

/** Keys whose values never reach the log, whatever object a caller logs. */
const SECRET_KEYS =
  /^(authorization|proxy-authorization|cookie|set-cookie|password|secret|token|access_token|refresh_token|api_key)$/i;

function errorReplacer(key: string, value: unknown): unknown {
  if (key !== '' && SECRET_KEYS.test(key) && value !== undefined && value !== null) {
    return '[redacted]';
  }
  if (value instanceof Error) return { type: value.name, message: value.message };
  return value;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

/** Checks once that a user-supplied logger has the methods Tasker calls. */
export function isLogger(value: unknown): value is Logger {
  const l = value as Record<string, unknown> | null;
  return (
    typeof l === 'object' &&
    l !== null &&
    ['debug', 'info', 'warn', 'error', 'child'].every((m) => typeof l[m] === 'function')
  );
}
