/**
 * JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) of the REST API. The same objects validate
 * requests (lib/http/validation.ts) and make the OpenAPI document (lib/http/openapi.ts), so the
 * two cannot drift apart.
 */
import { STEP_STATUSES, TASK_STATUSES } from '../types';

type Schema = Record<string, unknown>;

const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });
const timestamp: Schema = { type: 'string', format: 'date-time' };
const stringList: Schema = { type: 'array', items: { type: 'string' } };

/** Bodies the API accepts. */
export const requestSchemas = {
  CreateTaskRequest: {
    type: 'object',
    description:
      'A task to create. `version` may be exact (2.1.0) or a range (^2.0.0); default latest.',
    required: ['name', 'namespace'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 255 },
      namespace: { type: 'string', minLength: 1, maxLength: 255 },
      version: { type: 'string', format: 'tasker-version', maxLength: 64 },
      context: { type: 'object', description: "Checked against the handler's contextSchema." },
      idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
      bypass_steps: {
        type: 'array',
        items: { type: 'string', maxLength: 255 },
        maxItems: 1000,
        description: 'Skippable steps to skip.',
      },
    },
  },
  ResolveStepRequest: {
    type: 'object',
    description: 'Resolves a pending or failed step manually with the given results.',
    required: ['results'],
    additionalProperties: false,
    properties: { results: { description: 'Any JSON value, stored as the step results.' } },
  },
} as const satisfies Record<string, Schema>;

/** Query parameters, as object schemas (one property per parameter). */
export const querySchemas = {
  TaskListQuery: {
    type: 'object',
    properties: {
      namespace: { type: 'string', maxLength: 255 },
      name: { type: 'string', maxLength: 255 },
      version: { type: 'string', maxLength: 64 },
      status: { type: 'string', enum: [...TASK_STATUSES] },
      page: { type: 'integer', minimum: 1, maximum: 2147483647, default: 1 },
      per_page: {
        type: 'integer',
        minimum: 1,
        maximum: 2147483647,
        default: 25,
        description: 'Items per page; values above 100 are clamped to 100.',
      },
    },
  },
  TaskShowQuery: {
    type: 'object',
    properties: {
      include_dependencies: {
        type: 'boolean',
        default: false,
        description: 'Adds the `dependencies` analysis.',
      },
    },
  },
  HandlerShowQuery: {
    type: 'object',
    properties: {
      version: {
        type: 'string',
        maxLength: 64,
        description: 'An exact version or a semver range; default the latest.',
      },
    },
  },
  Empty: { type: 'object', properties: {} },
} as const satisfies Record<string, Schema>;

const transition: Schema = {
  type: 'object',
  required: ['from', 'to', 'at'],
  properties: {
    from: nullable({ type: 'string' }),
    to: { type: 'string' },
    at: timestamp,
    attempt: nullable({ type: 'integer' }),
    error: nullable({ $ref: '#/components/schemas/StepError' }),
  },
};

const step: Schema = {
  type: 'object',
  required: ['name', 'status', 'results', 'attempts', 'started_at', 'completed_at'],
  properties: {
    name: { type: 'string' },
    status: { type: 'string', enum: [...STEP_STATUSES] },
    results: {},
    attempts: { type: 'integer' },
    started_at: nullable(timestamp),
    completed_at: nullable(timestamp),
    depends_on_steps: stringList,
    skippable: { type: 'boolean' },
    max_attempts: { type: 'integer' },
    last_error: nullable({ $ref: '#/components/schemas/StepError' }),
    next_retry_at: nullable(timestamp),
    transitions: { type: 'array', items: transition },
  },
};

const task: Schema = {
  type: 'object',
  required: [
    'id',
    'name',
    'namespace',
    'version',
    'full_name',
    'status',
    'context',
    'created_at',
    'updated_at',
  ],
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    namespace: { type: 'string' },
    version: { type: 'string' },
    full_name: { type: 'string', description: 'namespace.name@version' },
    status: { type: 'string', enum: [...TASK_STATUSES] },
    context: { type: 'object' },
    bypass_steps: stringList,
    created_at: timestamp,
    updated_at: timestamp,
    started_at: nullable(timestamp),
    completed_at: nullable(timestamp),
  },
};

