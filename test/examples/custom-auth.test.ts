/**
 * Acceptance test of examples/custom-auth: an API-key authenticator class and an authorizer
 * that scopes keys to namespaces.
 */
import type { Request } from 'express';
import { expect } from 'chai';
import request from 'supertest';
import { ConfigurationError, silentLogger } from '../../lib';
import {
  ApiKeyAuthenticator,
  createCustomAuthApp,
  namespaceAuthorizer,
} from '../../examples/custom-auth/app';
import { tempDir } from '../helpers/databases';
import { join } from 'node:path';

const BILLING = 'billing-key-0001';
const REPORTS = 'reports-key-0002';
const ADMIN = 'admin-key-0003';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('examples/custom-auth', () => {
  let app: Awaited<ReturnType<typeof createCustomAuthApp>>;

  before(async () => {
    app = await createCustomAuthApp({
      storage: join(tempDir(), 'custom-auth.sqlite'),
      logger: silentLogger,
    });
  });
  after(async () => {
    await app?.close();
  });

  const as = (key: string | null) => {
    const agent = request(app.app);
    const withKey = (t: request.Test) => (key === null ? t : t.set('X-Api-Key', key));
    return {
      get: (path: string) => withKey(agent.get(path)),
      post: (path: string, body: object) => withKey(agent.post(path)).send(body),
    };
  };

  const forbidden = (permission: string) => ({
    error: {
      type: 'AuthorizationError',
      message: `Insufficient permissions for ${permission}`,
      code: 'AUTHORIZATION_FAILED',
    },
  });

  it('answers 401 in the error envelope without a key or with an unknown key', async () => {
    const envelope = {
      error: {
        type: 'AuthenticationError',
        message: 'Invalid or expired authentication token',
        code: 'AUTHENTICATION_FAILED',
      },
    };
    const none = await as(null).get('/tasker/handlers').expect(401);
    expect(none.body).to.deep.equal(envelope);
    const unknown = await as('not-a-real-key-999').get('/tasker/handlers/billing').expect(401);
    expect(unknown.body).to.deep.equal(envelope);
    // A JWT is not an API key: the default authenticator was replaced, not extended.
    await request(app.app).get('/tasker/handlers').set('Authorization', 'Bearer a.b.c').expect(401);
  });

  it('keeps the API docs public', async () => {
    const res = await as(null).get('/tasker/api-docs.json').expect(200);
    expect(res.body.openapi).to.match(/^3\.1/);
  });

  it('lets a key scoped to billing use billing: 200 and 201', async () => {
    const handlers = await as(BILLING).get('/tasker/handlers/billing').expect(200);
    expect(handlers.body.handlers.map((h: any) => h.id)).to.deep.equal(['send_invoice']);
    await as(BILLING).get('/tasker/handlers/billing/send_invoice').expect(200);
    // Listing namespace names is discovery, allowed to every key.
    const all = await as(BILLING).get('/tasker/handlers').expect(200);
    expect(all.body.namespaces.map((n: any) => n.name)).to.deep.equal(['billing', 'reports']);

    const created = await as(BILLING)
      .post('/tasker/tasks', {
        namespace: 'billing',
        name: 'send_invoice',
        context: { invoice_id: 'inv_1' },
      })
      .expect(201);
    expect(created.body.full_name).to.equal('billing.send_invoice@1.0.0');

    let task: any;
    for (const deadline = Date.now() + 10_000; ; await sleep(50)) {
      task = (await as(BILLING).get(`/tasker/tasks/${created.body.id}`).expect(200)).body;
      if (task.status === 'complete' || Date.now() > deadline) break;
    }
    expect(task.status).to.equal('complete');
    expect(task.steps.map((s: any) => s.results)).to.deep.equal([
      { invoice_id: 'inv_1', pages: 1 },
      { sent: true, invoice_id: 'inv_1' },
    ]);
    const list = await as(BILLING).get('/tasker/tasks?namespace=billing').expect(200);
    expect(list.body.tasks.map((t: any) => t.id)).to.include(created.body.id);
  });

  it('answers 403 when the billing key reaches into reports', async () => {
    const handlers = await as(BILLING).get('/tasker/handlers/reports').expect(403);
    expect(handlers.body).to.deep.equal(forbidden('tasker.handler:index'));
    await as(BILLING).get('/tasker/handlers/reports/daily_summary').expect(403);
    const create = await as(BILLING)
      .post('/tasker/tasks', { namespace: 'reports', name: 'daily_summary' })
      .expect(403);
    expect(create.body).to.deep.equal(forbidden('tasker.task:create'));
    await as(BILLING).get('/tasker/tasks?namespace=reports').expect(403);
    // Without a namespace filter the list would show every namespace's tasks.
    const unfiltered = await as(BILLING).get('/tasker/tasks').expect(403);
    expect(unfiltered.body).to.deep.equal(forbidden('tasker.task:index'));
  });

  it("answers 403 on another namespace's task by id", async () => {
    const report = await as(ADMIN)
      .post('/tasker/tasks', { namespace: 'reports', name: 'daily_summary' })
      .expect(201);
    await as(BILLING).get(`/tasker/tasks/${report.body.id}`).expect(403);
    await as(REPORTS).get(`/tasker/tasks/${report.body.id}`).expect(200);
    await as(ADMIN).get('/tasker/tasks').expect(200);
  });

  it('keeps permissions in force inside the namespace: the reports key is read-only', async () => {
    await as(REPORTS).get('/tasker/handlers/reports').expect(200);
    await as(REPORTS).get('/tasker/tasks?namespace=reports').expect(200);
    const create = await as(REPORTS)
      .post('/tasker/tasks', { namespace: 'reports', name: 'daily_summary' })
      .expect(403);
    expect(create.body).to.deep.equal(forbidden('tasker.task:create'));
  });

  it('refuses a malformed key table at startup', () => {
    expect(() => new ApiKeyAuthenticator(undefined as any)).to.throw(ConfigurationError);
    expect(
      () => new ApiKeyAuthenticator({ keys: { short: { id: 'x', permissions: [] } } }),
    ).to.throw(ConfigurationError, /too short/);
    const auth = new ApiKeyAuthenticator({
      keys: { 'long-enough-key': { id: 'svc', permissions: ['tasker.*'] } },
      header: 'X-Service-Key',
    });
    const req = (headers: Record<string, string>) =>
      ({ get: (name: string) => headers[name.toLowerCase()] }) as unknown as Request;
    expect(auth.authenticate(req({ 'x-service-key': 'long-enough-key' }))).to.deep.equal({
      id: 'svc',
      permissions: ['tasker.*'],
      namespaces: [],
    });
    expect(auth.authenticate(req({ 'x-api-key': 'long-enough-key' }))).to.equal(null);
  });

  it('scopes through the authorizer alone, for hosts reusing it', async () => {
    const user = { permissions: ['tasker.*'], namespaces: ['billing'] };
    expect(await namespaceAuthorizer(user, 'tasker.task:show', { namespace: 'billing' })).to.equal(
      true,
    );
    expect(await namespaceAuthorizer(user, 'tasker.task:show', { namespace: 'reports' })).to.equal(
      false,
    );
    expect(await namespaceAuthorizer({ permissions: [] }, 'tasker.task:show', {})).to.equal(false);
  });
});
