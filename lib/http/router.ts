import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { AuthenticationError, AuthorizationError, TaskerError } from '../errors';
import { isStorageUnavailable } from '../storage/errors';
import type {
  Authenticator,
  Authorizer,
  AuthorizationResource,
  Logger,
  TaskerUser,
} from '../types';
import { buildOpenApi, type ExtraOperation } from './openapi';
import { ROUTES, type RouteApi, type RouteDef } from './routes';

/** What the router needs from the rest of Tasker. */
export interface RouterDeps {
  api: Omit<RouteApi, 'authorize'>;
  logger: Logger;
  bodyLimit: number | string;
  authenticator?: Authenticator;
  authenticationEnabled: boolean;
  authorizationEnabled: boolean;
  authorizer: Authorizer;
  version: string;
  /** Routes added by other parts (health, metrics, dashboard), mounted before the 404. */
  extensions?: RouterExtension[];
}

/** A part that adds its own routes (and documents them in OpenAPI). */
export interface RouterExtension {
  operations: ExtraOperation[];
  /** Runs first on every request (e.g. metrics timing, tracing, rate limiting). */
  before?: (req: Request, res: Response, next: NextFunction) => void;
  mount(router: Router, helpers: RouterHelpers): void;
}

/** Helpers for extensions: the same auth as the API's routes. */
export interface RouterHelpers {
  /** Middleware: 401 unless authenticated (when authentication is on), then 403 unless allowed. */
  guard(permission: string): (req: Request, res: Response, next: NextFunction) => void;
}

/** Path prefixes the router answers 404 for when nothing matched; others pass to the host. */
const OWN_PREFIXES = ['/handlers', '/tasks', '/api-docs', '/health', '/metrics', '/ui'];

/** Turns any error into the envelope and its status. Never leaks a stack trace. */
export function toEnvelope(err: unknown, logger: Logger): { status: number; body: unknown } {
  let e: TaskerError;
  const type = (err as { type?: string } | null)?.type;
  if (err instanceof TaskerError) e = err;
  else if (type === 'entity.parse.failed') {
    e = new TaskerError('INVALID_JSON', 'Malformed JSON in request body');
  } else if (type === 'entity.too.large') {
    e = new TaskerError('PAYLOAD_TOO_LARGE', 'Request body is larger than the limit');
  } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    e = new TaskerError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported request body encoding');
  } else if (
    type === 'request.aborted' ||
    type === 'request.size.invalid' ||
    type === 'stream.encoding.set'
  ) {
    e = new TaskerError('INVALID_JSON', 'The request body could not be read');
  } else if (err instanceof URIError && (err as { status?: number }).status === 400) {
    // Express could not percent-decode a path parameter (e.g. `/tasks/%E0%A4%A`).
    e = new TaskerError('INVALID_PARAMETER', 'Malformed percent-encoding in the URL path');
  } else if (isStorageUnavailable(err)) {
    logger.warn({ err }, 'storage unavailable');
    e = new TaskerError('STORAGE_UNAVAILABLE', 'Storage is unavailable; retry later');
  } else {
    logger.error({ err }, 'unhandled error in Tasker API');
    e = new TaskerError('INTERNAL_ERROR', 'Internal server error');
  }
  return {
    status: e.status,
    body: {
      error: {
        type: e.type,
        message: e.message,
        ...(e.details !== undefined ? { details: e.details } : {}),
        code: e.code,
      },
    },
  };
}

