// Migrates each service's database and writes the demo data set into those that are empty.
// The services do the same at start unless SEED_DEMO_DATA=false.
//
//   npm run db:seed [-- <service>...]
import { selectDatabases } from './databases.ts';

for (const database of selectDatabases(process.argv.slice(2))) {
  const open = await database.open(database.locate());
  try {
    const seeded = await open.seedDemoData();
    console.log(
      `${database.name}: ${seeded ? 'seeded demo data' : 'has data already, left as is'}`,
    );
  } finally {
    await open.close();
  }
}
