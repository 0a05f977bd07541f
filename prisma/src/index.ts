export {
  type DatabaseConnection,
  type DatabaseLocation,
  ensurePostgresDatabase,
  openDatabase,
  pgliteExtensions,
  redactPassword,
} from './connection.ts';
export {
  applyMigrations,
  createMigration,
  detectDrift,
  type MigrationStatus,
  migrationStatus,
  readMigrationList,
} from './migrations.ts';
export {
  defaultDataRoot,
  type OpenServiceDatabase,
  type QueryListener,
  type ServiceDatabase,
  type ServiceName,
  serviceNames,
} from './service.ts';
