/**
 * Every error Tasker raises is a {@link TaskerError} with a stable `code`, an HTTP `status`
 * and a `type` (the seed's error type name). The HTTP layer turns any of them into the seed's
 * envelope `{"error": {"type", "message", "details"?, "code"}}`; unknown errors become
 * `INTERNAL_ERROR` without a stack trace.
 *
 * Codes are never reused. The table {@link ERROR_CODES} is the single source for docs/errors.md
 * (a test keeps the two in step).
 */

/** One row of the error code table. */
export interface ErrorCodeInfo {
  /** HTTP status used when the error reaches the REST API. */
  status: number;
  /** The seed's `type` field. */
  type: string;
  /** What the code means, for the docs. */
  description: string;
}

/** The table of every error code Tasker uses. */
export const ERROR_CODES = {
  INVALID_JSON: {
    status: 400,
    type: 'BadRequest',
    description: 'The request body is not valid JSON.',
  },
  INVALID_PARAMETER: {
    status: 400,
    type: 'BadRequest',
    description: 'A query or path parameter has the wrong type or range.',
  },
  AUTHENTICATION_FAILED: {
    status: 401,
    type: 'AuthenticationError',
    description: 'Authentication is on and the request carries no valid credentials.',
  },
  AUTHORIZATION_FAILED: {
    status: 403,
    type: 'AuthorizationError',
    description: 'The authenticated user lacks the permission the route needs.',
  },
  HANDLER_NOT_FOUND: {
    status: 404,
    type: 'HandlerNotFound',
    description: 'No handler with that namespace, name and version (or range) is registered.',
  },
  NAMESPACE_NOT_FOUND: {
    status: 404,
    type: 'NamespaceNotFound',
    description: 'No handler or namespace with that name is registered.',
  },
  TASK_NOT_FOUND: { status: 404, type: 'TaskNotFound', description: 'No task with that id.' },
  STEP_NOT_FOUND: {
    status: 404,
    type: 'StepNotFound',
    description: 'The task has no workflow step with that name.',
  },
  ROUTE_NOT_FOUND: {
    status: 404,
    type: 'NotFound',
    description: 'No route of the Tasker API matches the method and path.',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    type: 'IdempotencyConflict',
    description: 'The idempotency key was already used with a different request body.',
  },
  INVALID_STATE_TRANSITION: {
    status: 409,
    type: 'InvalidStateTransition',
    description: 'The state machine forbids this move for the task or step in its current state.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    type: 'PayloadTooLarge',
    description: 'The request body is larger than the configured limit (default 1 MB).',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    type: 'UnsupportedMediaType',
    description: 'The request body is not sent as application/json.',
  },
  INVALID_TASK_CONFIG: {
    status: 422,
    type: 'ValidationError',
    description: 'The task request is invalid; `details` lists the problems by field.',
  },
  INVALID_TASK_CONTEXT: {
    status: 422,
    type: 'ValidationError',
    description: "The task context fails the handler's contextSchema; `details` names the paths.",
  },
  INVALID_STEP_RESOLUTION: {
    status: 422,
    type: 'ValidationError',
    description: 'A manual step resolution body is invalid.',
  },
  RATE_LIMITED: {
    status: 429,
    type: 'RateLimited',
    description: 'Too many requests from this user or address; see the Retry-After header.',
  },
  INTERNAL_ERROR: {
    status: 500,
    type: 'InternalError',
    description: 'An unexpected error; details are logged, never returned.',
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    type: 'StorageUnavailable',
    description: 'The database does not answer; retry later.',
  },
  CONFIG_INVALID: {
    status: 500,
    type: 'ConfigurationError',
    description: 'createTasker was given an invalid configuration.',
  },
  REGISTRATION_INVALID: {
    status: 500,
    type: 'RegistrationError',
    description: 'A handler or namespace definition is malformed.',
  },
  REGISTRATION_INVALID_VERSION: {
    status: 500,
    type: 'RegistrationError',
    description: 'A handler version is not a valid semantic version.',
  },
  REGISTRATION_DUPLICATE_HANDLER: {
    status: 500,
    type: 'RegistrationError',
    description: 'The same namespace, name and version is already registered.',
  },
  REGISTRATION_DUPLICATE_STEP: {
    status: 500,
    type: 'RegistrationError',
    description: 'Two step templates of one handler share a name.',
  },
  REGISTRATION_UNKNOWN_DEPENDENCY: {
    status: 500,
    type: 'RegistrationError',
    description: 'A step depends on a step name the handler does not define.',
  },
  REGISTRATION_CYCLE: {
    status: 500,
    type: 'RegistrationError',
    description: 'The step dependencies form a cycle.',
  },
  REGISTRATION_INVALID_EVENT: {
    status: 500,
    type: 'RegistrationError',
    description: 'A custom event name has no dot or uses a reserved prefix (task, step, workflow).',
  },
  UNDECLARED_EVENT: {
    status: 500,
    type: 'EventError',
    description: 'A step published a custom event it did not declare.',
  },
  STEP_TIMEOUT: {
    status: 500,
    type: 'StepTimeout',
    description: "A step attempt ran longer than its template's timeoutMs.",
  },
  LEASE_LOST: {
    status: 500,
    type: 'LeaseLost',
    description: "A worker's lease on a step expired and another worker took it over.",
  },
  TASKER_CLOSED: {
    status: 503,
    type: 'TaskerClosed',
    description: 'The Tasker instance was closed.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** A code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Field-level problems: field name to a list of messages, or any JSON detail. */
export type ErrorDetails = Record<string, unknown>;

/** Base class of every error Tasker raises. */
export class TaskerError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** HTTP status for the REST API. */
  readonly status: number;
  /** The seed's error type. */
  readonly type: string;
  /** Optional structured details, returned in the envelope. */
  readonly details?: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string,
    details?: ErrorDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
    if (details !== undefined) this.details = details;
  }
}

