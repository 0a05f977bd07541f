import type { Role } from '@ticketing/auth';
import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import { Prisma, type PrismaClient, type User } from '@ticketing/prisma/users';
import { failure } from '../errors.ts';

function emailTaken(): Error {
  return failure('EMAIL_TAKEN', 'An account with this email address exists already.', {
    field: 'input.email',
  });
}

/** Maps a unique-constraint violation on email to EMAIL_TAKEN; rethrows anything else. */
function rethrowEmailTaken(error: unknown): never {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
    throw emailTaken();
  }
  throw error;
}

/** The only code in this service that queries users. */
export class UserRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /** Users by id, in the order asked, `null` where none exists: a DataLoader batch. */
  async findByIds(ids: readonly string[]): Promise<(User | null)[]> {
    const users = await this.#prisma.user.findMany({ where: { id: { in: queryableIds(ids) } } });
    return inRequestedOrder(ids, users, (user) => user.id);
  }

  async findById(id: string): Promise<User | null> {
    const [user] = await this.findByIds([id]);
    return user ?? null;
  }

  /** The account that can log in with this (normalised) email, if any. */
  findActiveByEmail(email: string): Promise<User | null> {
    return this.#prisma.user.findFirst({ where: { email, deletedAt: null } });
  }

  create(data: { email: string; name: string; role: Role; passwordHash: string }): Promise<User> {
    return this.#prisma.user.create({ data }).catch(rethrowEmailTaken);
  }

  updateProfile(id: string, data: { name?: string; email?: string }): Promise<User> {
    return this.#prisma.user.update({ where: { id }, data }).catch(rethrowEmailTaken);
  }

  setPasswordHash(id: string, passwordHash: string): Promise<User> {
    return this.#prisma.user.update({ where: { id }, data: { passwordHash } });
  }

  setRole(id: string, role: Role): Promise<User> {
    return this.#prisma.user.update({ where: { id }, data: { role } });
  }

  countAdmins(): Promise<number> {
    return this.#prisma.user.count({ where: { role: 'ADMIN', deletedAt: null } });
  }

  findByEmail(email: string): Promise<User | null> {
    return this.#prisma.user.findUnique({ where: { email } });
  }

  /**
   * Deletes an account's personal data and its sessions, in one transaction. The row stays
   * as a tombstone ("Deleted user") so that tickets and events that name it still resolve.
   */
  async anonymize(id: string): Promise<void> {
    await this.#prisma.$transaction([
      this.#prisma.refreshToken.deleteMany({ where: { userId: id } }),
      this.#prisma.user.update({
        where: { id },
        data: {
          email: `deleted-${id}@deleted.invalid`,
          name: 'Deleted user',
          role: 'CUSTOMER',
          passwordHash: null,
          deletedAt: new Date(),
        },
      }),
    ]);
  }
}
