import { ConfigurationError } from './errors';
import type { StorageConfig } from './storage';
import type { Authenticator, AuthenticatorClass, Authorizer, Logger } from './types';
import { createConsoleLogger, isLogger } from './observability/logger';
import type { Registry } from 'prom-client';
import type { Store } from 'express-rate-limit';

/** Authentication and authorization settings. */
export interface AuthConfig {
  /** A class implementing `authenticate(req)` (constructed with `authenticatorOptions`), or an instance. */
  authenticator?: AuthenticatorClass | Authenticator;
  /** Passed to the authenticator class's constructor, e.g. `{ secret }` for `JwtAuthenticator`. */
  authenticatorOptions?: unknown;
  /** Default: true when an authenticator is given, else false. */
  authenticationEnabled?: boolean;
  /** Default: false. When true, each route checks its permission through `authorizer`. */
  authorizationEnabled?: boolean;
  /** Default: grants what the user's `permissions` claim holds (globs allowed). */
  authorizer?: Authorizer;
}

/** Worker settings: the engine that runs steps inside the host process. */
export interface WorkerConfig {
  /** Start workers in this process. Default true. */
  enabled?: boolean;
  /** Steps run at once by this process. Default 10. */
  concurrency?: number;
  /** How often an idle worker looks for ready steps, in ms. Default 1000 (Postgres LISTEN/NOTIFY and local completions wake it sooner). */
  pollIntervalMs?: number;
  /** How long a claim is valid without a heartbeat, in ms. Default 30000. */
  leaseMs?: number;
  /** How often running steps' leases are extended, in ms. Default leaseMs / 3. */
  heartbeatMs?: number;
  /** How often expired leases are looked for, in ms. Default 5000. */
  reclaimIntervalMs?: number;
  /** How long `close()` lets running steps finish before aborting them, in ms. Default 10000. */
  shutdownTimeoutMs?: number;
  /** Identifies this worker in leases. Default: hostname, pid and a random suffix. */
  id?: string;
}

/** Retry backoff: delay = min(cap, base * factor^(failures - 1)), with jitter. */
export interface RetryConfig {
  /** First retry delay in ms. Default 1000. */
  baseMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Largest delay in ms. Default 300000 (5 minutes). */
  capMs?: number;
  /** Fraction of the delay randomised (0 = none, 1 = "full jitter"). Default 0.5. */
  jitter?: number;
}

/** Prometheus metrics, served at `GET /metrics`. */
export interface MetricsConfig {
  /** Collect metrics and serve `/metrics`. Default true. */
  enabled?: boolean;
  /**
   * A prom-client registry to register Tasker's metrics in, e.g. the host's `register`, so one
   * `/metrics` serves both. Default: a registry of Tasker's own.
   */
  registry?: Registry;
  /** Prefix of every metric name. Default `tasker_`. */
  prefix?: string;
}

/** Health probes (`/health/live`, `/health/ready`). */
export interface HealthConfig {
  /**
   * How long the database may take to answer before `/health/ready` reports it failed (and
   * before the metrics' database gauges give up), in ms. Default 1000.
   */
  timeoutMs?: number;
}

/** Rate limiting of the API (express-rate-limit). Off unless given. */
export interface RateLimitConfig {
  /** Requests allowed per client (the user when authenticated, else the IP) per window. Default 300. */
  limit?: number;
  /** The window, in ms. Default 60000. */
  windowMs?: number;
  /**
   * An express-rate-limit `Store` shared by all processes (e.g. rate-limit-redis). Default: in
   * memory, so each process counts on its own.
   */
  store?: Store;
}

/** OpenTelemetry tracing through `@opentelemetry/api` (a no-op until the host installs an SDK). */
export interface TracingConfig {
  /** Create spans for requests, tasks and step attempts. Default true. */
  enabled?: boolean;
}

