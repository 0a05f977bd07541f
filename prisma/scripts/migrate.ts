// Applies pending migrations to each service's database (its *_DATABASE_URL, or the
// embedded PGlite folder), as `prisma migrate deploy` would, without Prisma's binaries.
//
//   npm run db:migrate [-- <service>...]
import { selectDatabases } from './databases.ts';

for (const database of selectDatabases(process.argv.slice(2))) {
  let location: ReturnType<typeof database.locate>;
  try {
    location = database.locate();
  } catch (error) {
    // A setting the operator must fix (a Kubernetes init container runs this): one line.
    console.error(`${database.name}: ${(error as Error).message}`);
    process.exit(1);
  }
  const open = await database.open(location);
  const applied = open.appliedMigrations;
  console.log(
    `${database.name}: ${applied.length ? `applied ${applied.join(', ')}` : 'already up to date'} (${open.connection.description})`,
  );
  await open.close();
}
