import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { MigrationList } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { noExternalObjects, withSchemaEngine } from './schema-engine.ts';

const lockfileName = 'migration_lock.toml';

/** Reads a migrations folder in Prisma Migrate's layout, in the order Prisma applies it. */
export async function readMigrationList(migrationsDir: string): Promise<MigrationList> {
  const entries = existsSync(migrationsDir)
    ? await readdir(migrationsDir, { withFileTypes: true })
    : [];
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const lockfilePath = join(migrationsDir, lockfileName);
  return {
    baseDir: migrationsDir,
    lockfile: {
      path: lockfileName,
      content: existsSync(lockfilePath) ? await readFile(lockfilePath, 'utf8') : null,
    },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: {
            tag: 'ok' as const,
            value: await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8'),
          },
        },
      })),
    ),
  };
}

/**
 * Applies the migrations that the database has not seen yet, as `prisma migrate deploy`
 * does, and returns their names. Fails on an edited or failed migration, as Prisma does.
 */
export async function applyMigrations(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  migrationsDir: string,
): Promise<string[]> {
  const migrationsList = await readMigrationList(migrationsDir);
  const { appliedMigrationNames } = await withSchemaEngine(adapterFactory, (engine) =>
    engine.applyMigrations({ migrationsList, filters: noExternalObjects }),
  );
  return appliedMigrationNames;
}

export interface MigrationStatus {
  upToDate: boolean;
  /** Migrations in the folder that the database has not applied. */
  pending: string[];
  /** Applied migrations whose file changed since. */
  edited: string[];
  failed: string[];
  /** Migrations the database has applied that the folder does not have. */
  unknown: string[];
}

/** What `prisma migrate status` reports, from the same engine call it makes. */
export async function migrationStatus(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  migrationsDir: string,
): Promise<MigrationStatus> {
  const migrationsList = await readMigrationList(migrationsDir);
  const diagnosis = await withSchemaEngine(adapterFactory, (engine) =>
    engine.diagnoseMigrationHistory({
      migrationsList,
      optInToShadowDatabase: false,
      filters: noExternalObjects,
    }),
  );
  const history = diagnosis.history;
  const all = migrationsList.migrationDirectories.map((dir) => dir.path);
  const pending = !diagnosis.hasMigrationsTable
    ? all
    : history && 'unappliedMigrationNames' in history
      ? history.unappliedMigrationNames
      : [];
  const unknown =
    history && 'unpersistedMigrationNames' in history ? history.unpersistedMigrationNames : [];
  return {
    upToDate:
      pending.length === 0 &&
      unknown.length === 0 &&
      diagnosis.editedMigrationNames.length === 0 &&
      diagnosis.failedMigrationNames.length === 0,
    pending,
    edited: diagnosis.editedMigrationNames,
    failed: diagnosis.failedMigrationNames,
    unknown,
  };
}

/**
 * Returns the SQL that a new migration would need to bring the migration history in line
 * with the schema, or `undefined` when the schema has no unmigrated change. The history is
 * replayed into a throwaway in-memory PGlite, which stands in for Prisma's shadow database.
 */
export async function detectDrift(
  schemaPath: string,
  migrationsDir: string,
): Promise<string | undefined> {
  const files = [{ path: schemaPath, content: await readFile(schemaPath, 'utf8') }];
  const migrationsList = await readMigrationList(migrationsDir);
  const shadow = new PGlite();
  try {
    const diff = await withSchemaEngine(new PrismaPGlite(shadow), async (engine) => {
      if (migrationsList.migrationDirectories.length > 0) {
        await engine.applyMigrations({ migrationsList, filters: noExternalObjects });
      }
      return engine.diff({
        from: { tag: 'schemaDatasource', files, configDir: migrationsDir },
        to: { tag: 'schemaDatamodel', files },
        script: true,
        exitCode: true,
        filters: noExternalObjects,
      });
    });
    // With exitCode set, the engine answers 2 for a non-empty diff.
    return diff.exitCode === 2 ? (diff.stdout ?? undefined) : undefined;
  } finally {
    await shadow.close();
  }
}
