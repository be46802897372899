import { KnexStorage, MIGRATIONS, applyMigrations, migrationStatus } from '../../storage';
import type { StorageConfig } from '../../storage';
import { describeStorage } from '../database';
import type { Printer } from '../output';

/** Options of `tasker migrate`. */
export interface MigrateOptions {
  database: StorageConfig;
  /** Print applied and pending migrations instead of applying. */
  status?: boolean;
  /** With `status`: exit code 1 when migrations are pending (a CI gate). */
  check?: boolean;
}

/** `tasker migrate`: applies pending migrations, or shows them. Returns the exit code. */
export async function migrate(opts: MigrateOptions, print: Printer): Promise<number> {
  const storage = new KnexStorage(opts.database);
  try {
    print.line(`Database: ${describeStorage(opts.database)}`);
    const before = await print.step('Connecting', () => migrationStatus(storage.knex), 'connected');
    if (opts.status || opts.check) {
      for (const name of before.applied) print.line(`  applied  ${name}`);
      for (const name of before.pending) print.line(`  pending  ${name}`);
      const n = before.pending.length;
      print.line(
        n === 0
          ? `Up to date: ${before.applied.length} applied, none pending.`
          : `${n} pending migration${n === 1 ? '' : 's'}: run 'tasker migrate' to apply.`,
      );
      return opts.check && n > 0 ? 1 : 0;
    }
    if (before.pending.length === 0) {
      print.line(`Up to date: ${before.applied.length} applied, none pending.`);
      return 0;
    }
    print.line(
      `Applying ${before.pending.length} migration${before.pending.length === 1 ? '' : 's'} in one transaction:`,
    );
    // Each migration reports as it runs; they commit together at the end.
    const shown = MIGRATIONS.map((m) => ({
      name: m.name,
      up: (trx: Parameters<typeof m.up>[0]) => print.step(`  ${m.name}`, () => m.up(trx)),
    }));
    const applied = await applyMigrations(storage.knex, storage.capabilities.dialect, shown);
    print.line(
      `Committed: ${applied.length} applied now, ${before.applied.length + applied.length} in total.`,
    );
    return 0;
  } finally {
    await storage.close();
  }
}
