// Prisma CLI configuration for the events service. On a machine with Prisma's engines,
// `prisma migrate deploy --config prisma/events/prisma.config.ts` works as usual;
// this project applies the same migrations offline (see prisma/src/migrations.ts).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: './schema.prisma',
  migrations: { path: './migrations' },
  datasource: { url: process.env.EVENTS_DATABASE_URL ?? '' },
});
