/**
 * The HTTP benchmark's server, in a process of its own so autocannon does not share its event
 * loop: the demo's handler catalogue mounted at `/tasker` (default configuration: no
 * authentication, worker disabled so POST /tasks measures the request path, not step
 * execution), the same catalogue with the demo's JWT authentication and per-route authorization
 * at `/demo`, and bare Express routes at `/bare` returning the same JSON the Tasker routes
 * returned once.
 *
 * Environment: `BENCH_SQLITE` (the SQLite file). Sends `{ type: 'ready', port, token, taskId,
 * createBody }` over IPC; exits on a `stop` message.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createTasker, JwtAuthenticator, signDevelopmentToken } from '../lib';
import { registerDemoHandlers } from '../examples/demo/handlers';
import { DEMO_CREATE_BODY as CREATE_BODY } from './lib/handlers';

const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';

async function main(): Promise<void> {
  const filename = process.env.BENCH_SQLITE;
  if (!filename) throw new Error('BENCH_SQLITE is required');
  const storage = { client: 'better-sqlite3', connection: { filename } };
  const tasker = createTasker({ storage, worker: { enabled: false } });
  registerDemoHandlers(tasker);
  await tasker.ready;
  // The same catalogue with the demo app's authentication (created after the first one
  // migrated the file).
  const secured = createTasker({
    storage,
    worker: { enabled: false },
    auth: {
      authenticator: JwtAuthenticator,
      authenticatorOptions: { secret: SECRET, algorithms: ['HS256'] },
      authorizationEnabled: true,
    },
  });
  registerDemoHandlers(secured);
  await secured.ready;
  const token = signDevelopmentToken(
    SECRET,
    { sub: 'bench', permissions: ['tasker.*'] },
    { expiresIn: '1h' },
  );

  const app = express();
  app.disable('x-powered-by');
  app.use('/tasker', tasker);
  app.use('/demo', secured);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  // Capture what Tasker answers, then serve exactly that from bare routes.
  const task = await tasker.createTask({
    name: CREATE_BODY.name,
    namespace: CREATE_BODY.namespace,
    version: CREATE_BODY.version,
    context: CREATE_BODY.context,
  });
  const get = async (path: string) => (await fetch(`${base}${path}`)).json();
  const handlersBody = await get('/tasker/handlers');
  const taskBody = await get(`/tasker/tasks/${task.id}`);
  const created = await fetch(`${base}/tasker/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(CREATE_BODY),
  });
  if (created.status !== 201) throw new Error(`POST /tasks answered ${created.status}`);
  const createdBody = await created.json();
  app.get('/bare/handlers', (_req, res) => {
    res.json(handlersBody);
  });
  app.get('/bare/tasks/:id', (_req, res) => {
    res.json(taskBody);
  });
  app.post('/bare/tasks', express.json(), (_req, res) => {
    res.status(201).json(createdBody);
  });

  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'stop') return;
    server.close();
    server.closeAllConnections();
    void Promise.all([tasker.close(), secured.close()]).then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port, token, taskId: task.id });
}

main().catch((err: unknown) => {
  console.error('bench HTTP server failed:', err);
  process.exit(1);
});
