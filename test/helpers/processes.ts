import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const TSX = require.resolve('tsx/cjs');

/** A child process running a TypeScript file through tsx. */
export interface Child {
  proc: ChildProcess;
  output: () => string;
  /** Resolves when the child printed `line`. */
  waitFor(line: string, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Starts `file` (relative to the repo root) with extra env. */
export function startChild(file: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--require', TSX, join(__dirname, '..', '..', file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    output: () => out,
    exited,
    waitFor(line, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const tick = () => {
          if (out.includes(line)) resolve();
          else if (proc.exitCode !== null) reject(new Error(`child exited: ${out}`));
          else if (Date.now() > deadline)
            reject(new Error(`timed out waiting for '${line}': ${out}`));
          else setTimeout(tick, 20);
        };
        tick();
      });
    },
  };
}
