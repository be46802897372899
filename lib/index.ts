/**
 * tasker-engine: Tasker for Node. Public surface only; everything exported here is documented.
 * @packageDocumentation
 */
export { createTasker } from './createTasker';
export type { Tasker, CreateTaskInput, TaskWithSteps } from './createTasker';
export { DEFAULT_CONFIG, resolveConfig } from './config';
export type { TaskerConfig, ResolvedConfig, AuthConfig, WorkerConfig, RetryConfig } from './config';
export { StepHandler } from './StepHandler';
export {
  ERROR_CODES,
  TaskerError,
  ValidationError,
  AuthenticationError,
  AuthorizationError,
  NotFoundError,
  ConflictError,
  ConfigurationError,
  RegistrationError,
  StorageUnavailableError,
  PermanentError,
  StepTimeoutError,
} from './errors';
export type { ErrorCode, ErrorCodeInfo, ErrorDetails } from './errors';
export {
  JwtAuthenticator,
  signDevelopmentToken,
  defaultAuthorizer,
  matchesPermission,
  PERMISSIONS,
} from './auth';
export type { JwtAuthenticatorOptions, Permission } from './auth';
export { HandlerRegistry } from './registry';
export type { NamespaceSummary } from './registry';
export { KnexStorage, MIGRATIONS, TABLES, applyMigrations, migrationStatus } from './storage';
export type {
  Storage,
  StorageConfig,
  StorageCapabilities,
  TaskRecord,
  StepRecord,
  TransitionRecord,
  StepError,
  Migration,
} from './storage';
export { TaskerEvents, LIFECYCLE_EVENTS } from './events/TaskerEvents';
export type { TaskerEventPayload, LifecycleEvent } from './events/TaskerEvents';
export { backoffDelay } from './engine/backoff';
export { createConsoleLogger, silentLogger } from './observability/logger';
export { TASK_STATUSES, STEP_STATUSES } from './types';
export type * from './types';
export { VERSION } from './version';
/**
 * The dashboard as a router extension (`GET <mount>/ui/`). `createTasker` adds it unless
 * `dashboard.enabled` is false; export it to serve the same files from another router.
 */
export { createDashboardExtension } from './dashboard';
export type { DashboardOptions } from './dashboard';
/**
 * Operations settings of {@link TaskerConfig}: `metrics` (Prometheus at `/metrics`), `health`
 * (probe timeout), `rateLimit` (off unless given) and `tracing` (OpenTelemetry spans).
 */
export type { MetricsConfig, HealthConfig, RateLimitConfig, TracingConfig } from './config';
/**
 * The body of `GET /health/live` and `GET /health/ready` (`HealthReport`), and one of its checks
 * (`HealthCheck`: status, time, duration and a message when it failed).
 */
export type { HealthCheck, HealthReport } from './observability';
/**
 * The instrumentation scope name of Tasker's OpenTelemetry spans (`tasker-engine`), e.g. to
 * filter or sample them in the host's SDK setup.
 */
export { TRACER_NAME } from './observability';
/**
 * What a module given to `tasker worker --config` or `tasker handlers --config` exports: a
 * function `(tasker) => void`, or a Tasker config with a `register(tasker)` method.
 */
export type { TaskerModule } from './cli/loadModule';
