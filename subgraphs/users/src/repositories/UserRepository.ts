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
    const byId = new Map(users.map((user) => [user.id, user]));
    return ids.map((id) => byId.get(id) ?? null);
  }
}
