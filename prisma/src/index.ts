export {
  type DatabaseConnection,
  type DatabaseLocation,
  ensurePostgresDatabase,
  openDatabase,
  redactPassword,
} from './connection.ts';
export {
  applyMigrations,
  detectDrift,
  type MigrationStatus,
  migrationStatus,
  readMigrationList,
} from './migrations.ts';
export {
  defaultDataRoot,
  type OpenServiceDatabase,
  type ServiceDatabase,
  type ServiceName,
  serviceNames,
} from './service.ts';
