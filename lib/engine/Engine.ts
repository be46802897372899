import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResolvedConfig } from '../config';
import type { TaskerEvents, TaskerEventPayload } from '../events/TaskerEvents';
import type { HandlerRegistry } from '../registry';
import type {
  AttemptOutcome,
  ClaimedStep,
  ClaimResult,
  Storage,
  StepWriteResult,
  TaskRecord,
} from '../storage';
import type { TaskControl } from '../http/routes';
import type { Json, Logger, RegisteredHandler } from '../types';
import { channelFor, PgNotifier, type Notice } from './notifier';
import { runAttempt, type AttemptReport } from './runAttempt';
import type { Knex } from 'knex';

/**
 * Completion batches written at once. A second writer sends the next batch while the first
 * waits for its commit, so a worker is not held to one database round trip at a time.
 */
const WRITERS = 2;

/** Why a running attempt's signal fired. */
export type AbortReason = 'timeout' | 'cancelled' | 'lease_lost' | 'shutdown';

interface PendingWrite {
  item: { step: ClaimedStep; outcome: AttemptOutcome; children: string[] };
  /** The attempt's task and the results it saw, reused to start eagerly claimed children. */
  task: TaskRecord | undefined;
  finished: Map<string, Json | null> | undefined;
  resolve(r: StepWriteResult): void;
  reject(err: unknown): void;
}

interface Running {
  step: ClaimedStep;
  controller: AbortController;
  reason: AbortReason | null;
  done: Promise<void>;
}

/** Hooks for observability (metrics, tracing) around each attempt. */
export interface EngineHooks {
  onAttemptStart?(step: ClaimedStep, task: TaskRecord): (() => void) | void;
  onAttemptEnd?(report: AttemptReport): void;
}

/**
 * The worker inside the host process: claims ready steps with a lease, runs them up to the
 * configured concurrency, writes outcomes fenced by the claim's token, and wakes at once when a
 * local completion (or, on Postgres, a NOTIFY from another process) makes more steps ready.
 */
export class Engine implements TaskControl {
  readonly workerId: string;
  private readonly running = new Map<number, Running>();
  private handlers = new Map<string, RegisteredHandler>();
  private started = false;
  private closing = false;
  private pumping = false;
  private pumpAgain = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private retryTimer: { at: number; timer: NodeJS.Timeout } | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reclaimTimer: NodeJS.Timeout | null = null;
  private notifier: PgNotifier | null = null;
  private readonly writeQueue: PendingWrite[] = [];
  /** Completion batches being written (at most WRITERS at once), and whether one is scheduled. */
  private writers = 0;
  private writeScheduled = false;
  /** Free slots a claim in flight may fill, and those a completion batch in flight may fill. */
  private pumpReserved = 0;
  private eagerReserved = 0;
  private notifyScheduled = false;
  private closed: Promise<void> | null = null;
  /** Set while the claim loop is failing (database down), for health checks. */
  lastError: unknown = null;

