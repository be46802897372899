/**
 * Rate limiting (config `rateLimit`): per user when authenticated, else per IP; a 429 in the
 * error envelope with Retry-After; probes never limited; nothing at all when it is off.
 */
import { expect } from 'chai';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { Registry } from 'prom-client';
import request from 'supertest';
import { JwtAuthenticator, signDevelopmentToken, type Tasker } from '../../lib';
import { sqlite } from '../helpers/databases';
import { makeHarness } from '../helpers/tasker';

const SECRET = 'ops-rate-limit-test-secret-0123456789abcdef';

const register = (t: Tasker) =>
  t.registerHandler({
    namespace: 'ops',
    name: 'noop',
    version: '1.0.0',
    steps: [{ name: 'only', handler: async () => null }],
  });

describe('rate limiting', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a client is over the limit', async () => {
    const registry = new Registry();
    const h = await makeHarness(
      sqlite,
      { rateLimit: { limit: 2, windowMs: 60_000 }, metrics: { registry } },
      register,
    );
    const first = await request(h.app).get('/tasker/handlers').expect(200);
    expect(first.headers['ratelimit-policy']).to.equal('2;w=60');
    await request(h.app).get('/tasker/handlers/ops').expect(200);
    const limited = await request(h.app).get('/tasker/handlers').expect(429);
    expect(limited.body).to.deep.equal({
      error: {
        type: 'RateLimited',
        message: limited.body.error.message,
        code: 'RATE_LIMITED',
      },
    });
    expect(limited.body.error.message).to.match(/^Too many requests; retry after \d+ seconds$/);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).to.be.within(1, 60);

    // Probes are never limited: an orchestrator must see the truth.
    await request(h.app).get('/tasker/health/live').expect(200);
    await request(h.app).get('/tasker/health/ready').expect(200);

    // The 429 is measured under its route (read from the registry: /metrics is limited too).
    await request(h.app).get('/tasker/metrics').expect(429);
    expect(await registry.metrics()).to.include(
      'tasker_http_request_duration_seconds_count{method="GET",route="/handlers",status="429"} 1',
    );
  });

  it('counts per user when authenticated, and per IP otherwise', async () => {
    const h = await makeHarness(
      sqlite,
      {
        rateLimit: { limit: 2, windowMs: 60_000 },
        auth: { authenticator: JwtAuthenticator, authenticatorOptions: { secret: SECRET } },
      },
      register,
    );
    const alice = signDevelopmentToken(SECRET, { sub: 'alice' });
    const bob = signDevelopmentToken(SECRET, { sub: 'bob' });
    const get = (token?: string) => {
      const r = request(h.app).get('/tasker/handlers');
      return token ? r.set('Authorization', `Bearer ${token}`) : r;
    };
    await get(alice).expect(200);
    await get(alice).expect(200);
    await get(alice).expect(429);
    // Same address, another user: a budget of its own.
    await get(bob).expect(200);
    await get(bob).expect(200);
    await get(bob).expect(429);
    // Anonymous callers share the address's budget (and get 401 until it runs out).
    await get().expect(401);
    await get().expect(401);
    const anon = await get().expect(429);
    expect(anon.headers['retry-after']).to.match(/^\d+$/);
  });

  it('is off by default, leaving a host limiter in charge', async () => {
    const h = await makeHarness(sqlite, {}, register);
    for (let i = 0; i < 30; i++) {
      const res = await request(h.app).get('/tasker/handlers').expect(200);
      expect(res.headers).to.not.have.property('ratelimit-policy');
      expect(res.headers).to.not.have.property('retry-after');
    }
    const host = express();
    host.use(rateLimit({ limit: 1, windowMs: 60_000, message: 'host says slow down' }));
    host.use('/tasker', h.tasker);
    await request(host).get('/tasker/handlers').expect(200);
    const limited = await request(host).get('/tasker/handlers').expect(429);
    expect(limited.text).to.equal('host says slow down');
  });

  it('rejects an invalid configuration', async () => {
    let error: unknown;
    try {
      await makeHarness(sqlite, { rateLimit: { limit: 0 } }, register);
    } catch (err) {
      error = err;
    }
    expect((error as { code?: string }).code).to.equal('CONFIG_INVALID');
  });
});
