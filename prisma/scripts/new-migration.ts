// Creates the next migration for one service from its schema.prisma, the way
// `prisma migrate dev --create-only` does, but offline: Prisma's WebAssembly schema engine
// replays the history into a throwaway PGlite database and diffs it against the schema.
//
//   npm run db:migrate:new -- <service> <name>
import { createPgliteMigration } from 'prisma-pglite';
import { selectDatabases } from './databases.ts';

const [service, ...nameWords] = process.argv.slice(2);
if (!service || nameWords.length === 0) {
  console.error('usage: npm run db:migrate:new -- <users|events|tickets> <migration name>');
  process.exit(2);
}
const [database] = selectDatabases([service]);
const created = await createPgliteMigration({
  prismaConfigPath: database?.configPath,
  migrationName: nameWords.join(' '),
});
if (!created) console.log(`${service}: schema.prisma has no change to migrate.`);
