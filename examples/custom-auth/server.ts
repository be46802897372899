/**
 * Starts the custom-auth example (./app.ts): `npx tsx examples/custom-auth/server.ts`.
 * `PORT` (default 3001) and `HOST` (default 127.0.0.1, since the example keys are public)
 * choose where it listens. Ctrl+C closes Tasker, then the HTTP server.
 */
import type { AddressInfo } from 'node:net';
import { createCustomAuthApp, EXAMPLE_KEYS } from './app';

async function main(): Promise<void> {
  const example = await createCustomAuthApp();
  const { app } = example;
  const close = () => example.close();
  const server = app.listen(Number(process.env.PORT || 3001), process.env.HOST || '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }).catch(async (err: unknown) => {
    await close();
    throw err;
  });
  const api = `http://localhost:${(server.address() as AddressInfo).port}/tasker`;
  const [billingKey, reportsKey] = Object.keys(EXAMPLE_KEYS);

  console.log(`Custom-auth example: Tasker at ${api}\n\nAPI keys (header X-Api-Key):`);
  for (const [key, grant] of Object.entries(EXAMPLE_KEYS)) {
    console.log(`  ${key}  ${grant.id}: namespaces ${grant.namespaces?.join(', ')}`);
  }
  console.log(`
Try:
  # No key: 401
  curl -i ${api}/handlers
  # The billing key sees billing (200) but not reports (403)
  curl -H "X-Api-Key: ${billingKey}" ${api}/handlers/billing
  curl -i -H "X-Api-Key: ${billingKey}" ${api}/handlers/reports
  # It may create billing tasks (201)
  curl -X POST -H "X-Api-Key: ${billingKey}" -H "Content-Type: application/json" \\
    -d '{"namespace": "billing", "name": "send_invoice", "context": {"invoice_id": "inv_1"}}' \\
    ${api}/tasks
  # The reports key is read-only: creating a task is refused (403)
  curl -i -X POST -H "X-Api-Key: ${reportsKey}" -H "Content-Type: application/json" \\
    -d '{"namespace": "reports", "name": "daily_summary"}' ${api}/tasks
`);

  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    // Refuse new connections, drain Tasker, then wait for the server to finish closing.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    close()
      .then(() => {
        server.closeAllConnections();
        return closed;
      })
      .catch((err: unknown) => {
        console.error(err);
        process.exitCode = 1;
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
