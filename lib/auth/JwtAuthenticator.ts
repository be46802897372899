import { createPublicKey, createSecretKey, type KeyObject } from 'crypto';
import type { Request } from 'express';
import jwt from 'jsonwebtoken';
import { ConfigurationError } from '../errors';
import type { Authenticator, TaskerUser } from '../types';

/** Options of {@link JwtAuthenticator}. Give exactly one of `secret` and `publicKey`. */
export interface JwtAuthenticatorOptions {
  /** Shared secret for HS256/HS384/HS512 tokens. */
  secret?: string | Buffer;
  /** PEM public key (or certificate) for RS*, PS* and ES* tokens. */
  publicKey?: string | Buffer;
  /**
   * Algorithms a token may use. Default `['HS256']`. Must not be empty or contain `none`, and
   * must all fit the kind of key given (HS* with `secret`, RS/PS/ES with `publicKey`).
   */
  algorithms?: jwt.Algorithm[];
  /** Accepted `iss` value(s). Unchecked when omitted. */
  issuer?: string | string[];
  /** Accepted `aud` value(s). Unchecked when omitted. */
  audience?: string | string[];
  /** Seconds of leeway when checking `exp` and `nbf`, for clock skew. Default 0. */
  clockToleranceSec?: number;
}

const SYMMETRIC = /^HS(256|384|512)$/;
const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$/;

/**
 * Capture the token only when it has the three base64url segments of a JWS, so that garbage
 * never reaches the verifier. The scheme is case-insensitive per RFC 7235.
 */
const BEARER = /^Bearer[ \t]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)[ \t]*$/i;

/**
 * The default authenticator: verifies a JWT from the `Authorization: Bearer <token>` header and
 * returns its payload as the user.
 *
 * Tokens are accepted only from that header: a token in a query string ends up in access logs
 * and browser history, and one in a cookie would make the API open to CSRF.
 *
 * Every failure (missing or malformed header, bad signature, expired, not yet valid, wrong issuer
 * or audience, an algorithm not in the list) yields `null` rather than an error, so the HTTP
 * layer answers one uniform 401 and callers cannot probe which check failed. The token is never
 * logged.
 *
 * ```ts
 * createTasker({ auth: { authenticator: JwtAuthenticator, authenticatorOptions: { secret } } });
 * ```
 */
export class JwtAuthenticator implements Authenticator {
  private readonly key: KeyObject;
  private readonly verifyOptions: jwt.VerifyOptions & { complete?: false };

  /**
   * @throws {@link ConfigurationError} (code `CONFIG_INVALID`) when the key or algorithm setup is
   *   unsafe or inconsistent; refusing at startup beats silently accepting forged tokens.
   */
  constructor(options: JwtAuthenticatorOptions = {}) {
    const { secret, publicKey, issuer, audience } = options;
    const algorithms = options.algorithms ?? ['HS256'];
    const clockTolerance = options.clockToleranceSec ?? 0;
    const hasSecret = secret !== undefined && secret !== null && secret.length > 0;
    const hasPublicKey = publicKey !== undefined && publicKey !== null && publicKey.length > 0;

    if (!hasSecret && !hasPublicKey) {
      throw new ConfigurationError('JwtAuthenticator needs a secret or a publicKey');
    }
    // One key per authenticator keeps each algorithm bound to exactly one kind of key.
    if (hasSecret && hasPublicKey) {
      throw new ConfigurationError('JwtAuthenticator takes a secret or a publicKey, not both');
    }
    if (!Array.isArray(algorithms) || algorithms.length === 0) {
      throw new ConfigurationError('JwtAuthenticator algorithms must be a non-empty list');
    }
    for (const alg of algorithms as unknown[]) {
      if (typeof alg !== 'string' || alg.toLowerCase() === 'none') {
        throw new ConfigurationError('JwtAuthenticator refuses the "none" algorithm', {
          algorithms: [String(alg)],
        });
      }
      if (SYMMETRIC.test(alg)) {
        // An HS* algorithm with a public key would let anyone sign tokens using the public
        // key as the HMAC secret (the classic HS/RS key confusion).
        if (!hasSecret) {
          throw new ConfigurationError(`JwtAuthenticator algorithm ${alg} needs a secret`, {
            algorithms: [alg],
          });
        }
      } else if (ASYMMETRIC.test(alg)) {
        if (!hasPublicKey) {
          throw new ConfigurationError(`JwtAuthenticator algorithm ${alg} needs a publicKey`, {
            algorithms: [alg],
          });
        }
      } else {
        throw new ConfigurationError(`JwtAuthenticator does not support algorithm ${alg}`, {
          algorithms: [alg],
        });
      }
    }
    if (
      typeof clockTolerance !== 'number' ||
      !Number.isFinite(clockTolerance) ||
      clockTolerance < 0
    ) {
      throw new ConfigurationError('JwtAuthenticator clockToleranceSec must be a number >= 0');
    }
    // An empty issuer/audience would either disable the check (jsonwebtoken skips falsy values)
    // or reject every token; both are configuration mistakes.
    checkClaimOption('issuer', issuer);
    checkClaimOption('audience', audience);

    // Building the KeyObject here pins the key type (jsonwebtoken would otherwise guess it from
    // the material, and treat a PEM-looking secret as a public key) and makes a bad PEM fail at
    // startup rather than on every request.
    try {
      this.key = hasSecret
        ? createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
        : createPublicKey(publicKey!);
    } catch {
      // The key material is deliberately left out of the error.
      throw new ConfigurationError(
        hasSecret
          ? 'JwtAuthenticator secret is not valid'
          : 'JwtAuthenticator publicKey is not a valid public key',
      );
    }

    this.verifyOptions = {
      algorithms: [...algorithms],
      clockTolerance,
      ...(issuer !== undefined && { issuer: issuer as jwt.VerifyOptions['issuer'] }),
      ...(audience !== undefined && { audience: audience as jwt.VerifyOptions['audience'] }),
    };
  }

  /**
   * Returns the verified payload of the request's Bearer token, or null when there is no token
   * or it does not verify. Never throws.
   */
  authenticate(req: Request): TaskerUser | null {
    const header: unknown = req?.headers?.authorization;
    if (typeof header !== 'string') return null;
    const match = BEARER.exec(header);
    if (!match) return null;
    try {
      const payload: unknown = jwt.verify(match[1], this.key, this.verifyOptions);
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
      return payload;
    } catch {
      return null;
    }
  }
}

function checkClaimOption(name: 'issuer' | 'audience', value: unknown): void {
  if (value === undefined) return;
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0 || values.some((v) => typeof v !== 'string' || v === '')) {
    throw new ConfigurationError(
      `JwtAuthenticator ${name} must be a non-empty string or a non-empty list of them`,
    );
  }
}

/**
 * Signs an HS256 token for local development, e.g. for the demo to print a token to paste into
 * curl. The algorithm is forced to HS256 so the token always verifies against a
 * {@link JwtAuthenticator} built with the same `secret` and default algorithms. Production
 * tokens should come from the host's identity provider.
 *
 * @param secret - The secret the authenticator is configured with.
 * @param payload - Claims, e.g. `{ sub: 'dev', permissions: ['tasker.*'] }`.
 * @param options - jsonwebtoken sign options such as `expiresIn`, `issuer` or `audience`.
 */
export function signDevelopmentToken(
  secret: string,
  payload: object,
  options: jwt.SignOptions = {},
): string {
  return jwt.sign(payload, secret, { ...options, algorithm: 'HS256' });
}
