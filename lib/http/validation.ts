import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import semver from 'semver';
import { TaskerError, ValidationError } from '../errors';
import type { CreateTaskBody } from '../tasks/TaskService';
import { querySchemas, requestSchemas } from './schemas';

function isVersionOrRange(v: string): boolean {
  return semver.valid(v) !== null || semver.validRange(v) !== null;
}

function makeAjv(coerce: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: false,
    coerceTypes: coerce,
    useDefaults: coerce,
  });
  addFormats(ajv);
  ajv.addFormat('tasker-version', { type: 'string', validate: isVersionOrRange });
  return ajv;
}

const bodyAjv = makeAjv(false);
// Query strings arrive as text: coercion turns "2" into 2 and "true" into true, and a value
// that cannot be coerced ("1e309", "abc") fails validation instead of reaching the database.
const queryAjv = makeAjv(true);

const bodyValidators = new Map<string, ValidateFunction>();
const queryValidators = new Map<string, ValidateFunction>();

function bodyValidator(name: keyof typeof requestSchemas): ValidateFunction {
  let v = bodyValidators.get(name);
  if (!v) bodyValidators.set(name, (v = bodyAjv.compile(requestSchemas[name])));
  return v;
}

/** Field-level messages in the seed's shape: `{ field: ["must be present"] }`. */
export function detailsFromAjv(errors: ErrorObject[] | null | undefined): Record<string, string[]> {
  const details: Record<string, string[]> = {};
  const add = (field: string, msg: string) => {
    const list = (details[field || 'body'] ??= []);
    if (!list.includes(msg)) list.push(msg);
  };
  for (const e of errors ?? []) {
    const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    switch (e.keyword) {
      case 'required':
        add((field ? `${field}.` : '') + String(e.params.missingProperty), 'must be present');
        break;
      case 'additionalProperties':
        add(
          (field ? `${field}.` : '') + String(e.params.additionalProperty),
          'is not a permitted field',
        );
        break;
      case 'format':
        add(
          field,
          e.params.format === 'tasker-version'
            ? 'must be a valid semantic version or range'
            : `must be a valid ${String(e.params.format)}`,
        );
        break;
      case 'minLength':
        add(field, e.params.limit === 1 ? 'must be present' : (e.message ?? 'is invalid'));
        break;
      default:
        add(field, e.message ?? 'is invalid');
    }
  }
  return details;
}

/** Validates a POST /tasks body; throws INVALID_TASK_CONFIG with details per field. */
export function validateCreateTaskBody(body: unknown): CreateTaskBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
      body: ['must be a JSON object'],
    });
  }
  const validate = bodyValidator('CreateTaskRequest');
  if (!validate(body)) {
    throw new ValidationError(
      'INVALID_TASK_CONFIG',
      'Invalid task configuration',
      detailsFromAjv(validate.errors),
    );
  }
  return body as CreateTaskBody;
}

/** Validates a PATCH step body; throws INVALID_STEP_RESOLUTION. */
export function validateResolveStepBody(body: unknown): { results: unknown } {
  const validate = bodyValidator('ResolveStepRequest');
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !validate(body)) {
    throw new ValidationError(
      'INVALID_STEP_RESOLUTION',
      'Invalid step resolution',
      body !== null && typeof body === 'object' && !Array.isArray(body)
        ? detailsFromAjv(validate.errors)
        : { body: ['must be a JSON object'] },
    );
  }
  return body as { results: unknown };
}

/** Validates and coerces a query string against one of {@link querySchemas}; 400 on failure. */
export function validateQuery<T>(name: keyof typeof querySchemas, query: unknown): T {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((query as Record<string, unknown>) ?? {})) {
    if (typeof v !== 'string') {
      throw new TaskerError('INVALID_PARAMETER', `Query parameter '${k}' must be given once`, {
        [k]: ['must be a single value'],
      });
    }
    input[k] = v;
  }
  let validate = queryValidators.get(name);
  if (!validate) queryValidators.set(name, (validate = queryAjv.compile(querySchemas[name])));
  if (!validate(input)) {
    const details = detailsFromAjv(validate.errors);
    throw new TaskerError(
      'INVALID_PARAMETER',
      `Invalid query parameter${Object.keys(details).length > 1 ? 's' : ''}: ${Object.keys(details).join(', ')}`,
      details,
    );
  }
  return input as T;
}
