import { demoEvents } from '../demo-data.ts';
import { clientOptions, defineServiceDatabase, reportingQueries } from '../src/service.ts';
import { PrismaClient } from './generated/client.ts';

export type { Event, EventStatus, OutboxMessage } from './generated/client.ts';
export { Prisma, PrismaClient } from './generated/client.ts';

export const eventsDatabase = defineServiceDatabase({
  name: 'events',
  directory: import.meta.dirname,
  createClient: (adapter, onQuery) =>
    reportingQueries(new PrismaClient(clientOptions(adapter, onQuery)), onQuery),
  async seedDemoData(prisma) {
    if ((await prisma.event.count()) > 0) return false;
    await prisma.event.createMany({ data: demoEvents() });
    return true;
  },
});
