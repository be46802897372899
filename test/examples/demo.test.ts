import { SEED_PROCESS_PAYMENT_TEMPLATES } from '../helpers/seed';
/**
 * Acceptance test of examples/demo: the seed's "Complete Handler Discovery Workflow" against the
 * demo app in-process, then `server.ts` as a real process, as `npm run demo` starts it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { signDevelopmentToken, silentLogger } from '../../lib';
import { createDemoApp, demoBanner, type DemoApp } from '../../examples/demo/app';
import { tempDir } from '../helpers/databases';

const ROOT = resolve(__dirname, '..', '..');
/** The printed curl line: `curl -H "Authorization: Bearer <token>" <url>/tasker/handlers`. */
const CURL_LINE =
  /^\s*curl -H "Authorization: Bearer ([\w-]+\.[\w-]+\.[\w-]+)" (http:\/\/\S+\/tasker\/handlers)$/m;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, obj[k]]));
}

/** The seed's GET /tasker/handlers example (handler names compared as sets). */
const SEED_NAMESPACES = [
  {
    name: 'payments',
    description: 'Payment processing workflows',
    handler_count: 5,
    handlers: [
      'process_payment',
      'refund_payment',
      'validate_card',
      'process_subscription',
      'cancel_subscription',
    ],
  },
  {
    name: 'inventory',
    description: 'Inventory management workflows',
    handler_count: 3,
    handlers: ['update_stock', 'process_order', 'check_availability'],
  },
  {
    name: 'notifications',
    description: 'Notification and messaging workflows',
    handler_count: 4,
    handlers: ['send_email', 'send_sms', 'push_notification', 'alert_admin'],
  },
];

const PAYMENT_STEPS = ['validate_payment', 'charge_card', 'update_order', 'send_confirmation'];

