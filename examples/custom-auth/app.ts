/**
 * # Custom authentication and namespace-scoped authorization
 *
 * A host app whose callers are services holding API keys rather than users holding JWTs. It
 * shows the two pluggable parts of Tasker's auth:
 *
 * 1. **A custom authenticator**: {@link ApiKeyAuthenticator} reads the `X-Api-Key` header. It is
 *    handed to Tasker as a class plus options, the same way as the default `JwtAuthenticator`:
 *
 *    ```ts
 *    createTasker({
 *      auth: {
 *        authenticator: ApiKeyAuthenticator,
 *        authenticatorOptions: {
 *          keys: { 'key-1': { id: 'billing-service', permissions: ['tasker.*'], namespaces: ['billing'] } },
 *        },
 *        authorizationEnabled: true,
 *        authorizer: namespaceAuthorizer,
 *      },
 *    });
 *    ```
 *
 *    `authenticate(req)` returns the caller (any object; Tasker hands it to the authorizer) or
 *    null, which Tasker answers with a 401 in the usual error envelope.
 *
 * 2. **A custom authorizer**: {@link namespaceAuthorizer} is called for every route with the
 *    route's permission (`tasker.task:create`, ...) and the resource it touches (`namespace`,
 *    `name`, `taskId`). It keeps the default permission check and adds a namespace scope, so the
 *    billing service can run billing tasks but never see the reports namespace (403).
 *
 * The handler catalogue is small on purpose: `billing.send_invoice` and `reports.daily_summary`.
 * Run it with `npx tsx examples/custom-auth/server.ts`; test/examples/custom-auth.test.ts
 * exercises it. In your own app, import from `tasker-engine` instead of `../../lib`.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import express, { type Express, type Request } from 'express';
import {
  ConfigurationError,
  createTasker,
  defaultAuthorizer,
  PERMISSIONS,
  type Authenticator,
  type Authorizer,
  type HandlerDefinition,
  type Logger,
  type StepContext,
  type StorageConfig,
  type Tasker,
  type TaskerUser,
} from '../../lib';

/** What a key grants. */
export interface ApiKeyGrant {
  /** Who holds the key (a service name); shown as the user's `id`. */
  id: string;
  /** Permission strings or globs, as the default authorizer reads them: `tasker.task:*`. */
  permissions: string[];
  /** Namespaces the key may touch; `'*'` for all. Default: none. */
  namespaces?: string[];
}

/** Options of {@link ApiKeyAuthenticator}, passed as `auth.authenticatorOptions`. */
export interface ApiKeyAuthenticatorOptions {
  /** API key to what it grants. Load these from a secret store, not from source code. */
  keys: Record<string, ApiKeyGrant>;
  /** The header carrying the key. Default `X-Api-Key`. */
  header?: string;
}

/** The user {@link ApiKeyAuthenticator} returns. */
export interface ApiKeyUser extends TaskerUser {
  id: string;
  permissions: string[];
  namespaces: string[];
}

const digest = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * Authenticates requests by an API key in a header. Keys are kept by their SHA-256 digest and
 * looked up by the digest of the presented key, so the lookup's timing says nothing about how
 * close a guess came to a real key, and the raw keys are not kept in memory.
 */
export class ApiKeyAuthenticator implements Authenticator {
  private readonly header: string;
  private readonly users = new Map<string, ApiKeyUser>();

  /** @throws ConfigurationError when `keys` is missing or a grant is malformed. */
  constructor(options: ApiKeyAuthenticatorOptions) {
    // Failing here means a typo stops the app at startup instead of locking everyone out later.
    if (!options || typeof options.keys !== 'object' || options.keys === null) {
      throw new ConfigurationError('ApiKeyAuthenticator needs authenticatorOptions.keys');
    }
    this.header = options.header ?? 'X-Api-Key';
    for (const [key, grant] of Object.entries(options.keys)) {
      if (key.length < 8) {
        throw new ConfigurationError(`ApiKeyAuthenticator key of '${grant?.id}' is too short`);
      }
      if (typeof grant?.id !== 'string' || !Array.isArray(grant.permissions)) {
        throw new ConfigurationError('ApiKeyAuthenticator grants need an id and permissions');
      }
      this.users.set(digest(key), {
        id: grant.id,
        permissions: [...grant.permissions],
        namespaces: [...(grant.namespaces ?? [])],
      });
    }
  }

  /** The key's user, or null (Tasker answers 401) when the header is missing or unknown. */
  authenticate(req: Request): ApiKeyUser | null {
    const key = req.get(this.header);
    if (typeof key !== 'string' || key === '') return null;
    return this.users.get(digest(key)) ?? null;
  }
}

/**
 * Grants a permission when the default authorizer does (the user's `permissions` claim holds
 * it) and the resource lies in one of the user's namespaces.
 *
 * Requests that name no namespace need a user scoped to `'*'`, with one exception:
 * `GET /handlers` (`tasker.handler:index` without a namespace) lists the namespace names, which
 * is discovery, not data. `GET /tasks` without `?namespace=` is refused for scoped users, since
 * it would list other namespaces' tasks; they filter by their own namespace instead.
 */
