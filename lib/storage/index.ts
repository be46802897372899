export * from './types';
export { KnexStorage } from './knex/KnexStorage';
export { DEFAULT_STORAGE, type StorageConfig } from './knex/connection';
export {
  MIGRATIONS,
  TABLES,
  applyMigrations,
  migrationStatus,
  type Migration,
} from './knex/migrations';
