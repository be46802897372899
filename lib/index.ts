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
