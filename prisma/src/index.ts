export {
  type DatabaseConnection,
  type DatabaseDeadlines,
  type DatabaseLocation,
  defaultDatabaseDeadlines,
  ensurePostgresDatabase,
  migrationLockWaitMs,
  migrationScriptLockWaitMs,
  openDatabase,
  pgliteExtensions,
  redactPassword,
  statementGraceMs,
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
  defineServiceDatabase,
  type OpenServiceDatabase,
  type QueryListener,
  type ServiceDatabase,
  type ServiceName,
  serviceNames,
} from './service.ts';
