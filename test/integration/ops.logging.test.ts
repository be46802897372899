/**
 * Logging: a pino-compatible logger receives Tasker's lines; step lines carry the task id, step
 * and attempt; and no line ever holds a bearer token, whatever the request does.
 */
import { expect } from 'chai';
import request from 'supertest';
import {
  createConsoleLogger,
  createTasker,
  JwtAuthenticator,
  signDevelopmentToken,
  type Logger,
  type Tasker,
} from '../../lib';
import { sqlite } from '../helpers/databases';
import { makeHarness, waitForTask } from '../helpers/tasker';

const SECRET = 'ops-logging-test-secret-0123456789abcdef';

/** Everything an error holds, so a token hidden in one would show. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { ...value, name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}

/** A pino-like logger at the most verbose level that keeps every line it is given. */
function capturingLogger(): { logger: Logger; lines: string[]; entries: Record<string, any>[] } {
  const lines: string[] = [];
  const entries: Record<string, any>[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const write = (level: string) => (obj: object | string, msg?: string) => {
      const fields = typeof obj === 'string' ? { msg: obj } : { ...obj, msg };
      const entry = { level, ...bindings, ...fields };
      entries.push(entry);
      lines.push(JSON.stringify(entry, replacer));
    };
    return {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return { logger: make({}), lines, entries };
}

let calls = 0;
function register(t: Tasker): void {
  t.registerHandler({
    namespace: 'ops',
    name: 'logged',
    version: '1.0.0',
    steps: [
      {
        name: 'talk',
        handler: async (ctx) => {
          calls += 1;
          ctx.logger.info({ calls }, 'step says hello');
          if (calls === 1) throw new Error('first attempt fails');
          return { ok: true };
        },
      },
    ],
  });
}

describe('logging', () => {
  beforeEach(() => (calls = 0));

  it('never writes a bearer token, and step lines carry task id, step and attempt', async () => {
    const { logger, lines, entries } = capturingLogger();
    const h = await makeHarness(
      sqlite,
      {
        logger,
        auth: {
          authenticator: JwtAuthenticator,
          authenticatorOptions: { secret: SECRET },
          authorizationEnabled: true,
        },
        rateLimit: { limit: 1000 },
        retry: { baseMs: 10, factor: 1, capMs: 10, jitter: 0 },
      },
      register,
    );
    const token = signDevelopmentToken(SECRET, { sub: 'alice', permissions: ['tasker.*'] });
    const narrow = signDevelopmentToken(SECRET, { sub: 'bob', permissions: ['tasker.task:index'] });
    const expired = signDevelopmentToken(
      SECRET,
      { sub: 'carol', permissions: ['tasker.*'] },
      { expiresIn: -10 },
    );
    const forged = signDevelopmentToken('another-secret-another-secret-0123456789', { sub: 'eve' });
    const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

    await request(h.app).get('/tasker/handlers').set(bearer(token)).expect(200);
    const created = await request(h.app)
      .post('/tasker/tasks')
      .set(bearer(token))
      .send({ namespace: 'ops', name: 'logged' })
      .expect(201);
    await waitForTask(h.tasker, created.body.id, ['complete']);
    await request(h.app).get('/tasker/handlers').set(bearer(narrow)).expect(403);
    await request(h.app).get('/tasker/handlers').set(bearer(expired)).expect(401);
    await request(h.app).get('/tasker/handlers').set(bearer(forged)).expect(401);
    await request(h.app)
      .get('/tasker/handlers')
      .set(bearer(`${token}x!`))
      .expect(401);
    // A token in the query string is not accepted, and must not be logged either.
    await request(h.app).get(`/tasker/handlers?access_token=${token}`).expect(401);
    await request(h.app)
      .post('/tasker/tasks')
      .set(bearer(token))
      .set('Content-Type', 'application/json')
      .send('{"broken json')
      .expect(400);
    await request(h.app).get('/tasker/metrics').set(bearer(token)).expect(200);
    await h.close();

    expect(lines.length, 'lines were captured').to.be.greaterThan(5);
    expect(lines.some((l) => l.includes('"tasker request"'))).to.equal(true);
    for (const t of [token, narrow, expired, forged]) {
      const signature = t.split('.')[2];
      for (const line of lines) {
        expect(line).to.not.include(t);
        expect(line).to.not.include(signature);
      }
    }

    const taskId: string = created.body.id;
    const hello = entries.filter((e) => e.msg === 'step says hello');
    expect(hello.map((e) => [e.taskId, e.step, e.attempt])).to.deep.equal([
      [taskId, 'talk', 1],
      [taskId, 'talk', 2],
    ]);
    const failed = entries.find((e) => e.msg === 'attempt failed');
    expect(failed).to.deep.include({ taskId, step: 'talk', attempt: 1, level: 'warn' });
  });

  it('redacts credentials in the default console logger', () => {
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    };
    try {
      const log = createConsoleLogger('debug').child({ taskId: 't-1' });
      log.info({ headers: { authorization: 'Bearer abc.def.ghi' }, token: 'xyz' }, 'hello');
    } finally {
      process.stderr.write = original;
    }
    expect(written).to.have.length(1);
    const entry = JSON.parse(written[0]);
    expect(entry).to.deep.include({
      level: 'info',
      taskId: 't-1',
      msg: 'hello',
      token: '[redacted]',
    });
    expect(entry.headers).to.deep.equal({ authorization: '[redacted]' });
  });

  it('refuses a logger without the pino methods', () => {
    expect(() => createTasker({ logger: { info() {} } as unknown as Logger })).to.throw(
      /logger must be pino-compatible/,
    );
  });
});
