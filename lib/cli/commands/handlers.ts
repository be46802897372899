import { createTasker } from '../../createTasker';
import { silentLogger } from '../../observability/logger';
import type { HandlerRegistry } from '../../registry';
import type { RegisteredHandler } from '../../types';
import { loadTaskerModule } from '../loadModule';
import type { Printer } from '../output';

/** Options of `tasker handlers`. */
export interface HandlersOptions {
  config: string;
  json?: boolean;
}

function stepNotes(h: RegisteredHandler, name: string): string {
  const s = h.stepsByName.get(name);
  if (!s) return '';
  const notes: string[] = [];
  if (!s.retryable) notes.push('no retry');
  else notes.push(`retry ${s.retryLimit}`);
  if (s.skippable) notes.push('skippable');
  if (s.timeoutMs !== null) notes.push(`timeout ${s.timeoutMs} ms`);
  if (s.customEvents.length > 0) notes.push(`events ${s.customEvents.join(', ')}`);
  return notes.join(', ');
}

/** The DAG of one handler as text: its levels (steps that may run together), then its arrows. */
export function renderHandler(h: RegisteredHandler): string[] {
  const lines = [`  ${h.name}@${h.version}${h.description ? ` - ${h.description}` : ''}`];
  const width = Math.max(...h.graph.nodes.map((n) => n.length));
  h.graph.levels.forEach((level, i) => {
    level.forEach((name, j) => {
      const prefix = j === 0 ? `    level ${i + 1}` : ' '.repeat(`    level ${i + 1}`.length);
      lines.push(`${prefix}  ${name.padEnd(width)}  (${stepNotes(h, name)})`);
    });
  });
  if (h.graph.edges.length > 0) {
    for (const e of h.graph.edges) lines.push(`    ${e.from} -> ${e.to}`);
  } else {
    lines.push('    (no dependencies: every step may run at once)');
  }
  return lines;
}

/** The whole catalogue as text. */
export function renderCatalogue(registry: HandlerRegistry): string[] {
  const namespaces = registry.namespaces();
  const handlers = registry.all();
  const lines = [
    `${namespaces.length} namespace${namespaces.length === 1 ? '' : 's'}, ` +
      `${handlers.length} handler version${handlers.length === 1 ? '' : 's'}`,
  ];
  for (const ns of namespaces) {
    lines.push('', `${ns.name}${ns.description ? ` - ${ns.description}` : ''}`);
    for (const h of handlers.filter((x) => x.namespace === ns.name)) {
      lines.push(...renderHandler(h));
    }
  }
  return lines;
}

/** `tasker handlers`: loads the module and prints what it registers. Touches no database. */
export async function handlers(opts: HandlersOptions, print: Printer): Promise<number> {
  const mod = loadTaskerModule(opts.config);
  const tasker = createTasker({
    ...mod.config,
    // The catalogue is code: an in-memory database keeps the real one out of it.
    storage: { client: 'better-sqlite3', connection: { filename: ':memory:' } },
    migrate: false,
    worker: { enabled: false },
    metrics: { enabled: false },
    logger: mod.config.logger ?? silentLogger,
  });
  try {
    await mod.register(tasker);
    if (opts.json) {
      const out = tasker.registry.all().map((h) => ({
        namespace: h.namespace,
        name: h.name,
        version: h.version,
        description: h.description,
        steps: h.steps.map((s) => ({ name: s.name, depends_on: s.dependsOn })),
        levels: h.graph.levels,
        edges: h.graph.edges,
      }));
      print.line(JSON.stringify(out, null, 2));
    } else {
      for (const line of renderCatalogue(tasker.registry)) print.line(line);
    }
    return 0;
  } finally {
    await tasker.close();
  }
}
