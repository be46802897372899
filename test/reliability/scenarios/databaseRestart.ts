/**
 * Scenario 2, database outages: a Tasker process serves the API and runs the mixed workload
 * while its database goes away, in three ways:
 *
 * 1. `down`: the TCP proxy in front of Postgres resets every connection and refuses new ones;
 * 2. `half-open`: the proxy stops forwarding without closing anything on the client's side
 *    (the server side is dropped, as after a failover), so queries in flight never get an answer;
 * 3. `restart`: a real `pg_ctlcluster <version> <cluster> restart` of the Postgres behind the
 *    proxy.
 *
 * Postgres here is a private cluster made for the run (see {@link PrivateCluster}), so the real
 * restart cannot disturb anything else using the shared server, whatever runs in parallel.
 *
 * Promises checked: the process never crashes; `/health/ready` turns 503 during each outage and
 * 200 after it; every API call gets an answer (no hang), and an error answer is the envelope
 * with 503 `STORAGE_UNAVAILABLE` (never a 500); afterwards every task completes, and the process
 * still shuts down cleanly.
 */
import knexFactory, { type Knex } from 'knex';
import { startChild, type Child } from '../../helpers/processes';
import { percentile, progress, round, sleep, type ScenarioResult } from '../lib/common';
import { NAMESPACE, shapeOf } from '../lib/dags';
import { Client, codeOf, isEnvelope, type Exchange } from '../lib/http';
import { PrivateCluster, waitAccepting } from '../lib/pg';
import { TcpProxy } from '../lib/proxy';

export type Outage = 'down' | 'half-open' | 'restart';

export interface DatabaseRestartOptions {
  /** The outages, in order. */
  outages: Outage[];
  /** How long a proxy outage lasts. */
  outageMs: number;
  /** Quiet time between outages. */
  steadyMs: number;
  /** API clients running throughout. */
  clients: number;
  /** An answer slower than this is a hang. */
  hangMs: number;
  /** How long readiness may take to come back after an outage. */
  recoveryTimeoutMs: number;
  /** After the outages, how long the backlog may go without shrinking before the run fails. */
  stallTimeoutMs: number;
}

/** One outage of each kind: the proxy for most of the outage testing, one real restart. */
export const DATABASE_RESTART_CI: DatabaseRestartOptions = {
  outages: ['down', 'restart', 'half-open'],
  outageMs: 4000,
  steadyMs: 2000,
  clients: 4,
  hangMs: 15_000,
  recoveryTimeoutMs: 45_000,
  stallTimeoutMs: 30_000,
};

export const DATABASE_RESTART_SOAK: DatabaseRestartOptions = {
  ...DATABASE_RESTART_CI,
  outages: ['down', 'restart', 'half-open', 'down', 'restart', 'half-open', 'restart', 'down'],
  outageMs: 8000,
  steadyMs: 5000,
  clients: 8,
};

/** The child's exit code, or an error when it has not exited `ms` after being asked to. */
async function exitWithin(child: Child, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    child.exited,
    new Promise<'running'>((r) => (timer = setTimeout(() => r('running'), ms))),
  ]).finally(() => clearTimeout(timer));
  if (code === 'running') {
    const closed = child.output().includes('stopped');
    throw new Error(
      `the process did not exit within ${ms} ms of SIGTERM (${closed ? 'close() returned, something is left open' : 'close() did not return'})`,
    );
  }
  return code;
}

interface Stamped extends Exchange {
  at: number;
  what: string;
  phase: string;
}

