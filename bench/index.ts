/**
 * `npm run bench -- <workload> [options]`: Tasker's performance benchmarks (not tests: nothing
 * here asserts a time). Prints a table per workload and a final summary, and writes JSON to
 * bench/results/<timestamp>.json and bench/results/latest.json.
 *
 * Workloads: chain | dag | limit | latency | http | scale | all (all of them, in that order),
 * and plans (query plans at 1M steps: bench/plans.ts, options passed through).
 *
 * Options:
 *   --rounds N      rounds per measurement, medians reported (default 3)
 *   --quick         every size divided by 10: a smoke run of about a minute per workload set
 *   --only a,b      only these configurations (keys printed in --help)
 *   --write-docs    replace the table between the bench markers in docs/performance.md
 *   --cpu-prof DIR  CPU-profile every child process (worker processes, the HTTP server) into DIR;
 *                   profile the harness itself with `node --cpu-prof --require tsx/cjs ...`,
 *                   and read profiles with `npx tsx bench/profile.ts <file>`
 *
 * Postgres: TASKER_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test). Each run
 * creates a database of its own there and drops it at the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runChain } from './chain';
import { runDag } from './dag';
import { runHttp } from './http';
import { runLatency } from './latency';
import { runLimit } from './limit';
import { runScale } from './scale';
import { BenchDatabases } from './lib/db';
import { describeMachine } from './lib/machine';
import { summaryTable, type BenchContext, type WorkloadResult } from './lib/report';
import { fmtDuration } from './lib/stats';

type Runner = (ctx: BenchContext, only?: string[]) => Promise<WorkloadResult>;

const WORKLOADS: Record<string, { run: Runner; keys: string }> = {
  chain: {
    run: runChain,
    keys: 'ours-sqlite, ours-pg-1, ours-pg-2, graphile, pgboss, pgboss-notify',
  },
  dag: { run: runDag, keys: 'diamond-postgres, fanout-postgres, diamond-sqlite, fanout-sqlite' },
  limit: { run: runLimit, keys: '(none)' },
  latency: {
    run: runLatency,
    keys: 'ours-sqlite, ours-pg, ours-pg-remote, graphile, pgboss, pgboss-notify',
  },
  http: { run: runHttp, keys: 'handlers, handlers-auth, task, create' },
  scale: { run: runScale, keys: 'postgres, sqlite, rss' },
};

const ROOT = join(__dirname, '..');
const RESULTS = join(__dirname, 'results');
const DOCS = join(ROOT, 'docs', 'performance.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

function usage(): string {
  return [
    'usage: npm run bench -- <chain|dag|limit|latency|http|scale|all|plans> [options]',
    '  --rounds N     rounds per measurement (default 3)',
    '  --quick        sizes / 10 (smoke run)',
    '  --only a,b     only these configurations:',
    ...Object.entries(WORKLOADS).map(([k, w]) => `                   ${k}: ${w.keys}`),
    '  --write-docs   write the summary into docs/performance.md',
    '  --cpu-prof DIR CPU-profile the child processes into DIR (see bench/profile.ts)',
    '  plans [--steps N] [--sqlite]   query plans of the hot queries (bench/plans.ts)',
  ].join('\n');
}

interface Args {
  workloads: string[];
  rounds: number;
  quick: boolean;
  only?: string[];
  writeDocs: boolean;
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const args: Args = { workloads: [], rounds: 3, quick: false, writeDocs: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--write-docs') args.writeDocs = true;
    else if (a === '--rounds') {
      args.rounds = Number(argv[++i]);
      if (!Number.isInteger(args.rounds) || args.rounds < 1)
        throw new Error('--rounds must be >= 1');
    } else if (a === '--only') args.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--cpu-prof') {
      const dir = argv[++i];
      if (!dir) throw new Error('--cpu-prof needs a directory');
      mkdirSync(dir, { recursive: true });
      process.env.BENCH_CPU_PROF_DIR = resolve(dir);
    } else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}\n${usage()}`);
    else positional.push(a);
  }
  const names = positional.length === 0 ? ['all'] : positional;
  for (const n of names) {
    if (n === 'all') args.workloads.push(...Object.keys(WORKLOADS));
    else if (WORKLOADS[n]) args.workloads.push(n);
    else throw new Error(`unknown workload '${n}'\n${usage()}`);
  }
  return args;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-');
}

/** Replaces the text between the markers of docs/performance.md. */
function writeDocs(block: string): void {
  const doc = readFileSync(DOCS, 'utf8');
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${DOCS} has no ${START} ... ${END} markers`);
  writeFileSync(DOCS, `${doc.slice(0, a + START.length)}\n${block}\n${doc.slice(b)}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'plans') {
    const r = spawnSync(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), join(__dirname, 'plans.ts'), ...argv.slice(1)],
      { stdio: 'inherit' },
    );
    process.exit(r.status ?? 1);
  }
  const args = parseArgs(argv);
  const started = new Date();
  const log = (line: string) => console.log(line);
  const dbs = await BenchDatabases.open(log);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\ninterrupted: dropping the bench database...');
    void dbs.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const ctx: BenchContext = {
    quick: args.quick,
    rounds: args.rounds,
    dbs,
    log,
    size: (n, min = 1) => (args.quick ? Math.max(min, Math.round(n / 10)) : n),
  };
  const results: WorkloadResult[] = [];
  const machine = await describeMachine(dbs.admin()).catch(async (err: unknown) => {
    await dbs.close();
    throw err;
  });
  try {
    log(
      `tasker-engine benchmarks${args.quick ? ' (--quick: sizes / 10)' : ''}, ${args.rounds} round(s); ` +
        `${machine.cpus} CPUs, Node ${machine.node}, Postgres ${machine.postgres.server_version}, ` +
        `load ${machine.loadAverageAtStart.join(' ')}`,
    );
    for (const w of args.workloads) {
      log(`\n## ${w}\n`);
      const t = Date.now();
      const r = await WORKLOADS[w].run(ctx, args.only);
      r.elapsedMs = Date.now() - t;
      results.push(r);
      log(`\n${w}: ${fmtDuration(r.elapsedMs)}`);
    }
  } finally {
    await dbs.close();
  }

  const elapsedMs = Date.now() - started.getTime();
  const summary = summaryTable(results.flatMap((r) => r.summary));
  const timing = results.map((r) => `${r.name} ${fmtDuration(r.elapsedMs)}`).join(', ');
  log(`\n## Summary\n\n${summary}\n\nElapsed: ${fmtDuration(elapsedMs)} (${timing})`);

  const out = {
    startedAt: started.toISOString(),
    elapsedMs,
    args,
    machine,
    workloads: Object.fromEntries(results.map((r) => [r.name, r])),
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${stamp(started)}.json`);
  const json = `${JSON.stringify(out, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(RESULTS, 'latest.json'), json);
  log(`\nResults: ${file} (and bench/results/latest.json)`);

  if (args.writeDocs) {
    const mode = args.quick ? '`--quick` (sizes / 10)' : 'full sizes';
    const m = machine;
    writeDocs(
      [
        `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on commit \`${m.commit}\`, ` +
          `${mode}, ${args.rounds} round(s), workloads: ${args.workloads.join(', ')}; ` +
          `${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}, ` +
          `Postgres ${m.postgres.server_version} (synchronous_commit=${m.postgres.synchronous_commit}, ` +
          `shared_buffers=${m.postgres.shared_buffers}); load average at start ` +
          `${m.loadAverageAtStart.join(' ')}. Elapsed ${fmtDuration(elapsedMs)} (${timing}).`,
        '',
        summary,
      ].join('\n'),
    );
    log(`Wrote the summary into ${DOCS}`);
  }
}

main().then(
  // A stray handle (a pool a failed run did not close) must not keep a finished run alive.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
