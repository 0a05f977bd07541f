import { demoUsers } from '../demo-data.ts';
import { defineServiceDatabase } from '../src/service.ts';
import { PrismaClient } from './generated/client.ts';

export type { Role, User } from './generated/client.ts';
export { Prisma, PrismaClient } from './generated/client.ts';

export const usersDatabase = defineServiceDatabase({
  name: 'users',
  directory: import.meta.dirname,
  createClient: (adapter) => new PrismaClient({ adapter }),
  async seedDemoData(prisma) {
    if ((await prisma.user.count()) > 0) return false;
    await prisma.user.createMany({ data: [...demoUsers] });
    return true;
  },
});