  constructor(
    private readonly storage: Storage,
    private readonly registry: HandlerRegistry,
    private readonly events: TaskerEvents,
    private readonly config: ResolvedConfig,
    private readonly logger: Logger,
    private readonly knex: Knex,
    readonly hooks: EngineHooks = {},
  ) {
    this.workerId =
      config.worker.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  /** True while the worker loop runs. */
  get isRunning(): boolean {
    return this.started && !this.closing;
  }

  /** Number of attempts running in this process. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Re-reads the registry: this worker claims only the handler versions registered here. */
  refreshHandlers(): void {
    this.handlers = new Map(this.registry.all().map((h) => [h.fullName, h]));
    if (this.started) this.wake();
  }

  /** Starts the claim loop, heartbeats, the lease reaper and (Postgres) LISTEN. */
  async start(): Promise<void> {
    if (this.started || this.closing) return;
    this.started = true;
    this.refreshHandlers();
    const w = this.config.worker;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), w.heartbeatMs);
    this.reclaimTimer = setInterval(() => void this.reclaim(), w.reclaimIntervalMs);
    this.heartbeatTimer.unref();
    this.reclaimTimer.unref();
    if (this.storage.capabilities.notifications) {
      this.notifier = new PgNotifier(this.knex, (n) => this.onNotice(n), this.logger);
      await this.notifier.start();
    }
    await this.reclaim();
    this.wake();
  }

  /** Looks for ready steps now (coalesced with a pass already running). */
  wake(): void {
    if (!this.started || this.closing) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    void this.pump();
  }

  private onNotice(n: Notice): void {
    if (n.kind === 'cancel') this.abortTask(n.taskId, 'cancelled');
    else this.wake();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        // Slots a completion batch in flight may fill with eagerly claimed children are taken.
        const free = this.config.worker.concurrency - this.running.size - this.eagerReserved;
        if (free <= 0 || this.closing) break;
        const now = Date.now();
        this.pumpReserved = Math.max(0, free);
        const claim = await this.storage.claimSteps(
          this.workerId,
          [...this.handlers.keys()],
          free,
          now,
          this.config.worker.leaseMs,
        );
        this.lastError = null;
        await this.launchClaim(claim);
        const { steps } = claim;
        // Held until the claimed steps are running, so a completion batch cannot take their slots.
        this.pumpReserved = 0;
        if (steps.length === free) this.pumpAgain = true;
        else if (steps.length === 0) await this.armRetryTimer(now);
      } while (this.pumpAgain && !this.closing);
    } catch (err) {
      this.lastError = err;
      this.logger.warn({ err }, 'claiming steps failed; will retry at the next poll');
    } finally {
      this.pumpReserved = 0;
      this.pumping = false;
      this.armPoll();
    }
  }

  private armPoll(): void {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.closing) return;
    this.pollTimer = setTimeout(() => this.wake(), this.config.worker.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** Wakes at the next scheduled retry when it is due before the next poll. */
  private async armRetryTimer(now: number): Promise<void> {
    const at = await this.storage.nextReadyAt([...this.handlers.keys()], now);
    if (at === null || at - now >= this.config.worker.pollIntervalMs) return;
    if (this.retryTimer && this.retryTimer.at <= at) return;
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    const timer = setTimeout(
      () => {
        this.retryTimer = null;
        this.wake();
      },
      Math.max(0, at - now),
    );
    timer.unref();
    this.retryTimer = { at, timer };
  }

  /** Emits task.started for the tasks a claim started, and starts its steps. */
  private async launchClaim(claim: ClaimResult): Promise<void> {
    const { steps, startedTaskIds } = claim;
    for (const id of startedTaskIds) {
      const step = steps.find((st) => st.taskId === id);
      if (step) this.emitStarted(step);
    }
    if (steps.length === 0) return;
    // The tasks and their finished steps' results: read with the claim, or once per claim.
    const inputs =
      claim.inputs ?? (await this.storage.loadAttemptInputs(steps.map((s) => s.taskId)));
    for (const step of steps) {
      this.launch(step, inputs.tasks.get(step.taskId), inputs.results.get(step.taskId));
    }
  }

  private launch(
    step: ClaimedStep,
    task: TaskRecord | undefined,
    finished: Map<string, Json | null> | undefined,
  ): void {
    const handler = this.handlers.get(step.handlerKey);
    const children = handler?.children.get(step.name) ?? [];
    const controller = new AbortController();
    const entry: Running = { step, controller, reason: null, done: Promise.resolve() };
    this.running.set(step.id, entry);
    entry.done = runAttempt({
      step,
      handler,
      task,
      finished,
      write: (outcome) => this.enqueueWrite({ step, outcome, children }, task, finished),
      events: this.events,
      logger: this.logger,
      retry: this.config.retry,
      signal: controller.signal,
      abortReason: () => entry.reason,
      setTimeoutReason: () => {
        entry.reason ??= 'timeout';
        controller.abort(entry.reason);
      },
      hooks: this.hooks,
    })
      .then((write) => this.afterWrite(write))
      .catch((err: unknown) => {
        this.logger.error(
          { err, taskId: step.taskId, step: step.name },
          'attempt bookkeeping failed',
        );
      })
      .finally(() => {
        this.running.delete(step.id);
        this.wake();
      });
  }

  /**
   * Queues an attempt's outcome. One batch is written at a time; outcomes that arrive while it
   * is in flight go into the next, so under load many steps share one transaction, and when idle
   * a single outcome is written at once (no timer).
   */
  private enqueueWrite(
    item: PendingWrite['item'],
    task: TaskRecord | undefined,
    finished: Map<string, Json | null> | undefined,
  ): Promise<StepWriteResult> {
    return new Promise((resolve, reject) => {
      this.writeQueue.push({ item, task, finished, resolve, reject });
      this.scheduleWrite();
    });
  }

  /**
   * Starts a writer after this turn of the event loop (attempts finishing in the same turn share
   * its transaction and commit), unless WRITERS are busy: then the queue waits for one of them.
   */
  private scheduleWrite(): void {
    if (this.writeScheduled || this.writers >= WRITERS || this.writeQueue.length === 0) return;
    this.writeScheduled = true;
    this.writers++;
    setImmediate(() => {
      this.writeScheduled = false;
      void this.flushWrites();
    });
  }

  /** True while completions are queued or being written. */
  private get writing(): boolean {
    return this.writers > 0 || this.writeQueue.length > 0;
  }

  private async flushWrites(): Promise<void> {
    try {
      while (this.writeQueue.length > 0) {
        const batch = this.writeQueue.splice(0, 200);
        let free = 0;
        try {
          // The batch's own attempts still count as running: their slots free up after this.
          // The write claims for them: the released children first, then other ready steps
          // (the claim the loop would make next), so a busy worker refills its slots without
          // a claim round trip of its own.
          free = Math.max(
            0,
            this.config.worker.concurrency -
              (this.running.size - batch.length) -
              this.pumpReserved -
              this.eagerReserved,
          );
          this.eagerReserved += free;
          const results = await this.storage.finishAttempts(
            batch.map((b) => b.item),
            Date.now(),
            this.closing || free <= 0
              ? undefined
              : {
                  owner: this.workerId,
                  leaseMs: this.config.worker.leaseMs,
                  limit: free,
                  handlerKeys: [...this.handlers.keys()],
                },
          );
          batch.forEach((b, i) => b.resolve(results[i]));
          // The finished attempts' events (step.completed, task.completed) go out before their
          // children start, so listeners see them in causal order; the children's slots stay
          // reserved meanwhile.
          await new Promise((r) => setImmediate(r));
          await this.launchEager(batch, results).catch((err: unknown) => {
            // Written, but the steps it claimed could not be started: hand them back now
            // rather than leave them leased until their lease expires.
            this.logger.error({ err }, 'could not start the steps a completion batch claimed');
            const claimed = results.flatMap((r) => [
              ...(r.claimed ?? []),
              ...(r.refill?.steps ?? []),
            ]);
            const stray = claimed.filter((c) => !this.running.has(c.id));
            return this.storage
              .releaseLeases(
                this.workerId,
                stray.map((c) => ({ id: c.id, fence: c.fence })),
                Date.now(),
              )
              .catch(() => undefined);
          });
        } catch (err) {
          // Nothing was written: the steps stay leased and are retried when the lease expires.
          for (const b of batch) b.reject(err);
        } finally {
          this.eagerReserved -= free;
        }
        // Another writer may take what queued up meanwhile while this one writes the rest.
        this.scheduleWrite();
      }
    } finally {
      this.writers--;
      this.scheduleWrite();
    }
  }

  /** Starts the children a write claimed, with the inputs the batch already holds. */
  private async launchEager(batch: PendingWrite[], results: StepWriteResult[]): Promise<void> {
    const refill = results.at(-1)?.refill;
    const children = results.flatMap((r) => r.claimed ?? []);
    if (children.length === 0 && !refill?.steps.length) return;
    if (this.closing) {
      // Shutting down: hand the children straight back for another worker.
      await this.storage
        .releaseLeases(
          this.workerId,
          [...children, ...(refill?.steps ?? [])].map((c) => ({ id: c.id, fence: c.fence })),
          Date.now(),
        )
        .catch((err: unknown) => this.logger.warn({ err }, 'could not hand back claimed steps'));
      return;
    }
    if (refill) await this.launchClaim(refill);
    const known = new Map<string, { task?: TaskRecord; finished: Map<string, Json | null> }>();
    batch.forEach((b, i) => {
      const k = known.get(b.item.step.taskId) ?? { task: b.task, finished: new Map(b.finished) };
      k.task ??= b.task;
      const o = b.item.outcome;
      if (
        results[i].applied &&
        (results[i].status === 'complete' || results[i].status === 'skipped')
      ) {
        k.finished.set(b.item.step.name, o.kind === 'complete' ? o.results : null);
      }
      known.set(b.item.step.taskId, k);
    });
    const missing: ClaimedStep[] = [];
    for (const step of children) {
      const k = known.get(step.taskId);
      const parents =
        this.handlers.get(step.handlerKey)?.stepsByName.get(step.name)?.dependsOn ?? [];
      if (k?.task && parents.every((p) => k.finished.has(p))) this.launch(step, k.task, k.finished);
      else missing.push(step);
    }
    if (missing.length === 0) return;
    try {
      const inputs = await this.storage.loadAttemptInputs(missing.map((m) => m.taskId));
      for (const step of missing) {
        this.launch(step, inputs.tasks.get(step.taskId), inputs.results.get(step.taskId));
      }
    } catch (err) {
      // The claims stand; their leases expire and the steps are reclaimed.
      this.logger.warn({ err }, 'could not load inputs for eagerly claimed steps');
    }
  }

  private afterWrite(write: StepWriteResult | null): void {
    if (!write || !write.applied) return;
    if (write.readyStepIds.length > 0) {
      this.wake();
      // One NOTIFY per tick, however many completions made steps ready in it.
      if (this.notifier && !this.notifyScheduled) {
        this.notifyScheduled = true;
        setImmediate(() => {
          this.notifyScheduled = false;
          void this.notifyOthers({ kind: 'ready' });
        });
      }
    }
  }

  /** task.started, from the registered handler of the claimed row, without a read. */
  private emitStarted(step: ClaimedStep): void {
    const h = this.handlers.get(step.handlerKey);
    if (!h) return;
    this.events.emit('task.started', {
      event: 'task.started',
      taskId: step.taskId,
      namespace: h.namespace,
      name: h.name,
      version: h.version,
      status: 'in_progress',
      at: new Date().toISOString(),
    } satisfies TaskerEventPayload);
  }

  /**
   * A task was created here: wake this worker, and on Postgres the others (once per tick), even
   * when this process runs no worker of its own.
   */
  announceNewTask(): void {
    this.wake();
    if (!this.storage.capabilities.notifications || this.notifyScheduled) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      void this.notifyOthers({ kind: 'ready' });
    });
  }

  private async notifyOthers(n: Notice): Promise<void> {
    if (!this.storage.capabilities.notifications) return;
    try {
      if (this.notifier) await this.notifier.notify(n);
      else
        await this.knex.raw('SELECT pg_notify(?, ?)', [
          channelFor(this.knex),
          n.kind === 'cancel' ? `cancel:${n.taskId}` : 'ready',
        ]);
    } catch (err) {
      this.logger.debug({ err }, 'NOTIFY failed; other workers will see the change at their poll');
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.running.size === 0) return;
    const leases = [...this.running.values()].map((r) => ({ id: r.step.id, fence: r.step.fence }));
    try {
      const lost = await this.storage.heartbeat(
        this.workerId,
        leases,
        Date.now(),
        this.config.worker.leaseMs,
      );
      for (const id of lost) {
        const r = this.running.get(id);
        if (r && !r.reason) {
          r.reason = 'lease_lost';
          r.controller.abort('lease_lost');
        }
      }
    } catch (err) {
      this.logger.warn({ err }, 'heartbeat failed');
    }
  }

  private async reclaim(): Promise<void> {
    try {
      const ids = await this.storage.reclaimExpired(Date.now());
      if (ids.length > 0) {
        this.logger.info({ count: ids.length }, 'reclaimed steps whose lease expired');
        this.wake();
      }
    } catch (err) {
      this.logger.warn({ err }, 'lease reaper failed');
    }
  }

  private abortTask(taskId: string, reason: AbortReason): void {
    for (const r of this.running.values()) {
      if (r.step.taskId === taskId && !r.reason) {
        r.reason = reason;
        r.controller.abort(reason);
      }
    }
  }

  private async emitTask(event: string, taskId: string, extra: Partial<TaskerEventPayload> = {}) {
    try {
      const t = await this.storage.getTask(taskId);
      if (!t) return;
      this.events.emit(event, {
        event,
        taskId,
        namespace: t.namespace,
        name: t.name,
        version: t.version,
        status: t.status,
        at: new Date().toISOString(),
        ...extra,
      } satisfies TaskerEventPayload);
    } catch (err) {
      this.logger.debug({ err }, 'could not load task for an event');
    }
  }

  async cancelTask(id: string): Promise<TaskRecord> {
    const before = await this.storage.getSteps(id);
    const task = await this.storage.cancelTask(id, Date.now());
    this.abortTask(id, 'cancelled');
    void this.notifyOthers({ kind: 'cancel', taskId: id });
    const after = new Map((await this.storage.getSteps(id)).map((s) => [s.name, s.status]));
    for (const s of before) {
      if (s.status !== 'cancelled' && after.get(s.name) === 'cancelled') {
        void this.emitTask('step.cancelled', id, { stepName: s.name, status: 'cancelled' });
      }
    }
    void this.emitTask('task.cancelled', id);
    return task;
  }

  async retryTask(id: string): Promise<TaskRecord> {
    const { task } = await this.storage.retryTask(id, Date.now());
    this.wake();
    void this.notifyOthers({ kind: 'ready' });
    return task;
  }

  async resolveStep(id: string, stepName: string, results: Json): Promise<TaskRecord> {
    const r = await this.storage.resolveStep(id, stepName, results, Date.now());
    void this.emitTask('step.resolved_manually', id, {
      stepName,
      status: 'resolved_manually',
      results,
    });
    if (r.taskStatus === 'complete') void this.emitTask('task.completed', id);
    this.afterWrite(r);
    return r.task;
  }

  /**
   * Stops claiming, lets running attempts finish for up to `shutdownTimeoutMs`, then aborts the
   * rest (their signal fires with reason 'shutdown') and hands their leases back so another
   * worker can run them at once. A second call returns the same promise.
   */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer.timer);
    if (this.reclaimTimer) clearInterval(this.reclaimTimer);
    while (this.pumping) await new Promise((r) => setTimeout(r, 5));
    // Whatever runs now, or is launched by a batch already being written, is waited for.
    const waitAll = async () => {
      while (this.running.size > 0 || this.writing) {
        await Promise.all([...this.running.values()].map((r) => r.done));
        if (this.writing) await new Promise((r) => setTimeout(r, 5));
      }
    };
    const timeout = (ms: number) =>
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
    if (this.running.size > 0 || this.writing) {
      const outcome = await Promise.race([
        waitAll(),
        timeout(this.config.worker.shutdownTimeoutMs),
      ]);
      if (outcome === 'timeout') {
        const left = [...this.running.values()];
        for (const r of left) {
          r.reason ??= 'shutdown';
          r.controller.abort('shutdown');
        }
        // Give aborted steps a moment to unwind, then release whatever is still leased.
        await Promise.race([waitAll(), timeout(1000)]);
        try {
          await this.storage.releaseLeases(
            this.workerId,
            left.map((r) => ({ id: r.step.id, fence: r.step.fence })),
            Date.now(),
          );
        } catch (err) {
          this.logger.warn({ err }, 'could not release leases on shutdown; they will expire');
        }
      }
    }
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.notifier) await this.notifier.stop();
  }
}
