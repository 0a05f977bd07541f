// Fails when a service's schema.prisma has changes that no migration captures, and prints
// the SQL a new migration would need (create it with `npm run db:migrate:new`).
//
//   npm run db:check
import { detectDrift } from '../src/migrations.ts';
import { databases } from './databases.ts';

let drifted = false;
for (const database of databases) {
  const sql = await detectDrift(database.schemaPath, database.migrationsDir);
  if (sql) {
    drifted = true;
    console.error(`${database.name}: schema.prisma has unmigrated changes:\n${sql}`);
    console.error(`Run: npm run db:migrate:new -- ${database.name} <describe the change>`);
  } else {
    console.log(`${database.name}: migrations match schema.prisma`);
  }
}
process.exitCode = drifted ? 1 : 0;
