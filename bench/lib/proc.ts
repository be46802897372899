/**
 * Child processes of the benchmarks (worker processes, the HTTP server) and their memory:
 * children run TypeScript through tsx and talk to the harness over an IPC channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const TSX = require.resolve('tsx/cjs');
const ROOT = join(__dirname, '..', '..');

/** A message a child sends to the harness. */
export interface ChildMessage {
  type: string;
  [key: string]: unknown;
}

/** A running child with its output and messages. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Everything the child printed (stdout and stderr). */
  output(): string;
  /** Resolves with the first message of `type` (already received or future). */
  message(type: string, timeoutMs?: number): Promise<ChildMessage>;
  /** Registers a listener for every message. */
  onMessage(fn: (m: ChildMessage) => void): void;
  send(m: ChildMessage): void;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Asks the child to stop (message `stop`), then SIGKILLs it after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `file` (relative to the repository root) under tsx with extra env and node flags
 * (e.g. `--cpu-prof`).
 */
export function startChild(
  file: string,
  env: Record<string, string>,
  nodeFlags: string[] = [],
): Child {
  // `--cpu-prof DIR` on the command line profiles every child (worker processes, HTTP server).
  const prof = process.env.BENCH_CPU_PROF_DIR;
  const flags = prof ? ['--cpu-prof', '--cpu-prof-dir', prof, ...nodeFlags] : nodeFlags;
  const proc = spawn(process.execPath, [...flags, '--require', TSX, join(ROOT, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: ROOT,
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const received: ChildMessage[] = [];
  const listeners: ((m: ChildMessage) => void)[] = [];
  proc.on('message', (m: ChildMessage) => {
    received.push(m);
    for (const l of listeners) l(m);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const child: Child = {
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    onMessage: (fn) => listeners.push(fn),
    send(m) {
      if (proc.connected) proc.send(m);
    },
    message(type, timeoutMs = 60_000) {
      const found = received.find((m) => m.type === type);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child ${file}: no '${type}' within ${timeoutMs} ms\n${out}`)),
          timeoutMs,
        );
        listeners.push((m) => {
          if (m.type === type) {
            clearTimeout(timer);
            resolve(m);
          }
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`child ${file} exited (${code}) before '${type}'\n${out}`));
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return child;
}

/** Memory of a process from /proc/<pid>/status, in MB (null when unavailable). */
export function procMemory(pid: number): { rssMb: number; hwmMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (!Number.isFinite(rss) || !Number.isFinite(hwm)) return null;
    return { rssMb: rss / 1024, hwmMb: hwm / 1024 };
  } catch {
    return null;
  }
}

/**
 * Samples a process's memory every `everyMs` until stopped. VmHWM is the kernel's own peak
 * resident set, so nothing between samples is missed; the samples give the RSS curve.
 */
export function sampleMemory(pid: number, everyMs = 200) {
  const samples: { at: number; rssMb: number }[] = [];
  let peakMb = 0;
  const t0 = Date.now();
  const read = () => {
    const m = procMemory(pid);
    if (!m) return;
    samples.push({ at: Date.now() - t0, rssMb: Math.round(m.rssMb * 10) / 10 });
    peakMb = Math.max(peakMb, m.hwmMb);
  };
  read();
  const timer = setInterval(read, everyMs);
  return {
    /** Stops sampling; returns the peak (VmHWM) and the samples. */
    stop() {
      read();
      clearInterval(timer);
      return { peakMb, samples };
    },
  };
}
