/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): self time by function and by package, so a
 * slow workload's profile can be read without DevTools.
 *
 *   node --cpu-prof --cpu-prof-dir .tmp/prof --require tsx/cjs bench/index.ts chain --quick \
 *     --only ours-sqlite --rounds 1
 *   npx tsx bench/profile.ts .tmp/prof/<file>.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a package, our lib/, bench/, node internals or V8. */
function area(url: string): string {
  if (!url) return '(v8/native)';
  if (url.startsWith('node:')) return 'node internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const path = url.replace(/^file:\/\//, '');
  const rel = relative(process.cwd(), path);
  return rel.split('/').slice(0, 2).join('/');
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npx tsx bench/profile.ts <file.cpuprofile> [--top N]');
    process.exit(2);
  }
  const i = process.argv.indexOf('--top');
  const top = i > 0 ? Number(process.argv[i + 1]) : 25;
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time per node from the samples and their time deltas (microseconds).
  const self = new Map<number, number>();
  p.samples.forEach((id, k) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[k] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fnTime = new Map<string, number>();
  const areaTime = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${area(f.url)}:${f.url.split('/').pop()}:${f.lineNumber + 1}` : '';
    const key = where ? `${name} ${where}` : name;
    fnTime.set(key, (fnTime.get(key) ?? 0) + us);
    areaTime.set(area(f.url), (areaTime.get(area(f.url)) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const idle = [...self.entries()]
    .filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)')
    .reduce((a, [, us]) => a + us, 0);
  console.log(
    `${file}: ${(total / 1e6).toFixed(2)} s sampled, ${pct(idle).trim()} idle (waiting on I/O)\n`,
  );
  console.log('Self time by package / directory:');
  for (const [a, us] of [...areaTime].sort((x, y) => y[1] - x[1]).slice(0, 15)) {
    console.log(`  ${pct(us)}  ${a}`);
  }
  console.log(`\nTop ${top} functions by self time:`);
  for (const [k, us] of [...fnTime].sort((x, y) => y[1] - x[1]).slice(0, top)) {
    console.log(`  ${pct(us)}  ${k}`);
  }
}

main();