describe('examples/demo', () => {
  let savedSpeed: string | undefined;
  before(() => {
    savedSpeed = process.env.TASKER_DEMO_SPEED;
    // 1000x: steps take a millisecond or less and random failures are off.
    process.env.TASKER_DEMO_SPEED = '1000';
  });
  after(() => {
    if (savedSpeed === undefined) delete process.env.TASKER_DEMO_SPEED;
    else process.env.TASKER_DEMO_SPEED = savedSpeed;
  });

  describe('createDemoApp (in-process)', () => {
    let demo: DemoApp;
    let token: string;

    before(async () => {
      const file = join(tempDir(), 'demo.sqlite');
      demo = await createDemoApp({ storage: file, port: 3000, logger: silentLogger });
      // Use the token exactly as the banner prints it in the curl line.
      const match = CURL_LINE.exec(demoBanner(demo.urls, demo.token));
      expect(match, 'banner has a curl line').to.not.equal(null);
      token = match![1];
      expect(match![2]).to.equal('http://localhost:3000/tasker/handlers');
    });
    after(async () => {
      await demo?.close();
    });

    const get = (path: string) =>
      request(demo.app).get(path).set('Authorization', `Bearer ${token}`);

    it('prints the URLs and the seed workflow with the real token and port', () => {
      const banner = demoBanner(demo.urls, demo.token);
      for (const url of [
        'http://localhost:3000/tasker',
        'http://localhost:3000/tasker/api-docs',
        'http://localhost:3000/tasker/ui',
      ]) {
        expect(banner).to.include(url);
      }
      expect(banner).to.include(`TOKEN=${demo.token}`);
      for (const n of [1, 2, 3, 4, 5]) expect(banner).to.match(new RegExp(`# ${n}\\. `));
      expect(banner).to.include(
        '"http://localhost:3000/tasker/handlers/payments/process_payment?version=2.1.0"',
      );
      expect(banner).to.not.include('your-app.com');
    });

    it('signs a 24 h token granting tasker.*', () => {
      const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
      expect(payload.permissions).to.deep.equal(['tasker.*']);
      expect(payload.exp - payload.iat).to.equal(24 * 3600);
    });

    it('answers GET / with links, without authentication', async () => {
      const json = await request(demo.app).get('/').set('Accept', 'application/json').expect(200);
      expect(json.body.links).to.include({
        handlers: '/tasker/handlers',
        swagger_ui: '/tasker/api-docs',
        dashboard: '/tasker/ui',
      });
      const html = await request(demo.app).get('/').set('Accept', 'text/html').expect(200);
      expect(html.type).to.equal('text/html');
      expect(html.text).to.include('href="/tasker/api-docs"');
    });

    it('refuses the API without a token, and with a token signed by another secret', async () => {
      const none = await request(demo.app).get('/tasker/handlers').expect(401);
      expect(none.body.error).to.deep.include({
        type: 'AuthenticationError',
        code: 'AUTHENTICATION_FAILED',
      });
      const forged = signDevelopmentToken('another-secret-of-at-least-32-chars!', {
        permissions: ['tasker.*'],
      });
      await request(demo.app)
        .get('/tasker/handlers')
        .set('Authorization', `Bearer ${forged}`)
        .expect(401);
    });

    it('runs the Complete Handler Discovery Workflow', async () => {
      // 1. List all namespaces: the seed's shape, with the seed's namespaces and handlers.
      const namespaces = await get('/tasker/handlers').expect(200);
      expect(Object.keys(namespaces.body)).to.deep.equal(['namespaces']);
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      const normalise = (list: any[]) =>
        list.map((ns) => ({ ...ns, handlers: [...ns.handlers].sort() })).sort(byName);
      for (const ns of namespaces.body.namespaces) {
        expect(Object.keys(ns)).to.have.members([
          'name',
          'description',
          'handler_count',
          'handlers',
        ]);
      }
      expect(normalise(namespaces.body.namespaces)).to.deep.equal(normalise(SEED_NAMESPACES));

      // 2. Explore handlers in the payments namespace.
      const payments = await get('/tasker/handlers/payments').expect(200);
      expect(payments.body.namespace).to.equal('payments');
      const summaries: Record<string, any> = Object.fromEntries(
        payments.body.handlers.map((h: any) => [h.id, h]),
      );
      expect(Object.keys(summaries)).to.have.members(SEED_NAMESPACES[0].handlers);
      const summaryKeys = ['id', 'namespace', 'version', 'description', 'step_count', 'step_names'];
      expect(pick(summaries.process_payment, summaryKeys)).to.deep.equal({
        id: 'process_payment',
        namespace: 'payments',
        version: '2.1.0',
        description: 'Process customer payment with validation and confirmation',
        step_count: 4,
        step_names: PAYMENT_STEPS,
      });
      expect(pick(summaries.refund_payment, summaryKeys)).to.deep.equal({
        id: 'refund_payment',
        namespace: 'payments',
        version: '1.5.0',
        description: 'Process customer refund with validation',
        step_count: 3,
        step_names: ['validate_refund', 'process_refund', 'notify_customer'],
      });

      // 3. Handler detail with its dependency graph.
      const detail = await get('/tasker/handlers/payments/process_payment?version=2.1.0').expect(
        200,
      );
      expect(pick(detail.body, ['id', 'namespace', 'version', 'description'])).to.deep.equal({
        id: 'process_payment',
        namespace: 'payments',
        version: '2.1.0',
        description: 'Process customer payment with validation and confirmation',
      });
      const seedKeys = Object.keys(SEED_PROCESS_PAYMENT_TEMPLATES[0]);
      expect(detail.body.step_templates.map((t: any) => pick(t, seedKeys))).to.deep.equal(
        SEED_PROCESS_PAYMENT_TEMPLATES,
      );
      expect(
        pick(detail.body.dependency_graph, ['nodes', 'edges', 'execution_order']),
      ).to.deep.equal({
        nodes: PAYMENT_STEPS,
        edges: [
          { from: 'validate_payment', to: 'charge_card' },
          { from: 'charge_card', to: 'update_order' },
          { from: 'update_order', to: 'send_confirmation' },
        ],
        execution_order: PAYMENT_STEPS,
      });

      // 4. Create a task using the discovered handler.
      const created = await request(demo.app)
        .post('/tasker/tasks')
        .set('Authorization', `Bearer ${token}`)
        .send({
          name: 'process_payment',
          namespace: 'payments',
          version: '2.1.0',
          context: { payment_id: 123 },
        })
        .expect(201);
      expect(created.body.id).to.match(UUID);
      expect(created.body).to.deep.include({
        name: 'process_payment',
        namespace: 'payments',
        version: '2.1.0',
        full_name: 'payments.process_payment@2.1.0',
        context: { payment_id: 123 },
      });
      expect(['pending', 'in_progress']).to.include(created.body.status);
      expect(created.body.created_at).to.match(ISO);
      expect(created.body.updated_at).to.match(ISO);

      // 5. Monitor task progress until it completes (15 s at most).
      const deadline = Date.now() + 15_000;
      let task: any;
      for (;;) {
        const res = await get(`/tasker/tasks/${created.body.id}?include_dependencies=true`).expect(
          200,
        );
        task = res.body;
        expect(task.dependencies, 'dependency analysis').to.be.an('object');
        if (task.status === 'complete') break;
        expect(['pending', 'in_progress'], JSON.stringify(task.dependencies)).to.include(
          task.status,
        );
        if (Date.now() > deadline) {
          throw new Error(`task still ${task.status}: ${JSON.stringify(task.dependencies)}`);
        }
        await sleep(100);
      }
      expect(task.id).to.equal(created.body.id);
      expect(task.full_name).to.equal('payments.process_payment@2.1.0');
      expect(task.steps.map((s: any) => s.name)).to.deep.equal(PAYMENT_STEPS);
      for (const step of task.steps) {
        expect(step.status, step.name).to.equal('complete');
        expect(step.attempts, step.name).to.equal(1);
        expect(step.results, step.name).to.be.an('object');
        expect(step.started_at, step.name).to.match(ISO);
        expect(step.completed_at, step.name).to.match(ISO);
      }
      expect(task.steps[0].results).to.include({ valid: true });
      expect(task.dependencies).to.deep.include({
        analysis: 'All steps completed successfully',
        blocked_steps: [],
        ready_steps: [],
        completed_steps: PAYMENT_STEPS,
      });
    });
  });

  describe('server.ts (as a process)', () => {
    let child: ChildProcess | undefined;

    afterEach(() => {
      // Only after a failure is the server still running: kill its whole process group.
      if (child && child.exitCode === null && child.signalCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      child = undefined;
    });

    it('prints a working curl line and exits with 0 on SIGTERM', async function () {
      this.timeout(60_000);
      const port = await freePort();
      const cwd = tempDir();
      // The tsx binary that `npm run demo` runs. `npx tsx` is not used because from a temp
      // directory npx would look for tsx outside this project (and maybe download it).
      const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
      const proc = spawn(process.execPath, [tsx, join(ROOT, 'examples', 'demo', 'server.ts')], {
        cwd,
        env: { ...process.env, PORT: String(port), TASKER_DEMO_SPEED: '1000' },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a failed test can kill tsx and its child together.
        detached: true,
      });
      child = proc;
      let stdout = '';
      let stderr = '';
      proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
        proc.once('exit', (code, signal) => done({ code, signal })),
      );

      const started = Date.now();
      while (!/Press Ctrl\+C to stop/.test(stdout)) {
        if (proc.exitCode !== null) throw new Error(`server exited early:\n${stdout}\n${stderr}`);
        if (Date.now() - started > 30_000) {
          throw new Error(`server did not start in 30 s:\n${stdout}\n${stderr}`);
        }
        await sleep(50);
      }
      for (const path of ['/tasker', '/tasker/api-docs', '/tasker/ui']) {
        expect(stdout).to.include(`http://localhost:${port}${path}`);
      }

      const match = CURL_LINE.exec(stdout);
      expect(match, `a curl line in:\n${stdout}`).to.not.equal(null);
      const [, token, url] = match!;
      expect(url).to.equal(`http://localhost:${port}/tasker/handlers`);
      const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      const body = (await res.json()) as { namespaces: { name: string }[] };
      expect(body.namespaces.map((ns) => ns.name)).to.have.members([
        'payments',
        'inventory',
        'notifications',
      ]);
      // The default database file is created in the working directory.
      expect(existsSync(join(cwd, 'demo.sqlite'))).to.equal(true);

      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        exited,
        new Promise<{ code: null; signal: string }>((done) => {
          timer = setTimeout(() => done({ code: null, signal: 'timeout after 10 s' }), 10_000);
        }),
      ]);
      clearTimeout(timer);
      expect(outcome, `exit of the server; stderr:\n${stderr}`).to.deep.equal({
        code: 0,
        signal: null,
      });
      expect(stdout).to.include('Tasker demo stopped.');
    });
  });
});

/** A port nobody listens on right now: listen on 0, note the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}