/** Response bodies. */
export const responseSchemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['type', 'message', 'code'],
        properties: {
          type: { type: 'string' },
          message: { type: 'string' },
          details: { type: 'object' },
          code: { type: 'string' },
        },
      },
    },
  },
  StepError: {
    type: 'object',
    required: ['message', 'class'],
    properties: {
      message: { type: 'string' },
      class: { type: 'string' },
      code: { type: 'string' },
      attempt: { type: 'integer' },
    },
  },
  NamespaceList: {
    type: 'object',
    required: ['namespaces'],
    properties: {
      namespaces: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'description', 'handler_count', 'handlers'],
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            handler_count: { type: 'integer' },
            handlers: stringList,
          },
        },
      },
    },
  },
  NamespaceHandlers: {
    type: 'object',
    required: ['namespace', 'handlers'],
    properties: {
      namespace: { type: 'string' },
      handlers: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'namespace', 'version', 'description', 'step_count', 'step_names'],
          properties: {
            id: { type: 'string' },
            namespace: { type: 'string' },
            version: { type: 'string' },
            description: { type: 'string' },
            step_count: { type: 'integer' },
            step_names: stringList,
            versions: stringList,
          },
        },
      },
    },
  },
  HandlerDetail: {
    type: 'object',
    required: ['id', 'namespace', 'version', 'description', 'step_templates', 'dependency_graph'],
    properties: {
      id: { type: 'string' },
      namespace: { type: 'string' },
      version: { type: 'string' },
      description: { type: 'string' },
      versions: stringList,
      context_schema: nullable({ type: 'object' }),
      step_templates: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            handler_class: { type: 'string' },
            depends_on_step: nullable({ type: 'string' }),
            depends_on_steps: stringList,
            default_retryable: { type: 'boolean' },
            default_retry_limit: { type: 'integer' },
            skippable: { type: 'boolean' },
            timeout_ms: nullable({ type: 'integer' }),
            custom_events: stringList,
          },
        },
      },
      dependency_graph: {
        type: 'object',
        required: ['nodes', 'edges', 'execution_order', 'levels'],
        properties: {
          nodes: stringList,
          edges: {
            type: 'array',
            items: {
              type: 'object',
              required: ['from', 'to'],
              properties: { from: { type: 'string' }, to: { type: 'string' } },
            },
          },
          execution_order: stringList,
          levels: { type: 'array', items: stringList },
        },
      },
    },
  },
  Task: task,
  TaskList: {
    type: 'object',
    required: ['tasks', 'pagination'],
    properties: {
      tasks: { type: 'array', items: { $ref: '#/components/schemas/Task' } },
      pagination: {
        type: 'object',
        required: ['current_page', 'per_page', 'total_pages', 'total_count'],
        properties: {
          current_page: { type: 'integer' },
          per_page: { type: 'integer' },
          total_pages: { type: 'integer' },
          total_count: { type: 'integer' },
        },
      },
    },
  },
  TaskDetail: {
    allOf: [
      { $ref: '#/components/schemas/Task' },
      {
        type: 'object',
        required: ['steps'],
        properties: {
          steps: { type: 'array', items: { $ref: '#/components/schemas/Step' } },
          dependencies: {
            type: 'object',
            properties: {
              analysis: { type: 'string' },
              blocked_steps: stringList,
              ready_steps: stringList,
              completed_steps: stringList,
              in_progress_steps: stringList,
              failed_steps: stringList,
            },
          },
        },
      },
    ],
  },
  Step: step,
  StepList: {
    type: 'object',
    required: ['task_id', 'steps'],
    properties: {
      task_id: { type: 'string' },
      steps: { type: 'array', items: { $ref: '#/components/schemas/Step' } },
    },
  },
} as const satisfies Record<string, Schema>;
