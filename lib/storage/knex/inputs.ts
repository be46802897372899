import type { Json } from '../../types';
import type { AttemptInputs, TaskRecord } from '../types';
import type { Exec, Row } from './exec';
import { TABLES } from './migrations';
import { taskFromRow } from './rows';

/** Maps task rows and `(task_id, name, results)` rows of finished steps to attempt inputs. */
export function inputsFromRows(taskRows: Row[], stepRows: Row[]): AttemptInputs {
  const tasks = new Map<string, TaskRecord>();
  const results = new Map<string, Map<string, Json | null>>();
  for (const r of taskRows) tasks.set(r.id as string, taskFromRow(r));
  for (const r of stepRows) {
    const m = results.get(r.task_id as string) ?? new Map<string, Json | null>();
    const raw = r.results;
    m.set(
      r.name as string,
      raw === null || raw === undefined ? null : (JSON.parse(raw as string) as Json),
    );
    results.set(r.task_id as string, m);
  }
  return { tasks, results };
}

/** Reads the tasks of `taskIds` and the results of their finished steps. */
export async function readAttemptInputs(x: Exec, taskIds: string[]): Promise<AttemptInputs> {
  const ids = [...new Set(taskIds)];
  if (ids.length === 0) return { tasks: new Map(), results: new Map() };
  const list = ids.map(() => '?').join(', ');
  const [taskRows, stepRows] = await Promise.all([
    x.all(`SELECT * FROM ${TABLES.tasks} WHERE id IN (${list})`, ids),
    x.all(
      `SELECT task_id, name, results FROM ${TABLES.steps}
       WHERE task_id IN (${list}) AND status IN ('complete', 'skipped', 'resolved_manually')`,
      ids,
    ),
  ]);
  return inputsFromRows(taskRows, stepRows);
}