export const namespaceAuthorizer: Authorizer = async (user, permission, resource) => {
  if (!(await defaultAuthorizer(user, permission, resource))) return false;
  const scopes: unknown = user.namespaces;
  const namespaces = Array.isArray(scopes) ? scopes : [];
  if (namespaces.includes('*')) return true;
  if (resource.namespace === undefined) return permission === PERMISSIONS.handlerIndex;
  return namespaces.includes(resource.namespace);
};

/**
 * Keys for trying the example. Real keys are long random strings from a secret store; these
 * are readable so the printed curl lines are easy to follow.
 */
export const EXAMPLE_KEYS: Record<string, ApiKeyGrant> = {
  'billing-key-0001': {
    id: 'billing-service',
    permissions: ['tasker.*'],
    namespaces: ['billing'],
  },
  'reports-key-0002': {
    id: 'reporting-dashboard',
    // Read-only: may browse handlers and tasks of its namespace, never create or cancel.
    permissions: ['tasker.handler:*', 'tasker.task:index', 'tasker.task:show'],
    namespaces: ['reports'],
  },
  'admin-key-0003': { id: 'ops-admin', permissions: ['tasker.*'], namespaces: ['*'] },
};

/** The example's own catalogue: a chain in billing and a fan-in in reports. */
export const CUSTOM_AUTH_HANDLERS: HandlerDefinition[] = [
  {
    namespace: 'billing',
    name: 'send_invoice',
    version: '1.0.0',
    description: 'Render an invoice and email it to the customer',
    contextSchema: {
      type: 'object',
      required: ['invoice_id'],
      properties: { invoice_id: { type: 'string' }, amount: { type: 'number' } },
    },
    steps: [
      {
        name: 'render_invoice',
        description: 'Render the invoice PDF',
        retryable: false,
        handler: async function renderInvoice(ctx: StepContext) {
          return { invoice_id: ctx.task.context.invoice_id, pages: 1 };
        },
      },
      {
        name: 'email_invoice',
        description: 'Email the invoice to the customer',
        dependsOn: 'render_invoice',
        retryLimit: 3,
        customEvents: ['billing.invoice.sent'],
        handler: async function emailInvoice(ctx: StepContext) {
          const invoice = ctx.dependencies.render_invoice;
          ctx.publish('billing.invoice.sent', { invoice_id: invoice.invoice_id });
          return { sent: true, invoice_id: invoice.invoice_id };
        },
      },
    ],
  },
  {
    namespace: 'reports',
    name: 'daily_summary',
    version: '1.0.0',
    description: "Summarise the day's sales and refunds",
    steps: [
      {
        name: 'collect_sales',
        handler: async function collectSales() {
          return { total: 1234.5 };
        },
      },
      {
        name: 'collect_refunds',
        handler: async function collectRefunds() {
          return { total: 56.78 };
        },
      },
      {
        name: 'summarize',
        dependsOn: ['collect_sales', 'collect_refunds'],
        handler: async function summarize(ctx: StepContext) {
          const { collect_sales: sales, collect_refunds: refunds } = ctx.dependencies;
          return { net: Math.round((sales.total - refunds.total) * 100) / 100 };
        },
      },
    ],
  },
];

/** Options of {@link createCustomAuthApp}. */
export interface CustomAuthAppOptions {
  /** An SQLite file name, `':memory:'`, or a storage config. Default `custom-auth.sqlite`. */
  storage?: string | StorageConfig;
  /** API keys. Default {@link EXAMPLE_KEYS}. */
  keys?: Record<string, ApiKeyGrant>;
  logger?: Logger;
}

/** Builds the host app (Tasker at `/tasker`) and waits until Tasker is ready. */
export async function createCustomAuthApp(
  options: CustomAuthAppOptions = {},
): Promise<{ app: Express; tasker: Tasker; close(): Promise<void> }> {
  const storage = options.storage ?? 'custom-auth.sqlite';
  const tasker = createTasker({
    storage:
      typeof storage === 'string'
        ? {
            client: 'better-sqlite3',
            connection: { filename: storage === ':memory:' ? storage : resolve(storage) },
          }
        : storage,
    auth: {
      authenticator: ApiKeyAuthenticator,
      authenticatorOptions: { keys: options.keys ?? EXAMPLE_KEYS },
      authorizationEnabled: true,
      authorizer: namespaceAuthorizer,
    },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  tasker.registerNamespace({ name: 'billing', description: 'Invoicing workflows' });
  tasker.registerNamespace({ name: 'reports', description: 'Reporting workflows' });
  for (const handler of CUSTOM_AUTH_HANDLERS) tasker.registerHandler(handler);
  try {
    await tasker.ready;
  } catch (err) {
    await tasker.close();
    throw err;
  }

  const app = express();
  app.use('/tasker', tasker);
  return { app, tasker, close: () => tasker.close() };
}
