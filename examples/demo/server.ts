/**
 * `npm run demo`: starts the demo host app (./app.ts) and prints how to use it.
 *
 * Environment:
 * - `PORT`: the port to listen on (default 3000; 0 picks a free one).
 * - `HOST`: the interface to bind (default 127.0.0.1: the development secret is public, so the
 *   demo should not be reachable from the network unless you ask for it).
 * - `TASKER_DEMO_SECRET`: the JWT secret (default: a fixed development string).
 * - `TASKER_DEMO_SPEED`: divides the simulated step durations (e.g. 10 for a quick run).
 * - `TASKER_LOG_LEVEL`: Tasker's log level (default warn).
 *
 * It shuts down on SIGINT (Ctrl+C) or SIGTERM: new connections are refused, running steps are
 * drained by `tasker.close()`, then the HTTP server closes, and the process exits on its own
 * with code 0 once nothing is left open.
 */
import type { AddressInfo } from 'node:net';
import { createDemoApp, demoBanner, demoUrls } from './app';

/** If shutdown takes longer than this, something is stuck: exit anyway, with an error code. */
const SHUTDOWN_DEADLINE_MS = 15_000;

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535, got '${raw}'`);
  }
  return port;
}

async function main(): Promise<void> {
  const port = parsePort(process.env.PORT);
  const host = process.env.HOST || '127.0.0.1';
  const demo = await createDemoApp({ port });

  const server = demo.app.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (err: unknown) => {
    await demo.close();
    throw err;
  });
  // With PORT=0 the real port is only known now.
  const actualPort = (server.address() as AddressInfo).port;
  console.log(demoBanner(demoUrls(actualPort), demo.token));

  let shuttingDown = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      console.log(`\nReceived ${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    shuttingDown = true;
    console.log(`\nReceived ${signal}: shutting down...`);
    const deadline = setTimeout(() => {
      console.error('Shutdown took too long; exiting.');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    // The deadline must not itself keep the process alive once everything else is closed.
    deadline.unref();

    // Stop accepting connections first (Node closes idle keep-alive sockets too), so no new
    // request reaches Tasker while it closes; requests already running may still finish.
    const serverClosed = new Promise<void>((resolve, reject) =>
      server.close((err) => (err ? reject(err) : resolve())),
    );
    demo
      .close()
      .then(() => {
        // Tasker is closed: whatever connection is still open can only get errors now.
        server.closeAllConnections();
        return serverClosed;
      })
      .then(() => {
        console.log('Tasker demo stopped.');
        process.exitCode = 0;
      })
      .catch((err: unknown) => {
        console.error('Error while shutting down:', err);
        process.exitCode = 1;
      });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error('The Tasker demo failed to start:', err);
  process.exit(1);
});
