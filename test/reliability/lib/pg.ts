import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { StorageConfig } from '../../../lib/storage';
import { sleep } from './common';

/** The shared Postgres server (`.ci/run` sets the variable; the default fits the dev machine). */
export const PG_URL =
  process.env.TASKER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A Postgres schema of its own on the shared server, dropped by `drop()`. */
export interface Schema {
  name: string;
  /** Knex config for Tasker confined to the schema. */
  config(pool?: { min: number; max: number }): StorageConfig;
  /** A Knex for the test's own checks, confined to the schema. */
  knex: Knex;
  drop(): Promise<void>;
}

/** Creates a fresh schema on the shared Postgres. */
export async function createSchema(url = PG_URL): Promise<Schema> {
  const name = `rel_${randomBytes(5).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.destroy();
  }
  const knex = knexFactory({
    client: 'pg',
    connection: url,
    searchPath: [name],
    pool: { min: 0, max: 3 },
  });
  return {
    name,
    knex,
    config: (pool = { min: 0, max: 5 }) => ({
      client: 'pg',
      connection: url,
      searchPath: [name],
      pool,
    }),
    async drop() {
      try {
        await knex.raw(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await knex.destroy();
      }
    },
  };
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Resolves true once a Postgres on `port` accepts connections, false after `timeoutMs`. */
export async function waitAccepting(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', String(port)], 5000);
      return true;
    } catch {
      await sleep(100);
    }
  }
  return false;
}

/** Why a private cluster cannot be made here, or null when it can. */
export function privateClusterUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'creating a Postgres cluster needs root';
  for (const tool of ['pg_createcluster', 'pg_ctlcluster', 'pg_dropcluster']) {
    if (!['/usr/bin', '/usr/sbin', '/bin'].some((d) => existsSync(join(d, tool)))) {
      return `${tool} (postgresql-common) is not installed`;
    }
  }
  return null;
}

const PREFIX = 'tasker_rel_';
const live = new Set<PrivateCluster>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops clusters an earlier run left behind (its process was killed before it could clean up):
 * those named with this prefix whose creating process is gone. A cluster of a run still going
 * on in parallel is left alone.
 */
async function dropStale(clusters: { version: string; name: string; dataDir?: string }[]) {
  for (const c of clusters) {
    const m = new RegExp(`^${PREFIX}(\\d+)_[0-9a-f]+$`).exec(c.name);
    if (!m || alive(Number(m[1]))) continue;
    await run('pg_dropcluster', [c.version, c.name, '--stop'], 60_000).catch(() => {});
    if (c.dataDir?.startsWith(tmpdir())) rmSync(c.dataDir, { recursive: true, force: true });
  }
}
process.on('exit', () => {
  for (const c of live) c.dropSync();
});

/**
 * A Postgres cluster of the test's own (Debian's `pg_createcluster`), so that restarting it
 * with `pg_ctlcluster ... restart` cannot disturb anything else connected to the shared server,
 * whatever runs in parallel. It listens on a free loopback port, trusts local connections and
 * runs with fsync off (its data is thrown away).
 */
export class PrivateCluster {
  /** `tasker_rel_<pid of this process>_<random>`: see {@link dropStale}. */
  readonly name = `${PREFIX}${process.pid}_${randomBytes(3).toString('hex')}`;
  port = 0;
  private dataDir = '';
  private version = '';
  private created = false;

  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async create(): Promise<void> {
    const clusters = (await run('pg_lsclusters', ['-h'], 10_000))
      .split('\n')
      .map((l) => l.split(/\s+/))
      .filter((f) => f.length > 1);
    this.version = clusters[0]?.[0] ?? '15';
    await dropStale(clusters.map((f) => ({ version: f[0], name: f[1], dataDir: f[5] })));
    this.port = await freePort();
    const parent = mkdtempSync(join(tmpdir(), 'tasker-rel-pg-'));
    rmSync(parent, { recursive: true, force: true });
    this.dataDir = parent;
    this.created = true;
    live.add(this);
    await run(
      'pg_createcluster',
      [
        this.version,
        this.name,
        '-p',
        String(this.port),
        '-d',
        this.dataDir,
        '--start',
        '-o',
        'fsync=off',
        '-o',
        'max_connections=60',
        '--',
        '--auth=trust',
      ],
      120_000,
    );
    if (!(await waitAccepting(this.port, 30_000))) {
      throw new Error(`private cluster ${this.name} did not start`);
    }
  }

  /** `pg_ctlcluster <version> <name> restart`, bounded by `timeoutMs`. */
  async restart(timeoutMs = 60_000): Promise<void> {
    await run(
      'pg_ctlcluster',
      ['--skip-systemctl-redirect', this.version, this.name, 'restart', '-m', 'fast'],
      timeoutMs,
    );
  }

  /** Stops and removes the cluster (configuration and data); retries with an immediate stop. */
  async drop(): Promise<void> {
    if (!this.created) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await run('pg_dropcluster', [this.version, this.name, '--stop'], 60_000);
        break;
      } catch (err) {
        if (attempt >= 3) {
          process.stderr.write(`could not drop Postgres cluster ${this.name}: ${String(err)}\n`);
          return;
        }
        await run(
          'pg_ctlcluster',
          ['--skip-systemctl-redirect', this.version, this.name, 'stop', '-m', 'immediate'],
          30_000,
        ).catch(() => {});
        await sleep(500);
      }
    }
    this.created = false;
    live.delete(this);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Last resort when the process exits with the cluster still there. */
  dropSync(): void {
    if (!this.created) return;
    this.created = false;
    try {
      execFileSync('pg_dropcluster', [this.version, this.name, '--stop'], { timeout: 30_000 });
      rmSync(this.dataDir, { recursive: true, force: true });
    } catch {
      // Nothing more can be done while exiting.
    }
  }
}
