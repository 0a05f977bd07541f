// Applies pending migrations to each service's database (its *_DATABASE_URL, or the
// embedded PGlite folder), as `prisma migrate deploy` would, without Prisma's binaries.
//
//   npm run db:migrate [-- <service>...]
import { selectDatabases } from './databases.ts';

for (const database of selectDatabases(process.argv.slice(2))) {
  const open = await database.open(database.locate());
  const applied = open.appliedMigrations;
  console.log(
    `${database.name}: ${applied.length ? `applied ${applied.join(', ')}` : 'already up to date'} (${open.connection.description})`,
  );
  await open.close();
}
