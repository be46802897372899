import { expect } from 'chai';
import { join } from 'node:path';
import { createTasker, MIGRATIONS, TABLES } from '../../lib';
import { silentLogger } from '../../lib/observability/logger';
import { forEachDatabase, tempDir, createSchema, pgConfig } from '../helpers/databases';
import { startChild } from '../helpers/processes';
import type { StorageConfig } from '../../lib/storage';

forEachDatabase((db) => {
  describe('storage: migrations', function () {
    this.timeout(60_000);

    it('applies every migration into its own bookkeeping table, and a second start applies none', async () => {
      const storage = await db.fresh();
      const first = createTasker({ storage, logger: silentLogger, worker: { enabled: false } });
      await first.ready;
      const status = await first.storage.migrationStatus();
      expect(status).to.deep.equal({ applied: MIGRATIONS.map((m) => m.name), pending: [] });
      const knex = first.storage.knex;
      for (const t of Object.values(TABLES))
        expect(await knex.schema.hasTable(t), t).to.equal(true);
      expect(await knex.schema.hasTable('knex_migrations')).to.equal(false);
      await first.close();
      const second = createTasker({ storage, logger: silentLogger, worker: { enabled: false } });
      await second.ready;
      expect((await second.storage.migrationStatus()).pending).to.deep.equal([]);
      await second.close();
    });

    it('with migrate: false, does not create tables', async () => {
      const storage = await db.fresh();
      const t = createTasker({
        storage,
        migrate: false,
        logger: silentLogger,
        worker: { enabled: false },
      });
      await t.ready;
      expect(await t.storage.knex.schema.hasTable(TABLES.tasks)).to.equal(false);
      expect((await t.storage.migrationStatus()).pending).to.have.length(MIGRATIONS.length);
      await t.close();
    });

    it('five instances starting at once on one database all come up', async () => {
      const storage = await db.fresh();
      const all = Array.from({ length: 5 }, () =>
        createTasker({ storage, logger: silentLogger, worker: { enabled: false } }),
      );
      await Promise.all(all.map((t) => t.ready));
      for (const t of all) await t.close();
    });

    it('three processes starting at once on one database all come up', async () => {
      let storage: StorageConfig;
      if (db.name === 'postgres') storage = pgConfig(await createSchema());
      else
        storage = {
          client: 'better-sqlite3',
          connection: { filename: join(tempDir(), 'm.sqlite') },
        };
      const children = Array.from({ length: 3 }, () =>
        startChild('test/fixtures/migrate.ts', { TASKER_STORAGE: JSON.stringify(storage) }),
      );
      const codes = await Promise.all(children.map((c) => c.exited));
      for (const c of children)
        expect(c.output()).to.contain(`ready applied=${MIGRATIONS.length} pending=0`);
      expect(codes).to.deep.equal([0, 0, 0]);
    });
  });
});
