import { AssertionError } from 'node:assert';
import type { Knex } from 'knex';
import { INVOCATIONS } from './dags';

/** One handler invocation as a worker recorded it. */
export interface Invocation {
  id: number;
  task_id: string;
  step: string;
  attempt: number;
  pid: number;
  active: number;
  started_at: number;
  ended_at: number | null;
}

/** What the invariant check measured. */
export interface InvariantFigures {
  tasks: number;
  steps: number;
  invocations: number;
  /** Invocations beyond one per step. */
  reruns: number;
  /** Steps run more than once. */
  rerunSteps: number;
  /** Leases taken back from a dead or stopping worker (reaper or shutdown hand-back). */
  reclaims: number;
  /** Re-runs that started while the earlier run was still going (allowed after lease expiry). */
  overlapsAfterLeaseExpiry: number;
  /** The most handlers one process ran at once. */
  maxActive: number;
  /** The same, by process id. */
  maxActiveByPid: Map<number, number>;
}

function fail(message: string, evidence?: unknown): never {
  throw new AssertionError({
    message: evidence === undefined ? message : `${message}: ${JSON.stringify(evidence)}`,
  });
}

/**
 * Checks the durability promises over the tasks `taskIds`:
 *
 * 1. every task is `complete`;
 * 2. every step's results were written exactly once (one transition into `complete`), and they
 *    come from an invocation that ran to its end, of that task and step;
 * 3. a step ran more than once only when the process of the earlier run was stopped
 *    (`stopped`: pid → when it was SIGKILLed or shut down) and its lease was taken back;
 * 4. no two runs of one step overlapped in time, unless the later one started after the
 *    earlier one's lease had expired (a transition records the reclaim);
 * 5. no process ran more handlers at once than its `worker.concurrency` (`concurrencyOf(pid)`).
 */
export async function checkInvariants(
  knex: Knex,
  taskIds: string[],
  stopped: Map<number, number>,
  concurrencyOf: (pid: number) => number,
): Promise<InvariantFigures> {
  const ids = new Set(taskIds);
  const tasks: { id: string; status: string }[] = [];
  const steps: { task_id: string; name: string; results: unknown; status: string }[] = [];
  for (let i = 0; i < taskIds.length; i += 500) {
    const chunk = taskIds.slice(i, i + 500);
    tasks.push(...(await knex('tasker_tasks').whereIn('id', chunk).select('id', 'status')));
    steps.push(
      ...(await knex('tasker_workflow_steps')
        .whereIn('task_id', chunk)
        .select('task_id', 'name', 'results', 'status')),
    );
  }
  if (tasks.length !== taskIds.length) {
    fail(`${taskIds.length - tasks.length} created tasks are missing from the database`);
  }
  const unfinished = tasks.filter((t) => t.status !== 'complete');
  if (unfinished.length > 0) {
    fail(`${unfinished.length} tasks did not complete`, unfinished.slice(0, 5));
  }

  const transitions: {
    task_id: string;
    step_name: string;
    to_status: string;
    error: string | null;
    at: string | number;
  }[] = (
    await knex('tasker_step_transitions')
      .whereNotNull('step_name')
      .whereIn('to_status', ['complete', 'pending'])
      .select('task_id', 'step_name', 'to_status', 'error', 'at')
  ).filter((t: { task_id: string }) => ids.has(t.task_id));
  const completions = new Map<string, number>();
  const reclaimsAt = new Map<string, number[]>();
  let reclaims = 0;
  for (const t of transitions) {
    const key = `${t.task_id}/${t.step_name}`;
    if (t.to_status === 'complete') completions.set(key, (completions.get(key) ?? 0) + 1);
    else if (t.error) {
      const e = JSON.parse(t.error) as { code?: string; class?: string };
      if (e.code === 'LEASE_LOST' || e.class === 'WorkerShutdown') {
        reclaims++;
        reclaimsAt.set(key, [...(reclaimsAt.get(key) ?? []), Number(t.at)]);
      }
    }
  }
  for (const s of steps) {
    const n = completions.get(`${s.task_id}/${s.name}`) ?? 0;
    if (n !== 1) fail(`step ${s.task_id}/${s.name} has ${n} completions, not exactly one`);
  }

  const invocations: Invocation[] = (await knex(INVOCATIONS).select('*'))
    .map((r: Record<string, unknown>) => ({
      id: Number(r.id),
      task_id: String(r.task_id),
      step: String(r.step),
      attempt: Number(r.attempt),
      pid: Number(r.pid),
      active: Number(r.active),
      started_at: Number(r.started_at),
      ended_at: r.ended_at === null ? null : Number(r.ended_at),
    }))
    .filter((r) => ids.has(r.task_id));
  let maxActive = 0;
  const maxActiveByPid = new Map<number, number>();
  for (const r of invocations) {
    maxActive = Math.max(maxActive, r.active);
    maxActiveByPid.set(r.pid, Math.max(maxActiveByPid.get(r.pid) ?? 0, r.active));
    if (r.active > concurrencyOf(r.pid)) {
      fail(
        `process ${r.pid} ran ${r.active} handlers at once, above its worker.concurrency of ${concurrencyOf(r.pid)}`,
        r,
      );
    }
  }
  const byId = new Map(invocations.map((r) => [r.id, r]));
  for (const s of steps) {
    const res = (typeof s.results === 'string' ? JSON.parse(s.results) : s.results) as {
      invocation?: number;
    } | null;
    const inv = res?.invocation === undefined ? undefined : byId.get(res.invocation);
    if (!inv || inv.ended_at === null || inv.task_id !== s.task_id || inv.step !== s.name) {
      fail(`step ${s.task_id}/${s.name} stores results no finished invocation produced`, {
        results: res,
        invocation: inv,
      });
    }
  }

  const byStep = new Map<string, Invocation[]>();
  for (const r of invocations) {
    const key = `${r.task_id}/${r.step}`;
    const list = byStep.get(key);
    if (list) list.push(r);
    else byStep.set(key, [r]);
  }
  let reruns = 0;
  let rerunSteps = 0;
  let overlapsAfterLeaseExpiry = 0;
  for (const [key, list] of byStep) {
    if (list.length === 1) continue;
    reruns += list.length - 1;
    rerunSteps++;
    list.sort((a, b) => a.started_at - b.started_at || a.id - b.id);
    const taken = reclaimsAt.get(key) ?? [];
    if (taken.length < list.length - 1) {
      fail(
        `step ${key} ran ${list.length} times but its lease was taken back ${taken.length}`,
        list,
      );
    }
    for (let i = 0; i + 1 < list.length; i++) {
      const earlier = list[i];
      const later = list[i + 1];
      const stoppedAt = stopped.get(earlier.pid);
      if (stoppedAt === undefined) {
        fail(`step ${key} re-ran although the process of the earlier run was not stopped`, list);
      }
      const end = earlier.ended_at ?? stoppedAt;
      if (end > later.started_at) {
        // Two processes ran the step at once: allowed only after the lease had expired.
        if (!taken.some((at) => at <= later.started_at)) {
          fail(`step ${key} ran in two processes at once before its lease expired`, list);
        }
        overlapsAfterLeaseExpiry++;
      }
    }
  }
  return {
    tasks: tasks.length,
    steps: steps.length,
    invocations: invocations.length,
    reruns,
    rerunSteps,
    reclaims,
    overlapsAfterLeaseExpiry,
    maxActive,
    maxActiveByPid,
  };
}
