import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { TaskerError } from '../errors';
import type { RouterExtension } from '../http/router';
import type { Authenticator, Logger, TaskerUser } from '../types';
import { PROBE_PATHS } from './health';
import { isOwnPath } from './routes';

/** Dependencies of {@link createRateLimitExtension}. */
export interface RateLimitOptions {
  /** Requests allowed per client per window. */
  limit: number;
  /** The window, in ms. */
  windowMs: number;
  /** An express-rate-limit store shared by processes (e.g. Redis); default in memory. */
  store?: Store;
  /** Set when authentication is on: requests are then counted per user. */
  authenticator?: Authenticator;
  logger: Logger;
}

/** The key a user is counted under: its `sub` (or `id`), else a hash of its claims. */
function userKey(user: TaskerUser): string {
  for (const field of ['sub', 'id', 'user_id', 'email']) {
    const v: unknown = user[field];
    if (typeof v === 'string' || typeof v === 'number') return `user:${String(v)}`;
  }
  return `user#${createHash('sha256').update(JSON.stringify(user)).digest('hex').slice(0, 32)}`;
}

/**
 * Rate limiting of the API through express-rate-limit: per user when the request authenticates,
 * else per client IP (IPv6 grouped by /56). Over the limit, the answer is the error envelope
 * with 429 `RATE_LIMITED` and a `Retry-After` header. Health probes are never limited.
 */
export function createRateLimitExtension(options: RateLimitOptions): RouterExtension {
  const { authenticator, logger } = options;
  const limiter = rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(options.store ? { store: options.store } : {}),
    async keyGenerator(req: Request, res: Response): Promise<string> {
      if (authenticator) {
        let user: TaskerUser | null = null;
        try {
          user = await authenticator.authenticate(req);
        } catch {
          // The router authenticates again and logs why; here it only means "no user".
        }
        if (user) {
          // The router reuses it rather than verifying the token a second time.
          res.locals.taskerUser = user;
          return userKey(user);
        }
      }
      return `ip:${ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`;
    },
    handler(_req: Request, res: Response, next: NextFunction) {
      const after = res.getHeader('Retry-After');
      next(
        new TaskerError(
          'RATE_LIMITED',
          after === undefined
            ? 'Too many requests'
            : `Too many requests; retry after ${String(after)} seconds`,
        ),
      );
    },
    // Our keyGenerator passes IPs through ipKeyGenerator; the source check cannot see that
    // once the code is compiled.
    validate: { keyGeneratorIpFallback: false },
    logger: {
      warn: (err: unknown, msg?: string) => logger.warn({ err }, msg ?? 'rate limiter warning'),
      error: (err: unknown, msg?: string) => logger.error({ err }, msg ?? 'rate limiter error'),
    },
  });
  return {
    operations: [],
    before(req, res, next) {
      if (!isOwnPath(req.path) || PROBE_PATHS.includes(req.path)) {
        next();
        return;
      }
      // express-rate-limit catches its own errors and passes them to next.
      void limiter(req, res, next);
    },
    mount() {},
  };
}
