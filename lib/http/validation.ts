import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import semver from 'semver';
import { TaskerError, ValidationError } from '../errors';
import type { CreateTaskBody } from '../tasks/TaskService';
import { querySchemas, requestSchemas } from './schemas';

function isVersionOrRange(v: string): boolean {
  return v === 'latest' || semver.valid(v) !== null || semver.validRange(v) !== null;
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

/**
 * Field-level messages in the seed's shape: `{ field: ["must be present"] }`.
 *
 * Field names come from the request (an unknown key is reported by name), so they are collected
 * in a Map: on a plain object a field called `__proto__` would resolve to `Object.prototype`.
 * `Object.fromEntries` then defines each field as an own property, whatever its name.
 */
export function detailsFromAjv(errors: ErrorObject[] | null | undefined): Record<string, string[]> {
  const details = new Map<string, string[]>();
  const add = (field: string, msg: string) => {
    const key = field || 'body';
    const list = details.get(key) ?? [];
    details.set(key, list);
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
  return Object.fromEntries(details);
}

/**
 * How deeply JSON in a request body may nest (objects and arrays, the body itself counting as
 * one level). Deeper values are refused with a 422: storing and hashing them recurses, and a
 * few thousand levels, well within the body size limit, would overflow the stack.
 */
export const MAX_JSON_DEPTH = 100;

/** True when `value` nests objects or arrays more than `max` levels deep. Not recursive. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const TOO_DEEP = `must not nest objects or arrays more than ${MAX_JSON_DEPTH} levels deep`;

/**
 * Validates a POST /tasks body; throws INVALID_TASK_CONFIG with details per field, also when the
 * body nests deeper than {@link MAX_JSON_DEPTH}.
 */
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
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new ValidationError('INVALID_TASK_CONFIG', 'Invalid task configuration', {
      context: [TOO_DEEP],
    });
  }
  return body as CreateTaskBody;
}

/** Validates a PATCH step body; throws INVALID_STEP_RESOLUTION (also past {@link MAX_JSON_DEPTH}). */
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
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new ValidationError('INVALID_STEP_RESOLUTION', 'Invalid step resolution', {
      results: [TOO_DEEP],
    });
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
    // Postgres text cannot hold NUL: refuse it here rather than fail the query with a 500.
    if (v.includes('\0')) {
      throw new TaskerError('INVALID_PARAMETER', `Query parameter '${k}' is invalid`, {
        [k]: ['must not contain NUL characters'],
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
