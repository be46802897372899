/**
 * The `tasker` CLI, run as a child process through bin/tasker.js: exit codes, output, and each
 * command doing its work (migrations applied, a worker running a task, the catalogue printed,
 * the demo answering).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { createTasker, type Tasker } from '../../lib';
import { silentLogger } from '../../lib/observability/logger';
import { createSchema, PG_URL, tempDir } from '../helpers/databases';
import { waitFor, waitForTask } from '../helpers/tasker';
import workerModule from '../fixtures/cli-worker';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'tasker.js');
const CATALOGUE = join(ROOT, 'test', 'fixtures', 'cli-catalogue.ts');
const WORKER = join(ROOT, 'test', 'fixtures', 'cli-worker.ts');
const BAD = join(ROOT, 'test', 'fixtures', 'cli-bad.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Started {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];

function start(args: string[], cwd = tempDir(), env: Record<string, string> = {}): Started {
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, TASKER_DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((done) => proc.once('exit', (code) => done(code)));
  return { proc, stdout: () => stdout, stderr: () => stderr, exited };
}

async function run(args: string[], cwd?: string, env?: Record<string, string>): Promise<Run> {
  const p = start(args, cwd, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe('tasker CLI', function () {
  this.timeout(60_000);

  afterEach(() => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });

  describe('arguments', () => {
    it('prints help with exit code 0, for the program and for each command', async () => {
      const top = await run(['--help']);
      expect(top.code).to.equal(0);
      for (const cmd of ['migrate', 'worker', 'handlers', 'demo']) {
        expect(top.stdout).to.match(new RegExp(`^\\s+${cmd} \\[options\\]`, 'm'));
        const help = await run([cmd, '--help']);
        expect(help.code, cmd).to.equal(0);
        expect(help.stdout, cmd).to.include(`Usage: tasker ${cmd} [options]`);
      }
      const version = await run(['--version']);
      expect(version.code).to.equal(0);
      expect(version.stdout.trim()).to.match(/^\d+\.\d+\.\d+/);
    });

    it('answers a bad command line with one line on stderr and exit code 2', async () => {
      const cases: [string[], RegExp][] = [
        [[], /missing command/],
        [['migrat'], /unknown command 'migrat'/],
        [['migrate', '--databse', 'x.db'], /unknown option '--databse'/],
        [['migrate'], /missing --database/],
        [['migrate', '--database', 'mysql://h/db'], /must be a postgres:\/\/ URL, sqlite:<path>/],
        [['worker'], /required option '-c, --config <file>' not specified/],
        [['worker', '--config', 'nope.ts', '--database', 'x.db'], /no such file/],
        [['worker', '--config', WORKER, '--concurrency', '0'], /must be a positive integer/],
        [['handlers', '--config', BAD], /must export a function \(tasker\) => void/],
        [['demo', '--port', 'abc'], /must be an integer from 0 to 65535/],
      ];
      for (const [args, message] of cases) {
        const r = await run(args);
        const what = `tasker ${args.join(' ')}`;
        expect(r.code, what).to.equal(2);
        expect(r.stdout, what).to.equal('');
        expect(r.stderr.endsWith('\n'), what).to.equal(true);
        expect(r.stderr.trim().split('\n'), what).to.have.length(1);
        expect(r.stderr, what)
          .to.match(/^tasker: /)
          .and.match(message);
      }
    });
  });

  describe('migrate', () => {
    it('applies migrations to an SQLite file, with progress, then reports them current', async () => {
      const dir = tempDir();
      const first = await run(['migrate', '--database', 'sqlite:ops.db'], dir);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.include(`Database: sqlite:${join(dir, 'ops.db')}`);
      expect(first.stdout).to.match(/^Applying 2 migrations in one transaction:$/m);
      expect(first.stdout).to.match(/^ {2}0001_initial \.\.\. done \(\d+ ms\)$/m);
      expect(first.stdout).to.match(/^ {2}0002_postgres_functions \.\.\. done \(\d+ ms\)$/m);
      expect(first.stdout).to.match(/^Committed: 2 applied now, 2 in total\.$/m);
      expect(existsSync(join(dir, 'ops.db'))).to.equal(true);

      const again = await run(['migrate', '--database', 'ops.db'], dir);
      expect(again.stdout).to.include('Up to date: 2 applied, none pending.');
      const status = await run(['migrate', '--database', join(dir, 'ops.db'), '--check']);
      expect(status.code).to.equal(0);
      expect(status.stdout).to.match(/^ {2}applied {2}0001_initial$/m);
    });

    it('shows pending migrations with --status, and --check fails on them', async () => {
      const dir = tempDir();
      const status = await run(['migrate', '--database', 'fresh.sqlite', '--status'], dir);
      expect(status.code).to.equal(0);
      expect(status.stdout).to.match(/^ {2}pending {2}0001_initial$/m);
      expect(status.stdout).to.include("2 pending migrations: run 'tasker migrate' to apply.");
      const check = await run(['migrate', '--database', 'fresh.sqlite', '--check'], dir);
      expect(check.code).to.equal(1);
    });

    it('migrates a Postgres schema given in the URL (and via TASKER_DATABASE_URL)', async () => {
      const schema = await createSchema();
      const url = new URL(PG_URL);
      url.searchParams.set('schema', schema);
      const applied = await run(['migrate', '--database', url.toString()]);
      expect(applied.code, applied.stderr).to.equal(0);
      expect(applied.stdout).to.include(`(schema ${schema})`);
      expect(applied.stdout).to.include('Committed: 2 applied now');
      const status = await run(['migrate', '--status'], undefined, {
        TASKER_DATABASE_URL: url.toString(),
      });
      expect(status.stdout).to.include('Up to date: 2 applied, none pending.');
    });

    it('fails with exit code 1 when the database cannot be opened', async () => {
      const r = await run(['migrate', '--database', 'sqlite:/nonexistent-dir/x/ops.db']);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^tasker: .+/);
    });
  });

  describe('handlers', () => {
    it('prints the catalogue and each DAG as levels and arrows', async () => {
      const dir = tempDir();
      const r = await run(['handlers', '--config', CATALOGUE], dir);
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).to.equal('1 namespace, 2 handler versions');
      expect(lines).to.include('shop - Shop workflows');
      expect(lines).to.include('  fulfil_order@2.0.0 - Reserve, charge and ship an order');
      expect(r.stdout).to.match(/^ {4}level 1 {2}reserve {2}\(no retry\)$/m);
      expect(r.stdout).to.match(/^ {13}charge {3}\(retry 5, events shop\.charged\)$/m);
      expect(r.stdout).to.match(/^ {4}level 2 {2}pack {5}\(retry 3, timeout 30000 ms\)$/m);
      expect(r.stdout).to.match(/^ {4}level 4 {2}notify {3}\(retry 3, skippable\)$/m);
      for (const arrow of ['reserve -> pack', 'charge -> ship', 'pack -> ship', 'ship -> notify']) {
        expect(lines).to.include(`    ${arrow}`);
      }
      expect(r.stdout).to.include('  fulfil_order@1.0.0');
      // No database was created for it.
      expect(existsSync(join(dir, 'tasker.sqlite'))).to.equal(false);

      const json = await run(['handlers', '--config', CATALOGUE, '--json']);
      const parsed = JSON.parse(json.stdout);
      expect(parsed[0].levels).to.deep.equal([
        ['reserve', 'charge'],
        ['pack'],
        ['ship'],
        ['notify'],
      ]);
    });
  });

  describe('worker', () => {
    let client: Tasker | undefined;
    afterEach(async () => {
      await client?.close();
      client = undefined;
    });

    it('runs the module handlers without HTTP and stops cleanly on SIGTERM', async () => {
      const dir = tempDir();
      const file = join(dir, 'worker.db');
      const w = start(['worker', '--config', WORKER, '--database', file], dir);
      await waitFor(() => w.stdout().includes('started'), 30_000, `the worker: ${w.stderr()}`);
      expect(w.stdout()).to.match(/^Connecting to sqlite:.*worker\.db \.\.\. ready \(\d+ ms\)$/m);
      expect(w.stdout()).to.match(/^Worker \S+ started: 1 handler version\(s\), concurrency 4\.$/m);
      expect(w.stdout()).to.include('  cli.echo@1.0.0');

      // A second Tasker on the same file creates the task; only the worker process runs it.
      client = createTasker({
        storage: { client: 'better-sqlite3', connection: { filename: file } },
        worker: { enabled: false },
        logger: silentLogger,
      });
      workerModule.register(client);
      const task = await client.createTask({
        namespace: 'cli',
        name: 'echo',
        context: { say: 'hi' },
      });
      const done = await waitForTask(client, task.id, ['complete'], 30_000);
      const shout = done.steps.find((s) => s.name === 'shout')!;
      expect(shout.results).to.deep.equal({ shout: 'HI', pid: w.proc.pid });
      await waitFor(() => w.stdout().includes(`task ${task.id} cli.echo@1.0.0: completed`));

      w.proc.kill('SIGTERM');
      expect(await w.exited).to.equal(0);
      expect(w.stdout()).to.match(/^Received SIGTERM: draining running steps/m);
      expect(w.stdout()).to.match(/^Worker stopped\.$/m);
    });
  });

  describe('demo', () => {
    it('starts the demo server, which answers its health probes, and stops on SIGTERM', async () => {
      const port = await freePort();
      const dir = tempDir();
      const d = start(['demo', '--port', String(port)], dir, { TASKER_DEMO_SPEED: '1000' });
      await waitFor(
        () => d.stdout().includes('Press Ctrl+C to stop'),
        30_000,
        `the demo: ${d.stderr()}`,
      );
      expect(d.stdout()).to.include(`http://localhost:${port}/tasker`);
      const live = await fetch(`http://127.0.0.1:${port}/tasker/health/live`);
      expect(live.status).to.equal(200);
      const ready = await fetch(`http://127.0.0.1:${port}/tasker/health/ready`);
      expect(ready.status).to.equal(200);
      expect(((await ready.json()) as { status: string }).status).to.equal('pass');
      expect(existsSync(join(dir, 'demo.sqlite'))).to.equal(true);

      d.proc.kill('SIGTERM');
      expect(await d.exited).to.equal(0);
      expect(d.stdout()).to.include('Tasker demo stopped.');
    });
  });
});
