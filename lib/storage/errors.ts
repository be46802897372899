// Errors that mean "the database is not answering" rather than "the query is wrong". They
// become 503 STORAGE_UNAVAILABLE in the API and make /health/ready fail.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // Postgres: admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions.
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  'SQLITE_BUSY',
]);

/** True when `err` says the database is unreachable or not accepting work. */
export function isStorageUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.message === 'string') {
    const m = e.message;
    if (
      m.includes('Connection terminated') ||
      m.includes('did not answer within') ||
      m.includes('connection timeout') ||
      m.includes('Client has encountered a connection error') ||
      m.includes('terminating connection') ||
      m.includes('the database system is') ||
      m.includes('Unable to acquire a connection')
    ) {
      return true;
    }
  }
  return e.cause !== undefined && e.cause !== err && isStorageUnavailable(e.cause);
}
