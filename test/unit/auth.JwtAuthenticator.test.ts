import { createHmac, generateKeyPairSync } from 'crypto';
import { expect } from 'chai';
import type { Request } from 'express';
import jwt from 'jsonwebtoken';
import { JwtAuthenticator, signDevelopmentToken } from '../../lib/auth';
import { ConfigurationError } from '../../lib/errors';

const SECRET = 'test-secret-that-is-long-enough-for-hs256';

function request(authorization?: string, query: Record<string, string> = {}): Request {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  return { headers, query, cookies: {} } as unknown as Request;
}

function bearer(token: string): Request {
  return request(`Bearer ${token}`);
}

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function expectConfigError(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigurationError);
    expect((err as ConfigurationError).code).to.equal('CONFIG_INVALID');
    return;
  }
  expect.fail('expected a ConfigurationError');
}

describe('JwtAuthenticator', () => {
  const now = () => Math.floor(Date.now() / 1000);

  describe('HS256', () => {
    const auth = new JwtAuthenticator({ secret: SECRET });

    it('returns the payload of a valid token', () => {
      const token = jwt.sign({ sub: 'alice', permissions: ['tasker.*'] }, SECRET, {
        algorithm: 'HS256',
        expiresIn: 60,
      });
      const user = auth.authenticate(bearer(token));
      expect(user).to.include({ sub: 'alice' });
      expect(user?.permissions).to.deep.equal(['tasker.*']);
    });

    it('accepts the scheme in any case', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET);
      expect(auth.authenticate(request(`bearer ${token}`))).to.include({ sub: 'alice' });
    });

    it('returns null without an Authorization header', () => {
      expect(auth.authenticate(request())).to.equal(null);
    });

    it('returns null for an expired token', () => {
      const token = jwt.sign({ sub: 'alice', exp: now() - 10 }, SECRET);
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('honours clockToleranceSec for a just-expired token', () => {
      const lenient = new JwtAuthenticator({ secret: SECRET, clockToleranceSec: 60 });
      const token = jwt.sign({ sub: 'alice', exp: now() - 10 }, SECRET);
      expect(lenient.authenticate(bearer(token))).to.include({ sub: 'alice' });
    });

    it('returns null for a token whose nbf is in the future', () => {
      const token = jwt.sign({ sub: 'alice', nbf: now() + 3600 }, SECRET);
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('returns null for a token signed with another secret', () => {
      const token = jwt.sign({ sub: 'alice' }, 'another-secret');
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('returns null for a tampered payload', () => {
      const token = jwt.sign({ sub: 'alice', permissions: ['tasker.task:index'] }, SECRET);
      const [header, payload, signature] = token.split('.');
      const i = Math.floor(payload.length / 2);
      const tampered =
        payload.slice(0, i) + (payload[i] === 'A' ? 'B' : 'A') + payload.slice(i + 1);
      expect(tampered).to.not.equal(payload);
      expect(auth.authenticate(bearer(`${header}.${tampered}.${signature}`))).to.equal(null);
    });

    it('returns null for an alg none token', () => {
      const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'mallory' })}.`;
      expect(auth.authenticate(bearer(token))).to.equal(null);
      const upper = `${b64url({ alg: 'NONE', typ: 'JWT' })}.${b64url({ sub: 'mallory' })}.`;
      expect(auth.authenticate(bearer(upper))).to.equal(null);
    });

    it('returns null for an algorithm not in the list', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET, { algorithm: 'HS512' });
      expect(auth.authenticate(bearer(token))).to.equal(null);
      const both = new JwtAuthenticator({ secret: SECRET, algorithms: ['HS256', 'HS512'] });
      expect(both.authenticate(bearer(token))).to.include({ sub: 'alice' });
    });

    it('returns null for a string payload', () => {
      const token = jwt.sign('just-a-string', SECRET);
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('ignores a token in the query string or a cookie', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET);
      const req = {
        headers: { cookie: `token=${token}` },
        query: { token, access_token: token },
        cookies: { token },
      } as unknown as Request;
      expect(auth.authenticate(req)).to.equal(null);
    });

    it('returns null for malformed headers', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET);
      for (const header of [
        'Basic xyz',
        `Basic ${token}`,
        'Bearer',
        'Bearer ',
        'Bearer not-a-jwt',
        `Bearer ${token} extra`,
        `Token ${token}`,
        token,
        'Bearer a.b',
        'Bearer ...',
      ]) {
        expect(auth.authenticate(request(header)), header).to.equal(null);
      }
    });

    it('never throws, even for a request without headers', () => {
      expect(auth.authenticate({} as unknown as Request)).to.equal(null);
    });
  });

  describe('issuer and audience', () => {
    const auth = new JwtAuthenticator({
      secret: SECRET,
      issuer: 'https://id.example.com',
      audience: ['tasker', 'other'],
    });

    it('accepts a token with the right issuer and audience', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET, {
        issuer: 'https://id.example.com',
        audience: 'tasker',
      });
      expect(auth.authenticate(bearer(token))).to.include({ sub: 'alice' });
    });

    it('returns null for a wrong issuer', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET, {
        issuer: 'https://evil.example.com',
        audience: 'tasker',
      });
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('returns null for a wrong audience', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET, {
        issuer: 'https://id.example.com',
        audience: 'billing',
      });
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('returns null when the claims are missing', () => {
      const token = jwt.sign({ sub: 'alice' }, SECRET);
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });
  });

  describe('RS256 and key confusion', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const auth = new JwtAuthenticator({ publicKey, algorithms: ['RS256'] });

    it('returns the payload of a real RS256 token', () => {
      const token = jwt.sign({ sub: 'alice' }, privateKey, { algorithm: 'RS256' });
      expect(auth.authenticate(bearer(token))).to.include({ sub: 'alice' });
    });

    it('returns null for an HS256 token using the public key as the HMAC secret', () => {
      // jsonwebtoken refuses to sign HS256 with a PEM, so forge it by hand as an attacker would.
      const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'mallory' })}`;
      const signature = createHmac('sha256', publicKey).update(signingInput).digest('base64url');
      expect(auth.authenticate(bearer(`${signingInput}.${signature}`))).to.equal(null);
    });

    it('returns null for an RS256 token signed by another key', () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const token = jwt.sign({ sub: 'mallory' }, other.privateKey, { algorithm: 'RS256' });
      expect(auth.authenticate(bearer(token))).to.equal(null);
    });

    it('refuses an invalid public key at construction', () => {
      expectConfigError(
        () => new JwtAuthenticator({ publicKey: 'not a pem', algorithms: ['RS256'] }),
      );
    });
  });

  describe('constructor refusals', () => {
    const { publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });

    it('refuses no key', () => {
      expectConfigError(() => new JwtAuthenticator());
      expectConfigError(() => new JwtAuthenticator({}));
      expectConfigError(() => new JwtAuthenticator({ secret: '' }));
    });

    it('refuses both a secret and a public key', () => {
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, publicKey }));
    });

    it('refuses an empty algorithm list', () => {
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, algorithms: [] }));
    });

    it('refuses the none algorithm in any case', () => {
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, algorithms: ['none'] }));
      expectConfigError(
        () =>
          new JwtAuthenticator({
            secret: SECRET,
            algorithms: ['HS256', 'NoNe' as jwt.Algorithm],
          }),
      );
    });

    it('refuses an HS algorithm with only a public key', () => {
      expectConfigError(() => new JwtAuthenticator({ publicKey }));
      expectConfigError(() => new JwtAuthenticator({ publicKey, algorithms: ['RS256', 'HS256'] }));
    });

    it('refuses an RS/ES/PS algorithm with only a secret', () => {
      for (const alg of ['RS256', 'ES256', 'PS256'] as jwt.Algorithm[]) {
        expectConfigError(() => new JwtAuthenticator({ secret: SECRET, algorithms: [alg] }));
      }
    });

    it('refuses an unknown algorithm', () => {
      expectConfigError(
        () => new JwtAuthenticator({ secret: SECRET, algorithms: ['XS256' as jwt.Algorithm] }),
      );
    });

    it('refuses empty issuer or audience and a negative clock tolerance', () => {
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, issuer: '' }));
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, audience: [] }));
      expectConfigError(() => new JwtAuthenticator({ secret: SECRET, clockToleranceSec: -1 }));
    });

    it('does not put the key material in the error', () => {
      let caught: unknown;
      try {
        new JwtAuthenticator({ secret: SECRET, algorithms: ['RS256'] });
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ConfigurationError);
      const error = caught as ConfigurationError;
      expect(JSON.stringify({ message: error.message, details: error.details })).to.not.include(
        SECRET,
      );
    });
  });

  describe('signDevelopmentToken', () => {
    it('signs an HS256 token the default authenticator accepts', () => {
      const token = signDevelopmentToken(SECRET, { sub: 'dev' }, { expiresIn: '1h' });
      expect(jwt.decode(token, { complete: true })?.header.alg).to.equal('HS256');
      const user = new JwtAuthenticator({ secret: SECRET }).authenticate(bearer(token));
      expect(user).to.include({ sub: 'dev' });
      expect(user?.exp).to.be.a('number');
    });

    it('forces HS256 whatever the options say', () => {
      const token = signDevelopmentToken(SECRET, { sub: 'dev' }, { algorithm: 'HS512' });
      expect(jwt.decode(token, { complete: true })?.header.alg).to.equal('HS256');
    });
  });
});
