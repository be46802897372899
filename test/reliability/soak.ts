/**
 * `npm run soak`: the reliability scenarios of test/reliability, longer and bigger than in CI,
 * followed by a summary table (Markdown, so it can be pasted into docs/reliability.md).
 *
 *   npm run soak                       # every scenario at soak size
 *   npm run soak -- --ci               # every scenario at the CI size
 *   npm run soak -- --only load,sqlite # scenarios whose name contains one of the words
 *
 * Progress goes to stderr. The exit code is 1 when any scenario failed. Needs the Postgres of
 * TASKER_TEST_DATABASE_URL, and root with postgresql-common for the database-restart scenario.
 */
import { formatTable, round, type ScenarioResult } from './lib/common';
import { privateClusterUnavailable } from './lib/pg';
import {
  DATABASE_RESTART_CI,
  DATABASE_RESTART_SOAK,
  databaseRestart,
} from './scenarios/databaseRestart';
import { HOSTILE_CI, HOSTILE_SOAK, hostileInput } from './scenarios/hostile';
import { LOAD_CI, LOAD_SOAK, load } from './scenarios/load';
import {
  SHUTDOWN_ABORT_CI,
  SHUTDOWN_DRAIN_CI,
  SHUTDOWN_SOAK,
  shutdown,
} from './scenarios/shutdown';
import { SQLITE_CRASH_CI, SQLITE_CRASH_SOAK, sqliteCrash } from './scenarios/sqliteCrash';
import { WORKER_CRASHES_CI, WORKER_CRASHES_SOAK, workerCrashes } from './scenarios/workerCrashes';

interface Entry {
  name: string;
  run: () => Promise<ScenarioResult>;
}

function plan(ci: boolean): Entry[] {
  const entries: Entry[] = [
    {
      name: 'worker-crashes',
      run: () => workerCrashes(ci ? WORKER_CRASHES_CI : WORKER_CRASHES_SOAK),
    },
    {
      name: 'database-restart',
      run: () => {
        const why = privateClusterUnavailable();
        if (why) throw new Error(`cannot run here: ${why}`);
        return databaseRestart(ci ? DATABASE_RESTART_CI : DATABASE_RESTART_SOAK);
      },
    },
    { name: 'sqlite-crash', run: () => sqliteCrash(ci ? SQLITE_CRASH_CI : SQLITE_CRASH_SOAK) },
    ...(ci ? [LOAD_CI] : LOAD_SOAK).map((o) => ({
      name: `load ${o.clients}x${o.durationMs / 1000}s`,
      run: () => load(o),
    })),
    { name: 'hostile-input', run: () => hostileInput(ci ? HOSTILE_CI : HOSTILE_SOAK) },
    ...(ci ? [SHUTDOWN_DRAIN_CI, SHUTDOWN_ABORT_CI] : SHUTDOWN_SOAK).map((o) => ({
      name: `shutdown ${o.shutdownTimeoutMs < o.stepMinMs ? 'abort' : 'drain'} ${o.database}`,
      run: () => shutdown(o),
    })),
  ];
  return entries;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ci = args.includes('--ci');
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : [];
  process.env.RELIABILITY_VERBOSE ??= '1';
  const entries = plan(ci).filter((e) => only.length === 0 || only.some((w) => e.name.includes(w)));
  const rows: { name: string; result: ScenarioResult | null; error?: string }[] = [];
  const started = Date.now();
  for (const e of entries) {
    process.stderr.write(`\n=== ${e.name} (${ci ? 'CI' : 'soak'} size)\n`);
    try {
      rows.push({ name: e.name, result: await e.run() });
    } catch (err) {
      const error = (err as Error)?.stack ?? String(err);
      process.stderr.write(`FAILED ${e.name}: ${error}\n`);
      rows.push({ name: e.name, result: null, error: (err as Error)?.message ?? String(err) });
    }
  }
  const failed = rows.filter((r) => !r.result).length;
  process.stdout.write(
    `\nReliability ${ci ? 'CI-size run' : 'soak'} on ${new Date().toISOString()}, ${round(
      (Date.now() - started) / 60_000,
    )} min:\n\n${formatTable(rows)}\n\n${rows.length - failed} passed, ${failed} failed\n`,
  );
  process.exitCode = failed > 0 ? 1 : 0;
}

void main();