/** Everything `createTasker` accepts. Every key is optional. */
export interface TaskerConfig {
  /** A Knex config or `{ knex }`. Default: SQLite file `tasker.sqlite` in the working directory. */
  storage?: StorageConfig & { migrate?: boolean };
  /** Apply migrations on start. Default true. */
  migrate?: boolean;
  auth?: AuthConfig;
  worker?: WorkerConfig;
  retry?: RetryConfig;
  /** Largest accepted request body (a number of bytes or a string such as '1mb'). Default '1mb'. */
  bodyLimit?: number | string;
  /**
   * Postgres only: a query whose connection stays silent this long (ms) is failed and its
   * connection replaced, so a half-open connection cannot hang requests or workers. Default 5000.
   */
  queryTimeoutMs?: number;
  /** A pino-compatible logger. Default: a console logger printing warnings and errors. */
  logger?: Logger;
  /** The dashboard at `/ui`. Default enabled. */
  dashboard?: { enabled?: boolean };
  /** Prometheus metrics at `/metrics` (permission `tasker.metrics:index`). Default enabled. */
  metrics?: MetricsConfig;
  /** Health probe settings. */
  health?: HealthConfig;
  /** Rate limiting of the API. Default off (`false`); `{}` turns it on with the defaults. */
  rateLimit?: RateLimitConfig | false;
  /** OpenTelemetry spans. Default enabled. */
  tracing?: TracingConfig;
}

/** The configuration after defaults and validation. */
export interface ResolvedConfig {
  storage: StorageConfig | undefined;
  migrate: boolean;
  auth: {
    authenticator?: AuthenticatorClass | Authenticator;
    authenticatorOptions?: unknown;
    authenticationEnabled: boolean;
    authorizationEnabled: boolean;
    authorizer?: Authorizer;
  };
  worker: Required<Omit<WorkerConfig, 'id'>> & { id?: string };
  retry: Required<RetryConfig>;
  bodyLimit: number | string;
  queryTimeoutMs: number;
  logger: Logger;
  dashboard: { enabled: boolean };
  metrics: { enabled: boolean; registry?: Registry; prefix: string };
  health: { timeoutMs: number };
  /** Null when rate limiting is off. */
  rateLimit: { limit: number; windowMs: number; store?: Store } | null;
  tracing: { enabled: boolean };
}

/** The defaults, in one place. */
export const DEFAULT_CONFIG = {
  migrate: true,
  worker: {
    enabled: true,
    concurrency: 10,
    pollIntervalMs: 1000,
    leaseMs: 30_000,
    reclaimIntervalMs: 5000,
    shutdownTimeoutMs: 10_000,
  },
  retry: { baseMs: 1000, factor: 2, capMs: 300_000, jitter: 0.5 },
  bodyLimit: '1mb',
  queryTimeoutMs: 5000,
  dashboard: { enabled: true },
  metrics: { enabled: true, prefix: 'tasker_' },
  health: { timeoutMs: 1000 },
  /** Used when `rateLimit` is given; rate limiting itself is off by default. */
  rateLimit: { limit: 300, windowMs: 60_000 },
  tracing: { enabled: true },
} as const;

function positive(name: string, v: unknown, { allowZero = false, integer = true } = {}): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (integer ? Number.isInteger(v) : true) &&
    (allowZero ? v >= 0 : v > 0);
  if (!ok) {
    throw new ConfigurationError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'}${integer ? ' integer' : ' number'}`,
      { [name]: v },
    );
  }
  return v;
}