/** A request or definition failed validation (422 for requests). */
export class ValidationError extends TaskerError {}
/** No credentials or invalid credentials (401). */
export class AuthenticationError extends TaskerError {
  constructor(message = 'Invalid or expired authentication token', options?: { cause?: unknown }) {
    super('AUTHENTICATION_FAILED', message, undefined, options);
  }
}
/** The user lacks a permission (403). */
export class AuthorizationError extends TaskerError {
  constructor(permission: string) {
    super('AUTHORIZATION_FAILED', `Insufficient permissions for ${permission}`);
  }
}
/** A handler, namespace, task or step does not exist (404). */
export class NotFoundError extends TaskerError {}
/** A conflict with stored state (409). */
export class ConflictError extends TaskerError {}
/** createTasker was given a bad configuration. */
export class ConfigurationError extends TaskerError {
  constructor(message: string, details?: ErrorDetails) {
    super('CONFIG_INVALID', message, details);
  }
}
/** A handler or namespace registration was refused. */
export class RegistrationError extends TaskerError {}
/** The database could not be reached (503). */
export class StorageUnavailableError extends TaskerError {
  constructor(message = 'Storage is unavailable', options?: { cause?: unknown }) {
    super('STORAGE_UNAVAILABLE', message, undefined, options);
  }
}

/**
 * Thrown from a step's `process` to fail the step at once, without retries.
 * The step ends in `error` (or `skipped` when its template is skippable).
 */
export class PermanentError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Raised inside a step whose attempt exceeded its `timeoutMs`. */
export class StepTimeoutError extends TaskerError {
  constructor(stepName: string, timeoutMs: number) {
    super('STEP_TIMEOUT', `Step '${stepName}' timed out after ${timeoutMs} ms`);
  }
}

/** Builds a HandlerNotFound error with the seed's message. */
export function handlerNotFound(name: string, namespace: string, version?: string): NotFoundError {
  return new NotFoundError(
    'HANDLER_NOT_FOUND',
    `Handler '${name}' not found in namespace '${namespace}' version '${version ?? 'latest'}'`,
  );
}

/** Builds a NamespaceNotFound error with the seed's message. */
export function namespaceNotFound(namespace: string): NotFoundError {
  return new NotFoundError('NAMESPACE_NOT_FOUND', `Namespace '${namespace}' does not exist`);
}

/** Builds a TaskNotFound error. */
export function taskNotFound(id: string): NotFoundError {
  return new NotFoundError('TASK_NOT_FOUND', `Task '${id}' not found`);
}
