/** What workloads return, and the tables the harness prints and writes. */
import type { BenchDatabases } from './db';
import { fmt, fmtRatio } from './stats';

/** Everything a workload needs from the harness. */
export interface BenchContext {
  /** `--quick`: every size divided by 10 (a smoke run). */
  quick: boolean;
  /** Rounds per measurement (medians are reported). */
  rounds: number;
  dbs: BenchDatabases;
  /** Prints a progress line. */
  log(line: string): void;
  /** `n`, or n/10 (at least `min`) in quick mode. */
  size(n: number, min?: number): number;
}

/** One line of the final table. */
export interface SummaryRow {
  workload: string;
  /** What `ours` measures, e.g. `steps/s`, `p50 ms`. */
  unit: string;
  ours: number | null;
  peer?: { name: string; value: number | null; unit?: string } | null;
  /** ours / peer (or the quantity the target is about), when meaningful. */
  ratio?: number | null;
  target?: string;
  /** null: no target. */
  met?: boolean | null;
  note?: string;
}

/** What a workload returns. */
export interface WorkloadResult {
  name: string;
  elapsedMs: number;
  summary: SummaryRow[];
  /** Raw per-round numbers and settings, for the JSON file. */
  details: Record<string, unknown>;
}

/** A markdown table with padded columns (readable in a terminal too). */
export function markdownTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

/** The summary rows as the final markdown table, with a note on how to read the ratio. */
export function summaryTable(rows: SummaryRow[]): string {
  const table = markdownTable(
    ['workload', 'ours', 'peer', 'ratio', 'target', 'met?'],
    rows.map((r) => [
      r.workload,
      r.ours === null ? 'n/a' : `${fmt(r.ours)} ${r.unit}`,
      r.peer ? `${r.peer.name}: ${fmt(r.peer.value)} ${r.peer.unit ?? r.unit}` : '',
      r.ratio === undefined ? '' : fmtRatio(r.ratio),
      r.target ?? '',
      r.met === undefined || r.met === null ? '' : r.met ? 'yes' : '**no**',
    ]),
  );
  return (
    `${table}\n\nratio = ours / peer: above 1 is better for rates (steps/s, tx/s, req/s), ` +
    'worse for latencies and memory (ms, MB). Latency rows with a peer compare enqueue-to-start.'
  );
}