/** Applies defaults and validates; throws `ConfigurationError` (CONFIG_INVALID). */
export function resolveConfig(input: TaskerConfig = {}): ResolvedConfig {
  if (typeof input !== 'object' || input === null) {
    throw new ConfigurationError('createTasker expects a configuration object');
  }
  const d = DEFAULT_CONFIG;
  const w = { ...d.worker, ...(input.worker ?? {}) };
  positive('worker.concurrency', w.concurrency);
  positive('worker.pollIntervalMs', w.pollIntervalMs);
  positive('worker.leaseMs', w.leaseMs);
  positive('worker.reclaimIntervalMs', w.reclaimIntervalMs);
  positive('worker.shutdownTimeoutMs', w.shutdownTimeoutMs, { allowZero: true });
  const heartbeatMs = input.worker?.heartbeatMs ?? Math.max(1, Math.floor(w.leaseMs / 3));
  positive('worker.heartbeatMs', heartbeatMs);
  if (heartbeatMs >= w.leaseMs) {
    throw new ConfigurationError('worker.heartbeatMs must be shorter than worker.leaseMs');
  }
  const retry = { ...d.retry, ...(input.retry ?? {}) };
  positive('retry.baseMs', retry.baseMs, { allowZero: true });
  positive('retry.factor', retry.factor, { integer: false });
  positive('retry.capMs', retry.capMs, { allowZero: true });
  if (typeof retry.jitter !== 'number' || retry.jitter < 0 || retry.jitter > 1) {
    throw new ConfigurationError('retry.jitter must be a number from 0 to 1');
  }
  const auth = input.auth ?? {};
  if (auth.authorizer !== undefined && typeof auth.authorizer !== 'function') {
    throw new ConfigurationError('auth.authorizer must be a function');
  }
  if (input.logger !== undefined && !isLogger(input.logger)) {
    throw new ConfigurationError(
      'logger must be pino-compatible: debug, info, warn, error and child methods',
    );
  }
  const metrics = { ...d.metrics, ...(input.metrics ?? {}) };
  if (
    metrics.registry !== undefined &&
    (typeof metrics.registry?.registerMetric !== 'function' ||
      typeof metrics.registry?.metrics !== 'function')
  ) {
    throw new ConfigurationError('metrics.registry must be a prom-client Registry');
  }
  if (typeof metrics.prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(metrics.prefix)) {
    throw new ConfigurationError('metrics.prefix must be a valid Prometheus metric name prefix', {
      'metrics.prefix': metrics.prefix,
    });
  }
  const health = { ...d.health, ...(input.health ?? {}) };
  positive('health.timeoutMs', health.timeoutMs);
  let rateLimit: ResolvedConfig['rateLimit'] = null;
  if (input.rateLimit !== undefined && input.rateLimit !== false) {
    if (typeof input.rateLimit !== 'object' || input.rateLimit === null) {
      throw new ConfigurationError('rateLimit must be an object { limit, windowMs } or false');
    }
    rateLimit = { ...d.rateLimit, ...input.rateLimit };
    positive('rateLimit.limit', rateLimit.limit);
    positive('rateLimit.windowMs', rateLimit.windowMs);
  }
  let storage = input.storage;
  let migrate = input.migrate ?? d.migrate;
  if (storage && 'migrate' in storage) {
    const { migrate: m, ...rest } = storage;
    if (input.migrate === undefined && m !== undefined) migrate = m;
    storage = rest as StorageConfig;
  }
  return {
    storage,
    migrate,
    auth: {
      authenticator: auth.authenticator,
      authenticatorOptions: auth.authenticatorOptions,
      authenticationEnabled: auth.authenticationEnabled ?? auth.authenticator !== undefined,
      authorizationEnabled: auth.authorizationEnabled ?? false,
      authorizer: auth.authorizer,
    },
    worker: { ...w, heartbeatMs },
    retry,
    bodyLimit: input.bodyLimit ?? d.bodyLimit,
    queryTimeoutMs: positive('queryTimeoutMs', input.queryTimeoutMs ?? d.queryTimeoutMs),
    logger: input.logger ?? createConsoleLogger(),
    dashboard: { enabled: input.dashboard?.enabled ?? d.dashboard.enabled },
    metrics: {
      enabled: metrics.enabled !== false,
      prefix: metrics.prefix,
      ...(metrics.registry ? { registry: metrics.registry } : {}),
    },
    health,
    rateLimit,
    tracing: { enabled: input.tracing?.enabled ?? d.tracing.enabled },
  };
}
