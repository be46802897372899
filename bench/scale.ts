/**
 * Workload 6, scale. Tables are filled with SQL (bench/lib/fill.ts) in steps of 10k, 100k and 1M
 * finished chain tasks (4 steps each), each step adding 1,000 pending tasks whose first step is
 * claimable. At every size, on Postgres and SQLite:
 *
 * - claim latency: `storage.claimSteps(owner, [chain], 10, ...)` (the engine's claim transaction,
 *   10 steps a call) called sequentially;
 * - list latency: `GET /tasks?page=1&per_page=25` and a deep page (the last page of the smallest
 *   size) through the HTTP API mounted in an Express app in this process;
 *
 * then at the largest size the query plans behind them (EXPLAIN ANALYZE / EXPLAIN QUERY PLAN).
 * Finally, peak RSS (VmHWM) of a worker process (default config) working through a backlog of
 * 100k pending chain tasks on Postgres for a fixed time. One round: the fills dominate the time.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import knexFactory, { type Knex } from 'knex';
import { createTasker, type Tasker } from '../lib';
import { TABLES } from '../lib/storage';
import { BenchDatabases } from './lib/db';
import { startWorkerProcesses } from './lib/engines';
import { analyze, fillFinished, fillPending } from './lib/fill';
import { chain, handlerKey } from './lib/handlers';
import { sampleMemory } from './lib/proc';
import {
  markdownTable,
  type BenchContext,
  type SummaryRow,
  type WorkloadResult,
} from './lib/report';
import {
  distribution,
  fmt,
  fmtDuration,
  fmtRatio,
  nowMs,
  sleep,
  type Distribution,
} from './lib/stats';

const KEY = handlerKey('chain');
const PER_PAGE = 25;

interface SizeResult {
  tasks: number;
  fillMs: number;
  claim: Distribution;
  claimedPerCall: number;
  page1: Distribution;
  deepPage: Distribution;
  deepPageNumber: number;
}

async function timeIt(n: number, warmup: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const t = nowMs();
    await fn();
    if (i >= warmup) out.push(Math.round((nowMs() - t) * 100) / 100);
  }
  return out;
}

async function listen(tasker: Tasker): Promise<{ server: Server; base: string }> {
  const app = express();
  app.use('/tasker', tasker);
  const server = app.listen(0, '127.0.0.1');
  // A fill blocks this event loop for long (better-sqlite3 is synchronous): a server closing
  // the idle keep-alive socket as the next request reuses it would reset that request.
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/tasker` };
}

/** The plans of the list and claim queries, as the storage layer builds them. */
async function plans(tasker: Tasker, dialect: 'sqlite' | 'postgres', deepPage: number) {
  const knex = tasker.storage.knex;
  const page = (p: number) =>
    knex(TABLES.tasks)
      .select('*')
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(PER_PAGE)
      .offset((p - 1) * PER_PAGE)
      .toSQL();
  const claim = knex(TABLES.steps)
    .select('id', 'status', 'task_id')
    .whereNotNull('ready_at')
    .where('ready_at', '<=', Date.now())
    .whereIn('handler_key', [KEY])
    .orderBy('ready_at')
    .limit(10);
  if (dialect === 'postgres') claim.forUpdate().skipLocked();
  const queries: Record<string, { sql: string; bindings: readonly unknown[] }> = {
    'list: count(*)': knex(TABLES.tasks).count({ n: '*' }).toSQL(),
    'list: page 1': page(1),
    [`list: page ${deepPage}`]: page(deepPage),
    'claim: candidates': claim.toSQL(),
  };
  const out: Record<string, string> = {};
  for (const [title, q] of Object.entries(queries)) {
    if (dialect === 'postgres') {
      const res = await knex.raw(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${q.sql}`,
        q.bindings as any[],
      );
      out[title] = res.rows.map((r: any) => r['QUERY PLAN']).join('\n');
    } else {
      const rows = await knex.raw(`EXPLAIN QUERY PLAN ${q.sql}`, q.bindings as any[]);
      out[title] = rows.map((r: any) => r.detail).join('\n');
    }
  }
  return out;
}

async function scaleOn(
  ctx: BenchContext,
  dialect: 'sqlite' | 'postgres',
  sizes: number[],
  live: number,
  samples: number,
): Promise<{ sizes: SizeResult[]; plans: Record<string, string> }> {
  const schema = dialect === 'postgres' ? await ctx.dbs.freshSchema('scale') : null;
  const storage = schema
    ? ctx.dbs.pgStorage(schema)
    : BenchDatabases.sqliteStorage(ctx.dbs.sqliteFile());
  const tasker = createTasker({ storage, worker: { enabled: false } });
  tasker.registerHandler(chain());
  await tasker.ready;
  // Fills run on a connection of their own: Tasker's pool cuts statements off after
  // queryTimeoutMs (15 s), and filling 1M tasks takes longer.
  const filler = fillerKnex(storage);
  const { server, base } = await listen(tasker);
  const deepPageNumber = Math.max(2, Math.floor(sizes[0] / PER_PAGE));
  const results: SizeResult[] = [];
  try {
    let filled = 0;
    for (const [index, size] of sizes.entries()) {
      // The first size also warms the JIT and the connection pool up: its samples would
      // otherwise carry the cost of the first calls and flatter the larger sizes.
      const warmup = index === 0 ? samples : 3;
      const t = Date.now();
      await fillFinished(filler, dialect, filled, size, Date.now() - 60_000);
      await fillPending(filler, dialect, live, `live${size}-`, Date.now());
      await analyze(filler, dialect);
      filled = size;
      const fillMs = Date.now() - t;
      let claimed = 0;
      const claim = await timeIt(samples, warmup, async () => {
        const r = await tasker.storage.claimSteps('bench-owner', [KEY], 10, Date.now(), 30_000);
        claimed += r.steps.length;
      });
      const get = (page: number) => async () => {
        const res = await fetch(`${base}/tasks?page=${page}&per_page=${PER_PAGE}`);
        if (res.status !== 200) throw new Error(`GET /tasks?page=${page}: ${res.status}`);
        await res.arrayBuffer();
      };
      const page1 = await timeIt(samples, warmup, get(1));
      const deep = await timeIt(samples, warmup, get(deepPageNumber));
      const r: SizeResult = {
        tasks: size,
        fillMs,
        claim: distribution(claim),
        claimedPerCall: claimed / (samples + warmup),
        page1: distribution(page1),
        deepPage: distribution(deep),
        deepPageNumber,
      };
      results.push(r);
      ctx.log(
        `  ${dialect} ${size.toLocaleString('en-US')} tasks (filled in ${fmtDuration(fillMs)}): ` +
          `claim p50 ${fmt(r.claim.p50, 2)} ms, page 1 p50 ${fmt(r.page1.p50, 2)} ms, ` +
          `page ${deepPageNumber} p50 ${fmt(r.deepPage.p50, 2)} ms`,
      );
    }
    return { sizes: results, plans: await plans(tasker, dialect, deepPageNumber) };
  } finally {
    server.close();
    server.closeAllConnections();
    await filler.destroy();
    await tasker.close();
    if (schema) await ctx.dbs.dropSchema(schema);
  }
}

/** A one-connection Knex on the same database, without Tasker's statement timeout. */
function fillerKnex(storage: Knex.Config): Knex {
  return knexFactory({ ...storage, useNullAsDefault: true, pool: { min: 0, max: 1 } });
}

/** Peak RSS of a worker process working through a backlog of `backlog` pending tasks. */
async function backlogRss(ctx: BenchContext, backlog: number, seconds: number) {
  const schema = await ctx.dbs.freshSchema('rss');
  const storage = ctx.dbs.pgStorage(schema);
  const setup = createTasker({ storage, worker: { enabled: false } });
  const filler = fillerKnex(storage);
  try {
    await setup.ready;
    const t = Date.now();
    await fillPending(filler, 'postgres', backlog, 'backlog-', Date.now());
    await analyze(filler, 'postgres');
    const fillMs = Date.now() - t;
    const [child] = await startWorkerProcesses(1, storage, {}, 'none');
    const mem = sampleMemory(child.pid, 200);
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const { peakMb, samples } = mem.stop();
    const rows: { n: string | number }[] = await setup.storage
      .knex(TABLES.steps)
      .where('status', 'complete')
      .count({ n: '*' });
    const stepsDone = Number(rows[0].n);
    const elapsed = (Date.now() - t0) / 1000;
    await child.stop();
    return {
      backlog,
      seconds,
      fillMs,
      peakMb,
      startRssMb: samples[0]?.rssMb ?? null,
      endRssMb: samples.at(-1)?.rssMb ?? null,
      stepsDone,
      stepsPerSec: stepsDone / elapsed,
      samples,
    };
  } finally {
    await filler.destroy();
    await setup.close();
    await ctx.dbs.dropSchema(schema);
  }
}

export async function runScale(ctx: BenchContext, only?: string[]): Promise<WorkloadResult> {
  const started = Date.now();
  const sizes = [10_000, 100_000, 1_000_000].map((n) => ctx.size(n));
  // Enough claimable steps for every claim call at every size (10 per call).
  const live = 1000;
  const samples = ctx.quick ? 10 : 30;
  const dbs = (['postgres', 'sqlite'] as const).filter((d) => !only || only.includes(d));
  const byDb: Record<string, Awaited<ReturnType<typeof scaleOn>>> = {};
  for (const d of dbs) byDb[d] = await scaleOn(ctx, d, sizes, live, samples);

  const rows: string[][] = [];
  for (const [d, r] of Object.entries(byDb)) {
    for (const s of r.sizes) {
      rows.push([
        d,
        s.tasks.toLocaleString('en-US'),
        `${fmt(s.claim.p50, 2)} / ${fmt(s.claim.p99, 2)}`,
        `${fmt(s.page1.p50, 2)} / ${fmt(s.page1.p99, 2)}`,
        `${fmt(s.deepPage.p50, 2)} / ${fmt(s.deepPage.p99, 2)}`,
      ]);
    }
  }
  const deep = Object.values(byDb)[0]?.sizes[0]?.deepPageNumber ?? 0;
  ctx.log(
    markdownTable(
      [
        'db',
        'tasks',
        'claim 10 p50/p99 ms',
        'GET /tasks?page=1 p50/p99 ms',
        `page=${deep} p50/p99 ms`,
      ],
      rows,
    ),
  );

  const summary: SummaryRow[] = [];
  const name = { postgres: 'Postgres', sqlite: 'SQLite' } as const;
  for (const d of dbs) {
    const r = byDb[d].sizes;
    const small = r[0];
    const big = r[r.length - 1];
    const label = `${big.tasks.toLocaleString('en-US')} vs ${small.tasks.toLocaleString('en-US')} tasks`;
    for (const [what, pick, target] of [
      ['Claim latency p50', (s: SizeResult) => s.claim.p50, true],
      ['GET /tasks?page=1 latency p50', (s: SizeResult) => s.page1.p50, true],
      [`GET /tasks?page=${deep} latency p50`, (s: SizeResult) => s.deepPage.p50, false],
    ] as const) {
      const ratio = pick(big) / pick(small);
      summary.push({
        workload: `${what}, ${name[d]}, ${label}`,
        unit: 'ms',
        ours: pick(big),
        peer: { name: `at ${small.tasks.toLocaleString('en-US')}`, value: pick(small) },
        ratio,
        ...(target ? { target: '<= 2x the small table', met: ratio <= 2 } : {}),
      });
    }
  }

  let rss: Awaited<ReturnType<typeof backlogRss>> | null = null;
  if (!only || only.includes('rss')) {
    const backlog = ctx.size(100_000);
    rss = await backlogRss(ctx, backlog, ctx.quick ? 5 : 20);
    ctx.log(
      `  worker RSS with a ${backlog.toLocaleString('en-US')}-task backlog: peak ${fmt(rss.peakMb)} MB ` +
        `(start ${fmt(rss.startRssMb)} MB, end ${fmt(rss.endRssMb)} MB), ` +
        `${rss.stepsDone} steps in ${rss.seconds} s`,
    );
    summary.push({
      workload: `Peak RSS, worker process, ${backlog.toLocaleString('en-US')}-task backlog (Postgres)`,
      unit: 'MB',
      ours: rss.peakMb,
      target: '< 200 MB',
      met: rss.peakMb < 200,
      note: `${rss.stepsDone} steps done in ${rss.seconds} s`,
    });
  }
  for (const [d, r] of Object.entries(byDb)) {
    const last = r.sizes.at(-1)!;
    ctx.log(`  ${d}: plans at ${last.tasks.toLocaleString('en-US')} tasks in the JSON results`);
  }
  return {
    name: 'scale',
    elapsedMs: Date.now() - started,
    summary,
    details: {
      sizes,
      liveTasksPerSize: live,
      samples,
      perPage: PER_PAGE,
      results: byDb,
      rss,
      ratios: Object.fromEntries(
        Object.entries(byDb).map(([d, r]) => [
          d,
          {
            claim: fmtRatio(r.sizes.at(-1)!.claim.p50 / r.sizes[0].claim.p50),
            page1: fmtRatio(r.sizes.at(-1)!.page1.p50 / r.sizes[0].page1.p50),
          },
        ]),
      ),
    },
  };
}