/** Builds the Express Router serving the REST API, the OpenAPI document and Swagger UI. */
export function createRouter(deps: RouterDeps): Router {
  const router = express.Router();
  const extensions = deps.extensions ?? [];
  for (const ext of extensions) if (ext.before) router.use(ext.before);

  const authenticate = async (req: Request, res: Response): Promise<TaskerUser> => {
    if (res.locals.taskerUser) return res.locals.taskerUser as TaskerUser;
    let user: TaskerUser | null = {};
    if (deps.authenticationEnabled && deps.authenticator) {
      try {
        user = await deps.authenticator.authenticate(req);
      } catch (err) {
        deps.logger.warn({ err }, 'authenticator threw; treating the request as unauthenticated');
        user = null;
      }
      if (!user) throw new AuthenticationError();
    }
    res.locals.taskerUser = user;
    return user;
  };
  const check = async (user: TaskerUser, permission: string, resource: AuthorizationResource) => {
    if (!deps.authorizationEnabled) return;
    if (!(await deps.authorizer(user, permission, resource))) {
      throw new AuthorizationError(permission);
    }
  };
  const helpers: RouterHelpers = {
    guard: (permission) => (req, res, next) => {
      authenticate(req, res)
        .then((user) => check(user, permission, {}))
        .then(() => next(), next);
    },
  };

  const json = express.json({
    limit: deps.bodyLimit,
    type: ['application/json', 'application/*+json'],
  });
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 ||
      req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is(['application/json', 'application/*+json'])) {
      next(new TaskerError('UNSUPPORTED_MEDIA_TYPE', 'Request body must be application/json'));
    } else next();
  };

  const handle = (route: RouteDef) => (req: Request, res: Response, next: NextFunction) => {
    authenticate(req, res)
      .then((user) => {
        const api: RouteApi = {
          ...deps.api,
          authorize: (resource) => check(user, route.permission, resource),
        };
        return route.handle(req, api);
      })
      .then((result) => {
        if (result.serialized) {
          // Express skips its own ETag when one is set, and still answers 304 to a match.
          res
            .status(result.status)
            .set('ETag', result.serialized.etag)
            .type('application/json; charset=utf-8')
            .send(result.serialized.json);
        } else {
          res.status(result.status).json(result.body);
        }
      })
      .catch(next);
  };
  // Authentication runs before the body is read, so a caller without credentials gets 401
  // whatever it sent, and the API never parses bodies for anonymous clients.
  const authenticateFirst = (req: Request, res: Response, next: NextFunction) => {
    authenticate(req, res).then(() => next(), next);
  };
  for (const route of ROUTES) {
    const chain = route.body
      ? [authenticateFirst, requireJson, json, handle(route)]
      : [handle(route)];
    router[route.method](route.path, ...chain);
  }

  const extraOps = extensions.flatMap((e) => e.operations);
  const docOps: ExtraOperation[] = [
    ...extraOps,
    {
      method: 'get',
      path: '/api-docs.json',
      summary: 'This OpenAPI document',
      tag: 'Docs',
      contentType: 'application/json',
      secured: false,
    },
    {
      method: 'get',
      path: '/api-docs',
      summary: 'Swagger UI',
      tag: 'Docs',
      contentType: 'text/html',
      secured: false,
    },
  ];
  router.get('/api-docs.json', (req, res) => {
    res.json(
      buildOpenApi(ROUTES, docOps, {
        serverUrl: req.baseUrl,
        version: deps.version,
        authenticationEnabled: deps.authenticationEnabled,
      }),
    );
  });
  const swaggerOpts = { swaggerUrl: '../api-docs.json', customSiteTitle: 'Tasker API' };
  router.use(
    '/api-docs',
    (req, res, next) => {
      // Swagger UI's assets are relative URLs: the page must be served with a trailing slash.
      const [path, query] = req.originalUrl.split('?');
      if (req.url === '/' && !path.endsWith('/')) {
        res.redirect(301, `${path}/${query ? `?${query}` : ''}`);
      } else next();
    },
    ...swaggerUi.serveFiles(undefined, swaggerOpts),
    swaggerUi.setup(undefined, swaggerOpts),
  );

  for (const ext of extensions) ext.mount(router, helpers);

  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (OWN_PREFIXES.some((p) => req.path === p || req.path.startsWith(`${p}/`))) {
      next(
        new TaskerError('ROUTE_NOT_FOUND', `No route for ${req.method} ${req.baseUrl}${req.path}`),
      );
    } else next();
  });
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const { status, body } = toEnvelope(err, deps.logger);
    res.status(status).json(body);
  });
  return router;
}
