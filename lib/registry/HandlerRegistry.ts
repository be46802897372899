/**
 * The in-memory registry of namespaces and handler versions. Registration validates everything
 * up front so that a running Tasker never meets a malformed handler.
 */
import semver from 'semver';
import { RegistrationError } from '../errors';
import type {
  HandlerDefinition,
  NamespaceDefinition,
  RegisteredHandler,
  StepTemplate,
} from '../types';
import { analyzeDag } from './dag';
import { checkName, checkSchema, checkStep, invalid, isObject } from './validate';

/** One entry of {@link HandlerRegistry.namespaces}. */
export interface NamespaceSummary {
  name: string;
  description: string;
  /** Distinct handler names, sorted. */
  handlers: string[];
}

/**
 * Holds every registered namespace and handler version.
 *
 * "Latest" ({@link resolve} without a version) is the highest version by semver precedence,
 * skipping prereleases whenever at least one stable version exists, so publishing `3.0.0-rc.1`
 * does not move traffic off `2.4.0`. A handler with only prereleases resolves to the highest one.
 */
export class HandlerRegistry {
  private readonly descriptions = new Map<string, string>();
  /** namespace → handler name → version → handler. */
  private readonly handlers = new Map<string, Map<string, Map<string, RegisteredHandler>>>();
  private rev = 0;

  /** Incremented by every registration: lets readers cache what they derive from the registry. */
  get revision(): number {
    return this.rev;
  }

  /**
   * Registers a namespace or updates its description. Omitting `description` on a later call
   * keeps the current one, so a bare re-registration never wipes documentation.
   */
  registerNamespace(def: NamespaceDefinition): void {
    if (!isObject(def)) throw invalid('Namespace definition must be an object');
    const name = checkName(def.name, 'Namespace name');
    if (def.description !== undefined && typeof def.description !== 'string') {
      throw invalid(`Namespace '${name}' description must be a string`);
    }
    this.descriptions.set(name, def.description ?? this.descriptions.get(name) ?? '');
    this.rev += 1;
  }

  /** Validates a handler definition, applies defaults and stores it. Throws {@link RegistrationError}. */
  register(def: HandlerDefinition): RegisteredHandler {
    if (!isObject(def)) throw invalid('Handler definition must be an object');
    const namespace = checkName(def.namespace, 'Handler namespace');
    const name = checkName(def.name, 'Handler name');
    // Only the canonical form: "v1.0.0" or build metadata would make fullName ambiguous.
    if (typeof def.version !== 'string' || semver.valid(def.version) !== def.version) {
      throw new RegistrationError(
        'REGISTRATION_INVALID_VERSION',
        `Handler '${namespace}.${name}' version '${String(def.version)}' is not a valid semantic version (e.g. 2.1.0)`,
        { version: String(def.version) },
      );
    }
    const version = def.version;
    const fullName = `${namespace}.${name}@${version}`;
    if (this.get(namespace, name, version)) {
      throw new RegistrationError(
        'REGISTRATION_DUPLICATE_HANDLER',
        `Handler '${fullName}' is already registered`,
        { namespace, name, version },
      );
    }
    if (def.description !== undefined && typeof def.description !== 'string') {
      throw invalid(`Handler '${fullName}' description must be a string`);
    }
    if (!Array.isArray(def.steps) || def.steps.length === 0) {
      throw invalid(`Handler '${fullName}' must define a non-empty steps array`);
    }

    const checked = def.steps.map((step, i) => checkStep(step, i, fullName));
    const graph = analyzeDag(checked.map(({ template }) => template));
    const contextSchema = checkSchema(def.contextSchema, fullName);

    // Classes are constructed only now, after every check passed, so a refused definition
    // never runs host constructors.
    const steps: StepTemplate[] = checked.map(({ template, makeRun }) => ({
      ...template,
      run: makeRun(),
    }));
    const stepsByName = new Map(steps.map((s) => [s.name, s]));
    const children = new Map<string, string[]>(steps.map((s) => [s.name, []]));
    for (const edge of graph.edges) children.get(edge.from)?.push(edge.to);

    const handler: RegisteredHandler = {
      namespace,
      name,
      version,
      description: def.description ?? '',
      contextSchema,
      steps,
      graph,
      stepsByName,
      children,
      fullName,
    };
    if (!this.descriptions.has(namespace)) this.descriptions.set(namespace, '');
    let byName = this.handlers.get(namespace);
    if (!byName) this.handlers.set(namespace, (byName = new Map()));
    let byVersion = byName.get(name);
    if (!byVersion) byName.set(name, (byVersion = new Map()));
    byVersion.set(version, handler);
    this.rev += 1;
    return handler;
  }

  /** Every namespace registered explicitly or through a handler, sorted by name. */
  namespaces(): NamespaceSummary[] {
    return sorted([...this.descriptions.keys()]).map((name) => ({
      name,
      description: this.descriptions.get(name) ?? '',
      handlers: sorted([...(this.handlers.get(name)?.keys() ?? [])]),
    }));
  }

  /** Whether the namespace was registered explicitly or through a handler. */
  hasNamespace(namespace: string): boolean {
    return this.descriptions.has(namespace);
  }

  /** The registered versions of one handler, highest precedence first; empty when unknown. */
  versions(namespace: string, name: string): string[] {
    return [...(this.handlers.get(namespace)?.get(name)?.keys() ?? [])].sort(semver.rcompare);
  }

  /**
   * Finds a handler version. `version` may be omitted, `''` or `'latest'` (the latest, see the
   * class comment), an exact version, or a semver range (highest satisfying version; ranges
   * exclude prereleases as semver does). Anything else, or no match, gives undefined.
   */
  resolve(namespace: string, name: string, version?: string): RegisteredHandler | undefined {
    const byVersion = this.handlers.get(namespace)?.get(name);
    if (!byVersion) return undefined;
    if (version === undefined || version === '' || version === 'latest') {
      const versions = this.versions(namespace, name);
      const latest = versions.find((v) => semver.prerelease(v) === null) ?? versions[0];
      return latest === undefined ? undefined : byVersion.get(latest);
    }
    const exact = semver.valid(version);
    if (exact) return byVersion.get(exact);
    if (!semver.validRange(version)) return undefined;
    const best = semver.maxSatisfying([...byVersion.keys()], version);
    return best === null ? undefined : byVersion.get(best);
  }

  /** Exact lookup by namespace, name and version string; no ranges, no normalisation. */
  get(namespace: string, name: string, version: string): RegisteredHandler | undefined {
    return this.handlers.get(namespace)?.get(name)?.get(version);
  }

  /** The latest version of each handler in the namespace, sorted by handler name. */
  latestIn(namespace: string): RegisteredHandler[] {
    const byName = this.handlers.get(namespace);
    if (!byName) return [];
    return sorted([...byName.keys()])
      .map((name) => this.resolve(namespace, name))
      .filter((h): h is RegisteredHandler => h !== undefined);
  }

  /** Every registered version: by namespace, then name, then highest version first. */
  all(): RegisteredHandler[] {
    return sorted([...this.handlers.keys()]).flatMap((ns) =>
      sorted([...(this.handlers.get(ns)?.keys() ?? [])]).flatMap((name) =>
        this.versions(ns, name).map((v) => this.get(ns, name, v) as RegisteredHandler),
      ),
    );
  }

  /** The full names (`namespace.name@version`) of {@link all}, in the same order. */
  handlerKeys(): string[] {
    return this.all().map((h) => h.fullName);
  }
}

function sorted(values: string[]): string[] {
  return values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
