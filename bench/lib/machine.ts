/** What the results were measured on, for the JSON file and docs/performance.md. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { Knex } from 'knex';

/** A description of the machine, Node, Postgres and the commit. */
export async function describeMachine(admin: Knex) {
  const cpu = cpus();
  const settings = [
    'server_version',
    'shared_buffers',
    'synchronous_commit',
    'fsync',
    'max_connections',
    'work_mem',
  ];
  const pg: Record<string, string> = {};
  for (const s of settings) {
    try {
      const r = await admin.raw(`SHOW ${s}`);
      pg[s] = String(Object.values(r.rows[0])[0]);
    } catch {
      pg[s] = 'unknown';
    }
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout.
  }
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    postgres: pg,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    commit,
  };
}
