/**
 * GET /health/ready while the database is really unreachable: a TCP proxy in front of Postgres
 * stopped (sockets destroyed) or silenced (half-open), and for SQLite a Knex pool that cannot
 * open the file. Readiness turns 503 within the timeout and back to 200 when the database returns.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import type { StorageConfig } from '../../lib/storage';
import {
  createSchema,
  forEachDatabase,
  PG_URL,
  tempDir,
  type TestDatabase,
} from '../helpers/databases';
import { makeHarness, waitFor, waitForTask, type Harness } from '../helpers/tasker';

const register = (h: Harness['tasker']) =>
  h.registerHandler({
    namespace: 'ops',
    name: 'pair',
    version: '1.0.0',
    steps: [
      { name: 'first', handler: async () => ({ ok: true }) },
      { name: 'second', dependsOn: 'first', handler: async () => ({ ok: true }) },
    ],
  });

/**
 * A TCP proxy in front of Postgres. `stop()` closes it and every socket (connections refused
 * until `start()` again, on the same port). `silence()` cuts the network without a word: the
 * server side of each connection is closed but the client's stays open, and new connections are
 * accepted and never answered; after `unsilence()` new connections work, and a silenced one the
 * client writes to is reset, as a real server answers a connection it does not know.
 */
class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly silenced = new Set<Socket>();
  private silent = false;
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private hush(client: Socket): void {
    this.silenced.add(client);
    client.removeAllListeners('data');
    client.on('data', () => {
      if (!this.silent) client.resetAndDestroy();
    });
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      this.track(client);
      if (this.silent) {
        this.hush(client);
        return;
      }
      const upstream = connect(this.targetPort, this.host);
      this.track(upstream);
      client.on('data', (d: Buffer) => upstream.write(d));
      upstream.on('data', (d: Buffer) => {
        if (!this.silenced.has(client)) client.write(d);
      });
      upstream.on('close', () => {
        if (!this.silenced.has(client)) client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.once('silence', () => {
        this.hush(client);
        upstream.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  silence(): void {
    this.silent = true;
    for (const s of [...this.sockets]) s.emit('silence');
  }

  unsilence(): void {
    this.silent = false;
  }
}

/** Knex reports each lost connection on the console; the test expects them. */
const quietKnex = { warn() {}, error() {}, debug() {}, deprecate() {} };

/** A database that a test can take away and give back. */
interface Outage {
  storage: StorageConfig;
  /** Postgres only: the proxy, for a half-open cut. */
  proxy?: TcpProxy;
  breakIt(h: Harness): Promise<void>;
  restore(h: Harness): Promise<void>;
  cleanup(): Promise<void>;
}

async function makeOutage(db: TestDatabase): Promise<Outage> {
  if (db.name === 'postgres') {
    const url = new URL(PG_URL);
    const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
    await proxy.start();
    const proxied = new URL(PG_URL);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    return {
      storage: {
        client: 'pg',
        connection: proxied.toString(),
        searchPath: [await createSchema()],
        pool: { min: 0, max: 5 },
        log: quietKnex,
      },
      proxy,
      breakIt: () => proxy.stop(),
      restore: () => proxy.start(),
      cleanup: () => proxy.stop(),
    };
  }
  // SQLite: the pool's connections are replaced by ones that cannot open the file.
  const dir = tempDir();
  let broken = false;
  const file = join(dir, 'tasker.sqlite');
  return {
    storage: {
      client: 'better-sqlite3',
      log: quietKnex,
      // Knex asks again (and replaces pooled connections) once the answer has expired: when
      // `broken` flips, connections to the file are dropped and new ones cannot be opened.
      connection: () => {
        const state = broken;
        return {
          filename: state ? join(dir, 'missing', 'no.sqlite') : file,
          expirationChecker: () => broken !== state,
        };
      },
    },
    async breakIt() {
      broken = true;
    },
    async restore() {
      broken = false;
    },
    async cleanup() {},
  };
}

forEachDatabase((db) => {
  describe('GET /health/ready when the database goes away', () => {
    it('turns 503 while the database is unreachable and 200 when it is back', async function () {
      this.timeout(60_000);
      const outage = await makeOutage(db);
      try {
        const h = await makeHarness(
          db,
          { storage: outage.storage, health: { timeoutMs: 500 } },
          register,
        );
        await request(h.app).get('/tasker/health/ready').expect(200);

        await outage.breakIt(h);
        const down = await waitFor(
          async () => {
            const r = await request(h.app).get('/tasker/health/ready');
            return r.status === 503 ? r : undefined;
          },
          20_000,
          '/health/ready to answer 503',
        );
        expect(down.body.status).to.equal('fail');
        expect(down.body.checks.database.status).to.equal('fail');
        expect(down.body.checks.database.message).to.be.a('string').and.not.equal('');
        expect(down.body.checks.migrations.status).to.equal('fail');
        // Liveness does not depend on the database.
        await request(h.app).get('/tasker/health/live').expect(200);

        await outage.restore(h);
        const up = await waitFor(
          async () => {
            const r = await request(h.app).get('/tasker/health/ready');
            return r.status === 200 ? r : undefined;
          },
          20_000,
          '/health/ready to answer 200 again',
        );
        expect(up.body.checks.database.status).to.equal('pass');
        // And the engine works again: a task runs to completion.
        const task = await h.tasker.createTask({ namespace: 'ops', name: 'pair' });
        await waitForTask(h.tasker, task.id, ['complete']);
      } finally {
        await outage.cleanup();
      }
    });
  });

  if (db.name === 'postgres') {
    describe('GET /health/ready after a half-open network cut', () => {
      it('answers 503 within the timeout, then 200 once the network is back', async function () {
        this.timeout(60_000);
        const outage = await makeOutage(db);
        const proxy = outage.proxy!;
        try {
          const h = await makeHarness(
            db,
            { storage: outage.storage, health: { timeoutMs: 300 } },
            register,
          );
          await request(h.app).get('/tasker/health/ready').expect(200);
          proxy.silence();
          const down = await waitFor(async () => {
            const r = await request(h.app).get('/tasker/health/ready');
            return r.status === 503 ? r : undefined;
          });
          expect(down.body.checks.database.message).to.equal(
            'the database did not answer within 300 ms',
          );
          // Every probe answers, however many arrive while connections hang.
          const probes = await Promise.all(
            [1, 2, 3, 4, 5, 6, 7, 8].map(() => request(h.app).get('/tasker/health/ready')),
          );
          expect(probes.map((r) => r.status)).to.deep.equal(new Array(8).fill(503));
          proxy.unsilence();
          await waitFor(
            async () => (await request(h.app).get('/tasker/health/ready')).status === 200,
            30_000,
            '/health/ready to answer 200 again',
          );
        } finally {
          await outage.cleanup();
        }
      });
    });
  }
});
