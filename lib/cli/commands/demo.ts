import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Printer } from '../output';

/** Options of `tasker demo`. */
export interface DemoOptions {
  port?: number;
  host?: string;
}

/** The demo server of the source tree (it is not part of the published package). */
export const DEMO_SERVER = join(__dirname, '..', '..', '..', 'examples', 'demo', 'server.ts');

/**
 * `tasker demo`: runs examples/demo/server.ts in this process through tsx, as `npm run demo`
 * does. The server prints its URLs and a token and stops on SIGINT or SIGTERM.
 */
export async function demo(opts: DemoOptions, print: Printer): Promise<number> {
  if (!existsSync(DEMO_SERVER)) {
    print.error(`The demo ships with the source repository, not the package: ${DEMO_SERVER}`);
    return 1;
  }
  if (opts.port !== undefined) process.env.PORT = String(opts.port);
  if (opts.host !== undefined) process.env.HOST = opts.host;
  const load = createRequire(__filename);
  load('tsx/cjs');
  print.line('Starting the demo (examples/demo/server.ts)...');
  load(DEMO_SERVER);
  return 0;
}
