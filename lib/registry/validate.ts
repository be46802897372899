/**
 * Validation and normalisation of handler definitions, kept apart from the registry's storage
 * so each file stays readable on its own.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { RegistrationError, type ErrorDetails } from '../errors';
import type {
  StepHandlerClass,
  StepProcessFunction,
  StepTemplate,
  StepTemplateDefinition,
} from '../types';

/** Namespace and handler names: they appear in URLs and full names, so keep them plain. */
export const NAME_PATTERN = /^[a-z0-9_][a-z0-9_.-]*$/i;

/** First segments of event names the engine emits itself; custom events may not use them. */
export const RESERVED_EVENT_PREFIXES: readonly string[] = ['task', 'step', 'workflow'];

/**
 * Compiles a handler's context schema. Schemas declaring draft 2020-12 in `$schema` need Ajv's
 * 2020 class (the default class rejects that meta-schema); everything else is treated as
 * draft-07. A fresh Ajv per schema avoids "schema with this $id already exists" when two
 * versions of a handler share a schema `$id`.
 */
export function compileContextSchema(schema: Record<string, unknown>): ValidateFunction {
  const options = { allErrors: true, strict: false };
  const is2020 = typeof schema.$schema === 'string' && schema.$schema.includes('2020-12');
  const ajv = is2020 ? new Ajv2020(options) : new Ajv(options);
  addFormats(ajv);
  return ajv.compile(schema);
}

/** A validated step without its runner, plus the deferred construction of that runner. */
export interface CheckedStep {
  template: Omit<StepTemplate, 'run'>;
  makeRun: () => StepProcessFunction;
}

/**
 * Validates one step definition and applies defaults. The runner is returned as a factory so
 * that classes are constructed only once the whole handler has passed validation.
 */
export function checkStep(raw: StepTemplateDefinition, i: number, fullName: string): CheckedStep {
  if (!isObject(raw)) throw invalid(`Handler '${fullName}' step #${i + 1} must be an object`);
  if (typeof raw.name !== 'string' || raw.name === '') {
    throw invalid(`Handler '${fullName}' step #${i + 1} must have a non-empty string name`);
  }
  const where = `Step '${raw.name}' of handler '${fullName}'`;
  const fail = (problem: string) => invalid(`${where} ${problem}`, { step: raw.name });

  const { handler } = raw;
  let makeRun: () => StepProcessFunction;
  let derivedClass: string;
  if (typeof handler === 'function' && typeof handler.prototype?.process === 'function') {
    const Klass = handler as StepHandlerClass;
    derivedClass = Klass.name;
    makeRun = () => {
      try {
        const instance = new Klass();
        return instance.process.bind(instance);
      } catch (err) {
        const message = `${where} could not be constructed: ${(err as Error)?.message}`;
        throw new RegistrationError(
          'REGISTRATION_INVALID',
          message,
          { step: raw.name },
          { cause: err },
        );
      }
    };
  } else if (typeof handler === 'function') {
    // A class without `process` would throw "cannot be invoked without new" at run time.
    if (/^class[\s{]/.test(Function.prototype.toString.call(handler))) {
      throw fail('handler is a class without a process method');
    }
    const fn = handler as StepProcessFunction;
    derivedClass = fn.name;
    makeRun = () => fn;
  } else if (isObject(handler) && typeof handler.process === 'function') {
    const ctor = handler.constructor;
    // A plain object literal's constructor is Object, which names nothing useful.
    derivedClass = ctor && ctor !== Object && typeof ctor.name === 'string' ? ctor.name : '';
    makeRun = () => handler.process.bind(handler);
  } else {
    throw fail('handler must be a function, a class with process(), or an object with process()');
  }

  const optionalType = (field: keyof StepTemplateDefinition, type: string) => {
    if (raw[field] !== undefined && typeof raw[field] !== type) {
      throw fail(`${field} must be a ${type}`);
    }
  };
  optionalType('description', 'string');
  optionalType('handlerClass', 'string');
  optionalType('retryable', 'boolean');
  optionalType('skippable', 'boolean');

  const deps = raw.dependsOn;
  const dependsOn = deps === undefined ? [] : typeof deps === 'string' ? [deps] : deps;
  if (!Array.isArray(dependsOn) || !dependsOn.every((d) => typeof d === 'string')) {
    throw fail('dependsOn must be a step name or an array of step names');
  }
  if (raw.retryLimit !== undefined && !(Number.isInteger(raw.retryLimit) && raw.retryLimit >= 0)) {
    throw fail('retryLimit must be a non-negative integer');
  }
  if (raw.timeoutMs !== undefined && !(Number.isInteger(raw.timeoutMs) && raw.timeoutMs > 0)) {
    throw fail('timeoutMs must be a positive integer');
  }
  const customEvents = raw.customEvents ?? [];
  if (!Array.isArray(customEvents)) throw fail('customEvents must be an array of event names');
  for (const event of customEvents) checkEvent(event, where, raw.name);

  const retryable = raw.retryable ?? true;
  return {
    template: {
      name: raw.name,
      description: raw.description ?? '',
      handlerClass: raw.handlerClass || derivedClass || 'anonymous',
      dependsOn: [...new Set(dependsOn)],
      retryable,
      retryLimit: retryable ? (raw.retryLimit ?? 3) : 0,
      skippable: raw.skippable ?? false,
      timeoutMs: raw.timeoutMs ?? null,
      customEvents: [...new Set(customEvents)],
    },
    makeRun,
  };
}

/** Refuses a custom event name without a dot, with an empty segment or a reserved prefix. */
export function checkEvent(event: unknown, where: string, step: string): void {
  const fail = (problem: string) =>
    new RegistrationError('REGISTRATION_INVALID_EVENT', `${where} custom event ${problem}`, {
      step,
      event: String(event),
    });
  if (typeof event !== 'string') throw fail(`${JSON.stringify(event)} must be a string`);
  // Empty segments (".paid", "order.") cannot be subscribed to sensibly, so refuse them too.
  if (!event.includes('.') || event.split('.').some((segment) => segment === '')) {
    throw fail(`'${event}' must be dotted, like 'payment.captured'`);
  }
  const prefix = event.split('.')[0].toLowerCase();
  if (RESERVED_EVENT_PREFIXES.includes(prefix)) {
    throw fail(`'${event}' uses the reserved prefix '${prefix}'`);
  }
}

/** Checks that a context schema compiles; returns a private copy, or null when absent. */
export function checkSchema(schema: unknown, fullName: string): Record<string, unknown> | null {
  if (schema === undefined || schema === null) return null;
  if (!isObject(schema) || Array.isArray(schema)) {
    throw invalid(`Handler '${fullName}' contextSchema must be a JSON Schema object`);
  }
  try {
    compileContextSchema(schema);
    // A copy, so the host mutating its object cannot change what tasks are validated against.
    return structuredClone(schema);
  } catch (err) {
    throw new RegistrationError(
      'REGISTRATION_INVALID',
      `Handler '${fullName}' contextSchema is invalid: ${(err as Error).message}`,
      { contextSchema: (err as Error).message },
      { cause: err },
    );
  }
}

/** Checks a namespace or handler name against {@link NAME_PATTERN}. */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw invalid(
      `${what} ${JSON.stringify(value) ?? 'undefined'} must be a non-empty string of letters, digits, '_', '.' or '-'`,
    );
  }
  return value;
}

/** A `REGISTRATION_INVALID` error. */
export function invalid(message: string, details?: ErrorDetails): RegistrationError {
  return new RegistrationError('REGISTRATION_INVALID', message, details);
}

/** Narrows to a non-null object (arrays included). */
export function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null;
}
