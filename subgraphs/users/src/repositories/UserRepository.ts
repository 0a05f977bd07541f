import { inRequestedOrder } from '@ticketing/platform';
import type { PrismaClient, User } from '@ticketing/prisma/users';

/** The only code in this service that queries the users database. */
export class UserRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /** Users by id, in the order asked, `null` where none exists: a DataLoader batch. */
  async findByIds(ids: readonly string[]): Promise<(User | null)[]> {
    const users = await this.#prisma.user.findMany({ where: { id: { in: [...ids] } } });
    return inRequestedOrder(ids, users, (user) => user.id);
  }
}
