/**
 * OpenTelemetry spans, read from the SDK's in-memory exporter: one per API request, per task and
 * per step attempt, with the creating request's trace carried to the steps.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { expect } from 'chai';
import request from 'supertest';
import type { Tasker } from '../../lib';
import { sqlite } from '../helpers/databases';
import { makeHarness, waitFor, waitForTask } from '../helpers/tasker';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

let calls = 0;
function register(t: Tasker): void {
  t.registerHandler({
    namespace: 'ops',
    name: 'traced',
    version: '1.2.0',
    steps: [
      { name: 'first', handler: async () => ({ ok: true }) },
      {
        name: 'second',
        dependsOn: 'first',
        handler: async () => {
          calls += 1;
          if (calls === 1) throw new Error('transient');
          return { ok: true };
        },
      },
    ],
  });
}
const fastRetry = { retry: { baseMs: 10, factor: 1, capMs: 10, jitter: 0 } };

const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

describe('tracing with an OpenTelemetry SDK installed', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  before(() => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => {
    exporter.reset();
    calls = 0;
  });

  const spans = () => exporter.getFinishedSpans();
  /** Waits until `count` attempt spans have ended, then returns every span. */
  const waitForAttempts = (count: number) =>
    waitFor(() => {
      const all = spans();
      return all.filter((s) => s.kind === SpanKind.CONSUMER).length >= count ? all : undefined;
    });

  it('links request, task and step attempt spans in the caller trace', async () => {
    const h = await makeHarness(sqlite, fastRetry, register);
    const created = await request(h.app)
      .post('/tasker/tasks')
      .set('traceparent', `00-${TRACE_ID}-${CALLER_SPAN}-01`)
      .send({ namespace: 'ops', name: 'traced', context: { order: 7 } })
      .expect(201);
    const taskId: string = created.body.id;
    await waitForTask(h.tasker, taskId, ['complete']);
    const all = await waitForAttempts(3);

    const http = all.find((s) => s.kind === SpanKind.SERVER && s.name === 'POST /tasker/tasks');
    expect(http, 'the request span').to.not.equal(undefined);
    expect(http!.spanContext().traceId).to.equal(TRACE_ID);
    expect(parentId(http!)).to.equal(CALLER_SPAN);
    expect(http!.attributes).to.deep.include({
      'http.request.method': 'POST',
      'http.route': '/tasker/tasks',
      'http.response.status_code': 201,
    });

    const task = all.find((s) => s.kind === SpanKind.PRODUCER);
    expect(task, 'the task span').to.not.equal(undefined);
    expect(task!.name).to.equal('task ops.traced');
    expect(parentId(task!)).to.equal(idOf(http!));
    expect(task!.attributes).to.deep.include({
      'tasker.namespace': 'ops',
      'tasker.handler': 'traced',
      'tasker.version': '1.2.0',
      'tasker.task_id': taskId,
    });

    const attempts = all.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(attempts.map((s) => [s.name, s.attributes['tasker.attempt']])).to.have.deep.members([
      ['step ops.traced/first', 1],
      ['step ops.traced/second', 1],
      ['step ops.traced/second', 2],
    ]);
    for (const s of attempts) {
      expect(s.spanContext().traceId, s.name).to.equal(TRACE_ID);
      expect(parentId(s), s.name).to.equal(idOf(task!));
      expect(s.attributes, s.name).to.deep.include({
        'tasker.namespace': 'ops',
        'tasker.handler': 'traced',
        'tasker.version': '1.2.0',
        'tasker.task_id': taskId,
      });
    }
    const failed = attempts.find((s) => s.attributes['tasker.outcome'] === 'retry');
    expect(failed?.attributes['tasker.step']).to.equal('second');
    expect(failed?.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'transient' });
    expect(attempts.filter((s) => s.attributes['tasker.outcome'] === 'complete')).to.have.length(2);

    // The task row carries the task span's context, in W3C form, for other processes.
    const stored = await h.tasker.getTask(taskId);
    expect(stored.traceContext?.traceparent).to.equal(`00-${TRACE_ID}-${idOf(task!)}-01`);
  });

  it('names request spans by route template', async () => {
    const h = await makeHarness(sqlite, {}, register);
    await request(h.app).get('/tasker/tasks/00000000-0000-4000-8000-000000000000').expect(404);
    const span = await waitFor(() => spans().find((s) => s.kind === SpanKind.SERVER));
    expect(span.name).to.equal('GET /tasker/tasks/:id');
    expect(span.attributes['url.path']).to.equal(
      '/tasker/tasks/00000000-0000-4000-8000-000000000000',
    );
  });

  it('traces a task created from code under the active span', async () => {
    const h = await makeHarness(sqlite, fastRetry, register);
    const tracer = trace.getTracer('host-app');
    const taskId = await tracer.startActiveSpan('nightly job', async (job) => {
      try {
        return (await h.tasker.createTask({ namespace: 'ops', name: 'traced' })).id;
      } finally {
        job.end();
      }
    });
    await waitForTask(h.tasker, taskId, ['complete']);
    const all = await waitForAttempts(3);
    const job = all.find((s) => s.name === 'nightly job')!;
    const task = all.find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(parentId(task)).to.equal(idOf(job));
    expect(task.attributes['tasker.task_id']).to.equal(taskId);
    for (const s of all.filter((x) => x.kind === SpanKind.CONSUMER)) {
      expect(parentId(s)).to.equal(idOf(task));
      expect(s.spanContext().traceId).to.equal(job.spanContext().traceId);
    }
  });

  it('ends the task span of a request that created no task', async () => {
    const h = await makeHarness(sqlite, {}, register);
    await request(h.app)
      .post('/tasker/tasks')
      .send({ namespace: 'ops', name: 'missing' })
      .expect(404);
    const task = await waitFor(() => spans().find((s) => s.kind === SpanKind.PRODUCER));
    expect(task.attributes['tasker.task.created']).to.equal(false);
    expect(task.status.code).to.equal(SpanStatusCode.ERROR);
  });
});

describe('tracing without an OpenTelemetry SDK', () => {
  it("stores the request's traceparent header as the task's trace context", async () => {
    const h = await makeHarness(sqlite, {}, register);
    const header = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
    const created = await request(h.app)
      .post('/tasker/tasks')
      .set('traceparent', header)
      .send({ namespace: 'ops', name: 'traced' })
      .expect(201);
    const task = await h.tasker.getTask(created.body.id);
    expect(task.traceContext).to.deep.equal({ traceparent: header });
  });
});
