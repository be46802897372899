/**
 * The demo host app: an Express app that mounts Tasker at `/tasker` the way a real host would,
 * on embedded SQLite, with JWT authentication, per-route permissions and the demo's handler
 * catalogue (the seed's payments, inventory and notifications namespaces).
 *
 * `server.ts` starts it (`npm run demo`); the acceptance test (test/examples/demo.test.ts)
 * builds it in-process. In your own app, import from `tasker-engine` instead of `../../lib`.
 */
import { resolve } from 'node:path';
import express, { type Express } from 'express';
import {
  createTasker,
  JwtAuthenticator,
  signDevelopmentToken,
  type Logger,
  type StorageConfig,
  type Tasker,
} from '../../lib';
import { registerDemoHandlers } from './handlers';

/**
 * Signs the demo's tokens when `TASKER_DEMO_SECRET` is unset. It is public, so anyone can mint a
 * token with it: fine for a demo bound to localhost, never for anything else.
 */
export const DEV_SECRET = 'tasker-demo-development-secret-change-me-0123456789';

/** Where the demo keeps its data unless told otherwise: `demo.sqlite` in the working directory. */
export const DEFAULT_DEMO_DATABASE = 'demo.sqlite';

/** How long the printed development token is valid. */
export const DEV_TOKEN_TTL = '24h';

/** Options of {@link createDemoApp}. Every key is optional. */
export interface DemoAppOptions {
  /**
   * An SQLite file name (relative to the working directory), `':memory:'`, or any storage config
   * `createTasker` accepts. Default {@link DEFAULT_DEMO_DATABASE}.
   */
  storage?: string | StorageConfig;
  /** The port the app will be served on; only used to write absolute URLs. Default 3000. */
  port?: number;
  /** The JWT secret. Default `TASKER_DEMO_SECRET`, else {@link DEV_SECRET}. */
  secret?: string;
  /** A pino-compatible logger. Default: Tasker's console logger (warnings and errors). */
  logger?: Logger;
}

/** The URLs the demo prints and its index page links to. */
export interface DemoUrls {
  /** Where the app listens, e.g. `http://localhost:3000`. */
  origin: string;
  /** The Tasker REST API's base URL. */
  api: string;
  swaggerUi: string;
  openApi: string;
  dashboard: string;
}

/** What {@link createDemoApp} returns. */
export interface DemoApp {
  /** The host app; Tasker is mounted at `/tasker`. Not listening yet. */
  app: Express;
  tasker: Tasker;
  /** A development JWT (24 h, `permissions: ['tasker.*']`) to paste into curl. */
  token: string;
  /** URLs for {@link DemoAppOptions.port}. */
  urls: DemoUrls;
  /** Stops Tasker's workers (draining running steps) and closes the database. Idempotent. */
  close(): Promise<void>;
}

/** The mount point of Tasker in the demo app. */
export const MOUNT_PATH = '/tasker';

/** The demo's URLs for a port. `localhost`, since the server binds to the loopback interface. */
export function demoUrls(port: number): DemoUrls {
  const origin = `http://localhost:${port}`;
  const api = `${origin}${MOUNT_PATH}`;
  return {
    origin,
    api,
    swaggerUi: `${api}/api-docs`,
    openApi: `${api}/api-docs.json`,
    dashboard: `${api}/ui`,
  };
}

function storageConfig(storage: DemoAppOptions['storage']): StorageConfig {
  if (storage === undefined || typeof storage === 'string') {
    const file = storage ?? DEFAULT_DEMO_DATABASE;
    // Resolved now, so the file does not move if the host changes directory later.
    const filename = file === ':memory:' ? file : resolve(process.cwd(), file);
    return { client: 'better-sqlite3', connection: { filename } };
  }
  return storage;
}

/**
 * Builds the demo app and waits until Tasker is ready (migrations applied, workers running).
 * The caller listens on it: `app.listen(port)`.
 */
