import { hashPassword } from '@ticketing/auth';
import { demoPassword, demoUsers } from '../demo-data.ts';
import { clientOptions, defineServiceDatabase, reportingQueries } from '../src/service.ts';
import { PrismaClient } from './generated/client.ts';

export type { LoginThrottle, RefreshToken, Role, User } from './generated/client.ts';
export { Prisma, PrismaClient } from './generated/client.ts';

export const usersDatabase = defineServiceDatabase({
  name: 'users',
  directory: import.meta.dirname,
  createClient: (adapter, onQuery) =>
    reportingQueries(new PrismaClient(clientOptions(adapter, onQuery)), onQuery),
  async seedDemoData(prisma) {
    if ((await prisma.user.count()) > 0) return false;
    // One hash for all: they share the demo password, and hashing is deliberately slow.
    const passwordHash = await hashPassword(demoPassword);
    await prisma.user.createMany({ data: demoUsers.map((user) => ({ ...user, passwordHash })) });
    return true;
  },
});
