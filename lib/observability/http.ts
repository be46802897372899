import { context } from '@opentelemetry/api';
import type { Request } from 'express';
import type { RouterExtension } from '../http/router';
import type { Logger } from '../types';
import type { TaskerMetrics } from './metrics';
import { isOwnPath } from './routes';
import type { TaskerTracing } from './tracing';

/** Dependencies of {@link createRequestObserver}. */
export interface RequestObserverOptions {
  metrics: TaskerMetrics | null;
  tracing: TaskerTracing;
  logger: Logger;
  /** Names a request's route template (see `createRouteNamer`). */
  routeOf: (req: Request, path: string) => string;
}

/**
 * Runs first on every API request: a span per request (active while the request runs), the
 * duration histogram by route template and status, and a debug log line. The line holds the
 * path without its query string and no header, so no credential ever reaches the log.
 */
export function createRequestObserver(options: RequestObserverOptions): RouterExtension {
  const { metrics, tracing, logger, routeOf } = options;
  return {
    operations: [],
    mount() {},
    before(req, res, next) {
      // Captured now: Express rewrites req.url and req.baseUrl as the request moves on.
      const path = req.path;
      if (!isOwnPath(path)) {
        next();
        return;
      }
      const base = req.baseUrl;
      const started = process.hrtime.bigint();
      const span = tracing.startRequest(req);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const route = routeOf(req, path);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        try {
          metrics?.observeRequest(req.method, route, res.statusCode, ms / 1000);
          span?.end(`${base}${route}`, res.statusCode);
        } catch (err) {
          // Runs in a response event: a throw here would crash the host.
          logger.warn({ err }, 'could not record the request in metrics or tracing');
        }
        logger.debug(
          {
            method: req.method,
            path: `${base}${path}`,
            route,
            status: res.statusCode,
            duration_ms: Math.round(ms * 10) / 10,
          },
          'tasker request',
        );
      };
      res.once('finish', finish);
      res.once('close', finish);
      if (span) context.with(span.context, next);
      else next();
    },
  };
}