export async function databaseRestart(o: DatabaseRestartOptions): Promise<ScenarioResult> {
  const log = progress('database-restart');
  const started = Date.now();
  const cluster = new PrivateCluster();
  let proxy: TcpProxy | null = null;
  let child: Child | null = null;
  let direct: Knex | null = null;
  let client: Client | null = null;
  let stop = false;
  const loops: Promise<void>[] = [];
  try {
    await cluster.create();
    log(`cluster ${cluster.name} on port ${cluster.port}`);
    direct = knexFactory({ client: 'pg', connection: cluster.url, pool: { min: 0, max: 2 } });
    const db = direct;
    proxy = new TcpProxy({ host: '127.0.0.1', port: cluster.port });
    const proxyPort = await proxy.listen();
    log(`proxy on port ${proxyPort}`);
    const px = proxy;
    const app = startChild('test/fixtures/reliability-app.ts', {
      APP: 'dags',
      TASKER_STORAGE: JSON.stringify({
        client: 'pg',
        connection: { host: '127.0.0.1', port: proxyPort, user: 'postgres', database: 'postgres' },
        pool: { min: 0, max: 8 },
      }),
      LEASE_MS: '3000',
      CONCURRENCY: '8',
      STEP_MIN_MS: '10',
      STEP_MAX_MS: '100',
      TASKER_LOG_LEVEL: 'warn',
    });
    child = app;
    await app.waitFor('listening', 60_000);
    const port = Number(/listening (\d+)/.exec(app.output())![1]);
    const c = new Client(`http://127.0.0.1:${port}`, {}, o.clients + 4);
    client = c;

    let phase = 'warm-up';
    const exchanges: Stamped[] = [];
    // `phase` when a probe was sent and `endPhase` when it was answered: a probe sent just before
    // an outage can wait through it (up to queryTimeoutMs) and answer 503 during the outage.
    const probes: { at: number; status: number; phase: string; endPhase: string; ms: number }[] =
      [];
    const call = async (what: string, method: string, path: string, body?: unknown) => {
      const at = Date.now();
      const p = phase;
      const x = await c.request(method, path, body, o.hangMs);
      exchanges.push({ ...x, at, what, phase: p });
      return x;
    };
    const ids: string[] = [];
    let n = 0;
    for (let k = 0; k < o.clients; k++) {
      loops.push(
        (async () => {
          while (!stop) {
            const i = n++;
            const x = await call('create', 'POST', '/tasker/tasks', {
              namespace: NAMESPACE,
              name: shapeOf(i),
            });
            if (x.status === 201) ids.push((x.body as { id: string }).id);
            if (!stop && ids.length > 0) {
              const id = ids[Math.floor(Math.random() * ids.length)];
              await call('show', 'GET', `/tasker/tasks/${id}`);
            }
            await sleep(50);
          }
        })(),
      );
    }
    loops.push(
      (async () => {
        while (!stop) {
          const at = Date.now();
          const p = phase;
          const x = await c.request('GET', '/tasker/health/ready', undefined, o.hangMs);
          probes.push({ at, status: x.status, phase: p, endPhase: phase, ms: x.ms });
          await sleep(200);
        }
      })(),
    );

    const readyAgain = async (since: number, what: string) => {
      const deadline = Date.now() + o.recoveryTimeoutMs;
      for (;;) {
        const last = probes.filter((p) => p.at >= since).at(-1);
        if (last?.status === 200) return last.at + last.ms - since;
        if (app.proc.exitCode !== null) throw new Error(`the process died: ${app.output()}`);
        if (Date.now() > deadline) {
          const since2 = exchanges.filter((x) => x.at >= since);
          const tally: Record<string, number> = {};
          for (const x of since2) {
            const k =
              x.status === 0 ? `no answer (${x.error})` : `${x.status} ${codeOf(x.body) ?? ''}`;
            tally[k] = (tally[k] ?? 0) + 1;
          }
          throw new Error(
            `/health/ready did not return to 200 within ${o.recoveryTimeoutMs} ms after ${what}; ` +
              `API answers since: ${JSON.stringify(tally)}; proxy connections: ${JSON.stringify(px.counts())}; ` +
              `last probe: ${JSON.stringify(probes.at(-1))}`,
          );
        }
        await sleep(100);
      }
    };

    await readyAgain(Date.now(), 'start');
    await sleep(o.steadyMs);
    const outcomes: { outage: Outage; outageMs: number; recoveryMs: number }[] = [];
    for (const [k, outage] of o.outages.entries()) {
      phase = `outage ${k + 1} (${outage})`;
      const t0 = Date.now();
      log(phase);
      if (outage === 'restart') {
        await cluster.restart(60_000);
        if (!(await waitAccepting(cluster.port, 60_000))) {
          throw new Error('Postgres did not accept connections after the restart');
        }
      } else {
        if (outage === 'down') px.down();
        else px.halfOpen();
        await sleep(o.outageMs);
        px.up();
      }
      const outageMs = Date.now() - t0;
      phase = `recovery ${k + 1} (${outage})`;
      const back = Date.now();
      const recoveryMs = await readyAgain(back, phase);
      log(`${phase}: ready after ${recoveryMs} ms`);
      outcomes.push({ outage, outageMs, recoveryMs });
      phase = `steady ${k + 1}`;
      await sleep(o.steadyMs);
    }
    stop = true;
    await Promise.all(loops);
    log('load stopped');
    if (app.proc.exitCode !== null) throw new Error(`the process died: ${app.output()}`);

    // Readiness turned 503 during (or right after) each outage.
    for (const [k, out] of outcomes.entries()) {
      const during = (ph: string) =>
        ph.startsWith(`outage ${k + 1} `) || ph.startsWith(`recovery ${k + 1} `);
      const seen = probes.filter(
        (p) => (during(p.phase) || during(p.endPhase)) && p.status === 503,
      );
      if (seen.length === 0) {
        throw new Error(`/health/ready never answered 503 during outage ${k + 1} (${out.outage})`);
      }
    }
    const hung = [
      ...exchanges.filter((x) => x.status === 0),
      ...probes.filter((p) => p.status === 0).map((p) => ({ ...p, what: 'ready probe' })),
    ];
    if (hung.length > 0) {
      const phaseStart = new Map<string, number>();
      for (const x of [...exchanges, ...probes].sort((a, b) => a.at - b.at)) {
        if (!phaseStart.has(x.phase)) phaseStart.set(x.phase, x.at);
      }
      const list = hung
        .map(
          (x) => `${x.what} sent ${x.at - (phaseStart.get(x.phase) ?? x.at)} ms into "${x.phase}"`,
        )
        .join('; ');
      throw new Error(
        `${hung.length} requests got no answer within ${o.hangMs} ms (hang): ${list}`,
      );
    }
    const wrong = exchanges.filter(
      (x) =>
        x.status >= 400 &&
        (!isEnvelope(x.body) || x.status !== 503 || codeOf(x.body) !== 'STORAGE_UNAVAILABLE'),
    );
    if (wrong.length > 0) {
      throw new Error(
        `${wrong.length} error answers were not 503 STORAGE_UNAVAILABLE envelopes, e.g. ${JSON.stringify(wrong[0])}`,
      );
    }
    const failedDuringOutages = exchanges.filter((x) => x.status === 503);
    if (failedDuringOutages.length === 0) throw new Error('no API call saw an outage');

    // Every task the database holds completes (including any whose 201 was lost in an outage).
    // The backlog built up during the outages may take a while: what must not happen is that it
    // stops shrinking (a stuck worker), so the deadline moves with progress.
    const drainStart = Date.now();
    let left = Infinity;
    let progressAt = Date.now();
    for (;;) {
      const row = await db('tasker_tasks').whereNot('status', 'complete').count({ n: '*' }).first();
      const n = Number(row?.n);
      if (n === 0) break;
      if (n < left) {
        if (left === Infinity || Math.floor(n / 100) < Math.floor(left / 100))
          log(`${n} tasks left`);
        left = n;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > o.stallTimeoutMs) {
        throw new Error(
          `${n} tasks stopped completing after the outages (no progress for ${o.stallTimeoutMs} ms)`,
        );
      }
      await sleep(250);
    }
    const drainMs = Date.now() - drainStart;
    const total = Number((await db('tasker_tasks').count({ n: '*' }).first())?.n ?? 0);
    const known = new Set((await db('tasker_tasks').select('id')).map((t: { id: string }) => t.id));
    const lost = ids.filter((id) => !known.has(id));
    if (lost.length > 0) throw new Error(`${lost.length} acknowledged tasks are missing`);

    log('every task complete; stopping the process');
    app.proc.kill('SIGTERM');
    const code = await exitWithin(app, 20_000);
    if (code !== 0) throw new Error(`the process exited with ${code} on SIGTERM`);

    const errorMs = failedDuringOutages.map((x) => x.ms);
    return {
      scenario: 'database-restart',
      size: `${o.outages.join(', ')}; proxy outages of ${o.outageMs / 1000} s; ${o.clients} API clients`,
      durationMs: Date.now() - started,
      figures: {
        requests: exchanges.length,
        answered_503: failedDuringOutages.length,
        answered_500: 0,
        hangs: 0,
        slowest_503_ms: round(Math.max(...errorMs)),
        p99_503_ms: round(percentile(errorMs, 99)),
        recovery_ms: outcomes.map((x) => `${x.outage}:${Math.round(x.recoveryMs)}`).join(' '),
        restart_ms: outcomes
          .filter((x) => x.outage === 'restart')
          .map((x) => x.outageMs)
          .join(' '),
        tasks: total,
        completed: total,
        drain_after_outages_s: round(drainMs / 1000),
      },
    };
  } catch (err) {
    // The process's own log (warnings and errors) says what it saw: keep its end.
    const tail = child?.output().split('\n').slice(-15).join('\n');
    if (err instanceof Error && tail)
      err.message += `\n--- last lines of the process's log:\n${tail}`;
    throw err;
  } finally {
    stop = true;
    proxy?.up();
    await Promise.all(loops).catch(() => {});
    client?.close();
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
    await proxy?.close();
    await direct?.destroy();
    await cluster.drop();
  }
}
