import { ConfigurationError } from '../errors';
import type {
  AuthenticatorClass,
  Authenticator,
  AuthorizationResource,
  Authorizer,
  TaskerUser,
} from '../types';

/**
 * Tells whether one granted permission (exact, or a glob where `*` stands for any run of
 * characters, including none) covers `permission`. Every other character is literal, so a `.`
 * or `?` in a grant never widens it.
 *
 * The match is anchored at both ends: `tasker.task:*` covers `tasker.task:create` but not
 * `tasker.taskfoo:index`.
 *
 * @param granted - One entry of a user's `permissions` claim.
 * @param permission - The permission a route needs, e.g. `tasker.task:create`.
 */
export function matchesPermission(granted: string, permission: string): boolean {
  if (typeof granted !== 'string' || typeof permission !== 'string') return false;
  if (granted === permission) return true;
  if (!granted.includes('*')) return false;
  return globMatches(granted.split('*'), permission);
}

/**
 * Matches `text` against a glob already split on `*`. This is the same language as the anchored
 * regex `^a.*b.*c$` (with `a`, `b`, `c` escaped), but a backtracking regex needs exponential time
 * on grants like `*a*a*a*a*a*a*a*z`, and the grants come from token claims: one bad token must
 * not be able to stall the event loop. Taking each middle segment at its leftmost occurrence is
 * enough because `*` can absorb whatever lies between segments, so this runs in
 * O(pattern × text) without backtracking.
 */
function globMatches(segments: string[], text: string): boolean {
  const first = segments[0];
  const last = segments[segments.length - 1];
  if (text.length < first.length + last.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let pos = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < segments.length - 1; i++) {
    const segment = segments[i];
    if (segment === '') continue;
    const found = text.indexOf(segment, pos);
    if (found === -1 || found + segment.length > end) return false;
    pos = found + segment.length;
  }
  return true;
}

/**
 * Reads the `permissions` claim in either form identity providers commonly emit: a JSON array,
 * or an OAuth-style `scope` string separated by spaces or commas.
 */
function grantedPermissions(user: TaskerUser | null | undefined): string[] {
  const claim: unknown = user?.permissions;
  if (typeof claim === 'string') return claim.split(/[\s,]+/).filter((p) => p !== '');
  if (Array.isArray(claim)) {
    return claim.filter((p): p is string => typeof p === 'string' && p !== '');
  }
  return [];
}

/**
 * The authorizer used when authorization is on and the host supplies none. It grants a
 * permission when the user's `permissions` claim (an array of strings, or one string separated
 * by spaces or commas) holds it exactly or through a glob such as `tasker.task:*`, `tasker.*`
 * or `*`. Non-string entries are ignored and a user without the claim is refused.
 *
 * It ignores the resource: hosts that scope users to namespaces or tasks pass their own
 * {@link Authorizer}.
 */
export const defaultAuthorizer: Authorizer = (
  user: TaskerUser,
  permission: string,
  _resource: AuthorizationResource,
): boolean => grantedPermissions(user).some((granted) => matchesPermission(granted, permission));

/**
 * Turns the host's `auth.authenticator` setting into an instance. Hosts may pass either a class
 * (so Tasker can build it with `authenticatorOptions`, mirroring the seed) or a ready instance
 * (handy when the authenticator shares state with the host). Validating here makes a typo fail
 * at startup rather than as a 500 on the first request.
 *
 * @param auth - A class whose prototype has `authenticate`, an object with an `authenticate`
 *   method, or undefined when no authenticator is configured.
 * @param options - Passed to the class constructor; ignored for an instance.
 * @returns The authenticator, or undefined when `auth` is undefined.
 * @throws {@link ConfigurationError} when `auth` is neither a class nor an instance, or when the
 *   class builds an object without `authenticate`.
 */
export function resolveAuthenticator(
  auth: Authenticator | AuthenticatorClass | undefined,
  options: unknown,
): Authenticator | undefined {
  if (auth === undefined) return undefined;
  if (typeof auth === 'function') {
    if (
      typeof (auth as { prototype?: { authenticate?: unknown } }).prototype?.authenticate !==
      'function'
    ) {
      throw new ConfigurationError(
        'auth.authenticator must be a class with an authenticate(req) method, or an instance of one',
      );
    }
    const instance = new auth(options);
    if (!hasAuthenticate(instance)) {
      throw new ConfigurationError('auth.authenticator built an object without authenticate(req)');
    }
    return instance;
  }
  if (hasAuthenticate(auth)) return auth;
  throw new ConfigurationError(
    'auth.authenticator must be a class with an authenticate(req) method, or an instance of one',
  );
}

function hasAuthenticate(value: unknown): value is Authenticator {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { authenticate?: unknown }).authenticate === 'function'
  );
}