export async function createDemoApp(options: DemoAppOptions = {}): Promise<DemoApp> {
  const secret = options.secret ?? process.env.TASKER_DEMO_SECRET ?? DEV_SECRET;
  const urls = demoUrls(options.port ?? 3000);

  const tasker = createTasker({
    storage: storageConfig(options.storage),
    auth: {
      authenticator: JwtAuthenticator,
      // The algorithm list is explicit so a token signed any other way (or with `none`) fails.
      authenticatorOptions: { secret, algorithms: ['HS256'] },
      // On, so the token's `permissions` claim is what grants access, as in production.
      authorizationEnabled: true,
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  registerDemoHandlers(tasker);
  try {
    await tasker.ready;
  } catch (err) {
    await tasker.close();
    throw err;
  }

  const token = signDevelopmentToken(
    secret,
    { sub: 'demo-user', name: 'Tasker demo', permissions: ['tasker.*'] },
    { expiresIn: DEV_TOKEN_TTL },
  );

  const app = express();
  app.disable('x-powered-by');
  app.get('/', (req, res) => {
    // Links are relative to the request, so they work whatever host name or port was used.
    const links = {
      api: MOUNT_PATH,
      handlers: `${MOUNT_PATH}/handlers`,
      tasks: `${MOUNT_PATH}/tasks`,
      swagger_ui: `${MOUNT_PATH}/api-docs`,
      openapi: `${MOUNT_PATH}/api-docs.json`,
      dashboard: `${MOUNT_PATH}/ui`,
    };
    const body = {
      name: 'Tasker demo',
      description: 'tasker-engine mounted at /tasker with the seed handler catalogue',
      // The token itself is printed on the console only: this page needs no authentication.
      authentication: 'Authorization: Bearer <the token printed by npm run demo>',
      links,
    };
    res.format({
      'application/json': () => res.json(body),
      'text/html': () => res.type('html').send(indexHtml(links)),
      default: () => res.json(body),
    });
  });
  app.use(MOUNT_PATH, tasker);

  return { app, tasker, token, urls, close: () => tasker.close() };
}

function indexHtml(links: Record<string, string>): string {
  const items = Object.entries(links)
    .map(([label, href]) => `<li><a href="${href}">${label.replace('_', ' ')}</a> ${href}</li>`)
    .join('\n      ');
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Tasker demo</title></head>
  <body>
    <h1>Tasker demo</h1>
    <p>Tasker is mounted at <code>${MOUNT_PATH}</code>. API routes need the
      <code>Authorization: Bearer &lt;token&gt;</code> header; the token is printed on the
      console by <code>npm run demo</code>.</p>
    <ul>
      ${items}
    </ul>
  </body>
</html>
`;
}

/**
 * The text `server.ts` prints: the URLs, the token, a curl line that works when pasted, and the
 * seed's "Complete Handler Discovery Workflow" with the real token and port.
 */
export function demoBanner(urls: DemoUrls, token: string): string {
  const auth = `-H "Authorization: Bearer ${token}"`;
  // URLs with a query string are quoted: zsh would otherwise treat `?` as a glob and refuse.
  return [
    'Tasker demo is running.',
    '',
    `  API base URL:  ${urls.api}`,
    `  Swagger UI:    ${urls.swaggerUi}`,
    `  OpenAPI:       ${urls.openApi}`,
    `  Dashboard:     ${urls.dashboard}`,
    '',
    `Development token (HS256, expires in ${DEV_TOKEN_TTL}, permissions ["tasker.*"]):`,
    '',
    `  ${token}`,
    '',
    'Try it:',
    '',
    `  curl ${auth} ${urls.api}/handlers`,
    '',
    'Complete Handler Discovery Workflow:',
    '',
    `  TOKEN=${token}`,
    '',
    '  # 1. List all namespaces',
    `  curl -H "Authorization: Bearer $TOKEN" \\`,
    `    ${urls.api}/handlers`,
    '',
    '  # 2. Explore handlers in payments namespace',
    `  curl -H "Authorization: Bearer $TOKEN" \\`,
    `    ${urls.api}/handlers/payments`,
    '',
    '  # 3. Get detailed handler information with dependency graph',
    `  curl -H "Authorization: Bearer $TOKEN" \\`,
    `    "${urls.api}/handlers/payments/process_payment?version=2.1.0"`,
    '',
    '  # 4. Create a task using discovered handler (copy the "id" of the answer)',
    `  curl -X POST -H "Authorization: Bearer $TOKEN" \\`,
    `    -H "Content-Type: application/json" \\`,
    `    -d '{"name": "process_payment", "namespace": "payments", "version": "2.1.0", "context": {"payment_id": 123}}' \\`,
    `    ${urls.api}/tasks`,
    '',
    '  # 5. Monitor task progress (set TASK_ID to the id from step 4 first)',
    `  curl -H "Authorization: Bearer $TOKEN" \\`,
    `    "${urls.api}/tasks/$TASK_ID?include_dependencies=true"`,
    '',
    'Press Ctrl+C to stop.',
  ].join('\n');
}
