/**
 * Workload 5, HTTP: autocannon (10 connections, 1 request in flight each) against the demo's
 * handler catalogue served by Tasker in a separate process (bench/httpServer.ts, SQLite, worker
 * disabled), beside bare Express routes in the same process returning the same JSON:
 * GET /handlers (default configuration, and with the demo's JWT authentication and
 * authorization), GET /tasks/{id} and POST /tasks. Requests/s per route, and ours / bare.
 */
import autocannon from 'autocannon';
import { DEMO_CREATE_BODY as CREATE_BODY } from './lib/handlers';
import { startChild } from './lib/proc';
import {
  markdownTable,
  type BenchContext,
  type SummaryRow,
  type WorkloadResult,
} from './lib/report';
import { fmt, fmtRatio, median, sleep } from './lib/stats';

interface Target {
  key: string;
  label: string;
  path: string;
  method?: 'GET' | 'POST';
  auth?: boolean;
}

interface Shot {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export async function runHttp(ctx: BenchContext, only?: string[]): Promise<WorkloadResult> {
  const started = Date.now();
  // Seconds per autocannon run (a quick run only checks that every route answers).
  const duration = ctx.quick ? 0.5 : 3;
  const warmup = ctx.quick ? 0.5 : 1;
  const server = startChild('bench/httpServer.ts', { BENCH_SQLITE: ctx.dbs.sqliteFile() });
  try {
    const ready = await server.message('ready', 60_000);
    const base = `http://127.0.0.1:${ready.port as number}`;
    const token = ready.token as string;
    const taskId = ready.taskId as string;
    const fire = async (t: Target, seconds: number): Promise<Shot> => {
      const headers: Record<string, string> = {};
      if (t.method === 'POST') headers['content-type'] = 'application/json';
      if (t.auth) headers.authorization = `Bearer ${token}`;
      const r = await autocannon({
        url: `${base}${t.path}`,
        method: t.method ?? 'GET',
        headers,
        ...(t.method === 'POST' ? { body: JSON.stringify(CREATE_BODY) } : {}),
        connections: 10,
        duration: seconds,
        // autocannon only notices the end of the run at a sample tick (default every second).
        sampleInt: 250,
      });
      return {
        rps: r.requests.total / r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        non2xx: r.non2xx,
        errors: r.errors,
      };
    };
    const pairs: { key: string; label: string; ours: Target; bare: Target; target?: number }[] = [
      {
        key: 'handlers',
        label: 'GET /handlers',
        ours: { key: 'handlers', label: 'Tasker', path: '/tasker/handlers' },
        bare: { key: 'bare-handlers', label: 'bare', path: '/bare/handlers' },
        target: 0.7,
      },
      {
        key: 'handlers-auth',
        label: 'GET /handlers, demo JWT auth',
        ours: { key: 'handlers-auth', label: 'Tasker', path: '/demo/handlers', auth: true },
        bare: { key: 'bare-handlers', label: 'bare', path: '/bare/handlers' },
      },
      {
        key: 'task',
        label: 'GET /tasks/{id}',
        ours: { key: 'task', label: 'Tasker', path: `/tasker/tasks/${taskId}` },
        bare: { key: 'bare-task', label: 'bare', path: `/bare/tasks/${taskId}` },
      },
      {
        key: 'create',
        label: 'POST /tasks',
        ours: { key: 'create', label: 'Tasker', path: '/tasker/tasks', method: 'POST' },
        bare: { key: 'bare-create', label: 'bare', path: '/bare/tasks', method: 'POST' },
      },
    ];
    const chosen = only ? pairs.filter((p) => only.includes(p.key)) : pairs;
    // Every target once, unmeasured, so the JIT has seen every path.
    for (const p of chosen) {
      await fire(p.ours, warmup);
      await fire(p.bare, warmup);
    }
    const shots = new Map<string, Shot[]>();
    const record = (t: Target, s: Shot) => {
      shots.set(t.key, [...(shots.get(t.key) ?? []), s]);
      if (s.non2xx || s.errors) ctx.log(`  !! ${t.path}: ${s.non2xx} non-2xx, ${s.errors} errors`);
    };
    for (let r = 0; r < ctx.rounds; r++) {
      const measuredBare = new Set<string>();
      for (const p of chosen) {
        // Alternate which side goes first, round by round.
        const sides = r % 2 === 0 ? [p.ours, p.bare] : [p.bare, p.ours];
        for (const t of sides) {
          if (t === p.bare && measuredBare.has(t.key)) continue;
          // Let the previous run's garbage collection and SQLite writes settle first.
          await sleep(300);
          const s = await fire(t, duration);
          record(t, s);
          if (t === p.bare) measuredBare.add(t.key);
          ctx.log(
            `  round ${r + 1} ${p.label} ${t.label}: ${fmt(s.rps)} req/s, p50 ${s.p50} ms, p99 ${s.p99} ms`,
          );
        }
      }
    }
    const rps = (key: string) => median((shots.get(key) ?? []).map((s) => s.rps));
    const rows = chosen.map((p) => [
      p.label,
      fmt(rps(p.ours.key)),
      fmt(rps(p.bare.key)),
      fmtRatio(rps(p.ours.key) / rps(p.bare.key)),
    ]);
    ctx.log(markdownTable(['route', 'Tasker req/s', 'bare Express req/s', 'ratio'], rows));
    const summary: SummaryRow[] = chosen.map((p) => {
      const ours = rps(p.ours.key);
      const bare = rps(p.bare.key);
      return {
        workload: `HTTP ${p.label}`,
        unit: 'req/s',
        ours,
        peer: { name: 'bare Express', value: bare },
        ratio: ours / bare,
        ...(p.target !== undefined
          ? { target: `>= ${p.target}x bare Express`, met: ours / bare >= p.target }
          : {}),
      };
    });
    return {
      name: 'http',
      elapsedMs: Date.now() - started,
      summary,
      details: {
        durationSeconds: duration,
        connections: 10,
        shots: Object.fromEntries(shots),
      },
    };
  } finally {
    await server.stop();
  }
}
