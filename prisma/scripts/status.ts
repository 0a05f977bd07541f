// Reports, per service, what `prisma migrate status` would: pending, edited, failed or
// unknown migrations. Exits 1 unless every database is up to date.
//
//   npm run db:status [-- <service>...]
import { migrationStatus } from '../src/migrations.ts';
import { selectDatabases } from './databases.ts';

let upToDate = true;
for (const database of selectDatabases(process.argv.slice(2))) {
  const open = await database.open(database.locate(), { migrate: false });
  try {
    const status = await migrationStatus(open.connection.adapterFactory, database.migrationsDir);
    upToDate &&= status.upToDate;
    const problems = (['pending', 'edited', 'failed', 'unknown'] as const)
      .filter((kind) => status[kind].length > 0)
      .map((kind) => `${kind}: ${status[kind].join(', ')}`);
    console.log(`${database.name}: ${status.upToDate ? 'up to date' : problems.join('; ')}`);
  } finally {
    await open.close();
  }
}
process.exitCode = upToDate ? 0 : 1;
