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
  let open: Awaited<ReturnType<typeof database.open>>;
  try {
    open = await database.open(location, {
      onMigrationWaiting: (holder) =>
        console.error(`${database.name}: migrations wait for a lock held by ${holder}`),
      onMigrationRolledBack: (migration, startedAt) =>
        console.error(
          `${database.name}: migration ${migration}, cut short since ${startedAt.toISOString()}, marked rolled back: applying it again`,
        ),
    });
  } catch (error) {
    // A lock the migrations could not have within their wait, or a database out of reach:
    // one line, and a non-zero exit, after which the init container is started again.
    console.error(`${database.name}: ${(error as Error).message}`);
    process.exit(1);
  }
  const applied = open.appliedMigrations;
  console.log(
    `${database.name}: ${applied.length ? `applied ${applied.join(', ')}` : 'already up to date'} (${open.connection.description})`,
  );
  await open.close();
}
