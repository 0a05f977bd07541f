// Creates the next migration for one service from its schema.prisma, the way
// `prisma migrate dev --create-only` does, but offline: Prisma's WebAssembly schema engine
// replays the history into a throwaway PGlite database and diffs it against the schema.
// Review the SQL before committing; add data backfills where a change needs them.
//
//   npm run db:migrate:new -- <service> <name>
import { createMigration } from '../src/migrations.ts';
import { selectDatabases } from './databases.ts';

const [service, ...nameWords] = process.argv.slice(2);
if (!service || nameWords.length === 0) {
  console.error('usage: npm run db:migrate:new -- <users|events|tickets> <migration name>');
  process.exit(2);
}
const [database] = selectDatabases([service]);
if (!database) process.exit(2);
const folder = await createMigration(
  database.schemaPath,
  database.migrationsDir,
  nameWords.join(' '),
);
console.log(
  folder
    ? `${service}: wrote migrations/${folder}/migration.sql`
    : `${service}: schema.prisma has no change to migrate.`,
);
