import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { EngineHooks } from '../engine/Engine';
import type { AttemptReport } from '../engine/runAttempt';
import type { TaskerEventPayload, TaskerEvents } from '../events/TaskerEvents';
import type { Logger } from '../types';
import type { QueueDepth } from './queueDepth';

/** Where the gauges read their values: the database (cheap index counts) and this process. */
export interface GaugeSource {
  /** Steps claimable now and steps leased, across every process sharing the database. */
  queueDepth(): Promise<QueueDepth>;
  /** Attempts running in this process. */
  activeAttempts(): number;
}

/** Options of {@link TaskerMetrics}. */
export interface TaskerMetricsOptions {
  /** The prom-client registry to register into. Default: a new registry of its own. */
  registry?: Registry;
  /** Prefix of every metric name. Default `tasker_`. */
  prefix?: string;
  logger: Logger;
}

type TaskLabels = 'namespace' | 'handler';
type StepLabels = 'namespace' | 'handler' | 'step' | 'outcome';
type HttpLabels = 'method' | 'route' | 'status';

/** Step durations: from a few milliseconds to a quarter of an hour. */
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Queue waits: a busy queue is measured in seconds to hours. */
const WAIT_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
/** HTTP: prom-client's defaults, which suit request latencies. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// Several Tasker instances may share one registry (the host's). Counters and histograms are
// then shared too (they sum); the gauges read from the most recently opened instance.
const gaugeSources = new WeakMap<Registry, GaugeSource[]>();

function currentSource(registry: Registry): GaugeSource | undefined {
  const list = gaugeSources.get(registry);
  return list?.[list.length - 1];
}

/**
 * Tasker's Prometheus metrics. Counters follow `tasker.events`; attempt metrics come from the
 * engine's hooks; the queue gauges are read when scraped, by two index-only counts.
 */
export class TaskerMetrics {
  /** The registry `/metrics` serves. */
  readonly registry: Registry;
  readonly tasksCreated: Counter<TaskLabels>;
  readonly tasksCompleted: Counter<TaskLabels>;
  readonly tasksFailed: Counter<TaskLabels>;
  readonly tasksCancelled: Counter<TaskLabels>;
  readonly stepAttempts: Counter<StepLabels>;
  readonly stepDuration: Histogram<StepLabels>;
  readonly stepQueueWait: Histogram<TaskLabels>;
  readonly httpDuration: Histogram<HttpLabels>;
  private source: GaugeSource | null = null;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly options: TaskerMetricsOptions) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const p = options.prefix ?? 'tasker_';
    const get = <M extends Metric<string>>(name: string, make: () => M): M =>
      (registry.getSingleMetric(name) as M | undefined) ?? make();
    const counter = (name: string, help: string, labelNames: string[]) =>
      get(p + name, () => new Counter({ name: p + name, help, labelNames, registers: [registry] }));
    const task = ['namespace', 'handler'];
    this.tasksCreated = counter('tasks_created_total', 'Tasks created.', task);
    this.tasksCompleted = counter('tasks_completed_total', 'Tasks that completed.', task);
    this.tasksFailed = counter(
      'tasks_failed_total',
      'Tasks that ended in error (a step failed for good).',
      task,
    );
    this.tasksCancelled = counter('tasks_cancelled_total', 'Tasks cancelled.', task);
    const step = ['namespace', 'handler', 'step', 'outcome'];
    this.stepAttempts = counter(
      'step_attempts_total',
      'Step attempts by outcome: complete, retry, failed, skipped or discarded.',
      step,
    );
    const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) =>
      get(
        p + name,
        () => new Histogram({ name: p + name, help, labelNames, buckets, registers: [registry] }),
      );
    this.stepDuration = histogram(
      'step_duration_seconds',
      'Duration of step attempts, by outcome.',
      step,
      STEP_BUCKETS,
    );
    this.stepQueueWait = histogram(
      'step_queue_wait_seconds',
      'Time from a step becoming claimable to its attempt starting.',
      task,
      WAIT_BUCKETS,
    );
    this.httpDuration = histogram(
      'http_request_duration_seconds',
      'Duration of Tasker API requests, by route template and status code.',
      ['method', 'route', 'status'],
      HTTP_BUCKETS,
    );
    this.defineGauges(p);
  }

  private defineGauges(p: string): void {
    const registry = this.registry;
    const logger = this.options.logger;
    // One database read per scrape feeds the three database gauges.
    let pending: Promise<QueueDepth | null> | null = null;
    const read = (): Promise<QueueDepth | null> => {
      pending ??= (async () => {
        try {
          const source = currentSource(registry);
          return source ? await source.queueDepth() : null;
        } catch (err) {
          logger.debug({ err }, 'metrics: could not read the queue depth');
          return null;
        } finally {
          setImmediate(() => (pending = null));
        }
      })();
      return pending;
    };
    const gauge = (name: string, help: string, collect: (g: Gauge) => Promise<void> | void) => {
      if (registry.getSingleMetric(p + name)) return;
      new Gauge({
        name: p + name,
        help,
        registers: [registry],
        collect() {
          return collect(this);
        },
      });
    };
    // When the database does not answer, the last values stay and database_up turns 0.
    gauge('steps_ready', 'Steps claimable now, across all workers.', async (g) => {
      const d = await read();
      if (d) g.set(d.ready);
    });
    gauge('steps_in_progress', 'Steps leased by a worker, across all workers.', async (g) => {
      const d = await read();
      if (d) g.set(d.inProgress);
    });
    gauge('database_up', '1 when the last metrics read of the database succeeded.', async (g) => {
      g.set((await read()) ? 1 : 0);
    });
    gauge('worker_active_attempts', 'Step attempts running in this process.', (g) => {
      g.set(currentSource(registry)?.activeAttempts() ?? 0);
    });
  }

  /** Connects the gauges to this instance's database and engine. */
  attach(source: GaugeSource): void {
    this.source = source;
    const list = gaugeSources.get(this.registry) ?? [];
    list.push(source);
    gaugeSources.set(this.registry, list);
  }

  /** Counts task lifecycle events. */
  listen(events: TaskerEvents): void {
    const on = (event: string, counter: Counter<TaskLabels>) => {
      const fn = (e: TaskerEventPayload) =>
        counter.inc({ namespace: e.namespace, handler: e.name });
      events.on(event, fn);
      this.unsubscribe.push(() => events.off(event, fn));
    };
    on('task.created', this.tasksCreated);
    on('task.completed', this.tasksCompleted);
    on('task.failed', this.tasksFailed);
    on('task.cancelled', this.tasksCancelled);
  }

  /** Engine hooks recording each attempt. */
  readonly hooks: EngineHooks = {
    onAttemptEnd: (r: AttemptReport) => {
      const namespace = r.task?.namespace ?? '';
      const handler = r.task?.name ?? '';
      const labels = { namespace, handler, step: r.step.name, outcome: r.outcome };
      this.stepAttempts.inc(labels);
      this.stepDuration.observe(labels, r.durationMs / 1000);
      if (typeof r.queueWaitMs === 'number') {
        this.stepQueueWait.observe({ namespace, handler }, r.queueWaitMs / 1000);
      }
    },
  };

  /** Records one API request. `route` is the route template, e.g. `/tasks/:id`. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  /** Detaches from events and the gauges (the registry keeps the values). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    const list = gaugeSources.get(this.registry);
    if (list && this.source) {
      const i = list.indexOf(this.source);
      if (i >= 0) list.splice(i, 1);
    }
    this.source = null;
  }
}
