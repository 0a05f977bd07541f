import type { Role } from '@ticketing/auth';
import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import { Prisma, type PrismaClient, type User } from '@ticketing/prisma/users';
import { failure } from '../errors.ts';
import { lockUser, revokeOtherSessions } from './SessionRepository.ts';

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

/**
 * Locks the rows of the live admins, in id order, for the rest of the transaction, and
 * returns their ids: who may change roles, and how many admins remain, then cannot change
 * under a role change or a deletion until it ends.
 */
async function lockAdmins(tx: Prisma.TransactionClient): Promise<string[]> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM users WHERE role = 'ADMIN' AND deleted_at IS NULL
    ORDER BY id FOR UPDATE`;
  return rows.map((row) => row.id);
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

  /**
   * Changes a live account's name or email; with `passwordHash`, only while its password is
   * still that one (the one just checked). Null when the account was deleted or its password
   * changed meanwhile, and nothing is written.
   */
  async updateProfile(
    id: string,
    data: { name?: string; email?: string },
    passwordHash?: string | null,
  ): Promise<User | null> {
    const where = {
      id,
      deletedAt: null,
      ...(passwordHash !== undefined ? { passwordHash } : {}),
    };
    const { count } = await this.#prisma.user.updateMany({ where, data }).catch(rethrowEmailTaken);
    return count === 1 ? this.findById(id) : null;
  }

  /**
   * Replaces a live account's password, if it is still `currentHash` (the one just checked:
   * of two changes made with the same current password, one wins), and ends its other
   * sessions in the same transaction. Returns the sessions ended that may still have a live
   * access token (see revokeOtherSessions); null when nothing was changed.
   */
  replacePassword(
    id: string,
    change: { currentHash: string | null; newHash: string; keepFamilyId: string; recentMs: number },
  ): Promise<string[] | null> {
    return this.#prisma.$transaction(async (tx) => {
      // The update takes the user's lock exclusively: no session starts or refreshes with
      // the old password from here on (lockUser).
      const { count } = await tx.user.updateMany({
        where: { id, deletedAt: null, passwordHash: change.currentHash },
        data: { passwordHash: change.newHash },
      });
      if (count === 0) return null;
      return revokeOtherSessions(tx, id, change.keepFamilyId, change.recentMs);
    });
  }

  /**
   * Gives the live account `id` the role `role`, if `adminId` is a live admin still, with
   * the admins' rows locked (lockAdmins): two admins demoting each other at once cannot
   * both succeed and leave none. Returns the role it had before.
   */
  setRole(
    adminId: string,
    id: string,
    role: Role,
  ): Promise<'forbidden' | 'not-found' | { user: User; previousRole: Role }> {
    return this.#prisma.$transaction(async (tx) => {
      if (!(await lockAdmins(tx)).includes(adminId)) return 'forbidden' as const;
      const target = await lockUser(tx, id, 'update');
      if (!target || target.deletedAt) return 'not-found' as const;
      const user = await tx.user.update({ where: { id }, data: { role } });
      return { user, previousRole: target.role };
    });
  }

  countAdmins(): Promise<number> {
    return this.#prisma.user.count({ where: { role: 'ADMIN', deletedAt: null } });
  }

  findByEmail(email: string): Promise<User | null> {
    return this.#prisma.user.findUnique({ where: { email } });
  }

  /**
   * Deletes an account's personal data and its sessions, and `forget`s what else is kept
   * under its email (the login throttle's state), in one transaction that holds the user's
   * lock: all of it, or, if anything fails, none. The row stays as a tombstone ("Deleted
   * user") so that tickets and events that name it still resolve. With `passwordHash`, only
   * while the password is still that one. False when nothing was deleted: the account was
   * deleted already, or its password changed meanwhile; 'last-admin' for the only admin.
   */
  anonymize(
    id: string,
    passwordHash: string | null,
    forget: (email: string, tx: Prisma.TransactionClient) => Promise<void>,
  ): Promise<boolean | 'last-admin'> {
    return this.#prisma.$transaction(async (tx) => {
      // The admins first, then the user, in the order setRole takes them.
      const admins = await lockAdmins(tx);
      const user = await lockUser(tx, id, 'update');
      if (!user || user.deletedAt || user.passwordHash !== passwordHash) return false;
      if (admins.length === 1 && admins[0] === id) return 'last-admin' as const;
      await tx.user.update({
        where: { id },
        data: {
          email: `deleted-${id}@deleted.invalid`,
          name: 'Deleted user',
          role: 'CUSTOMER',
          passwordHash: null,
          deletedAt: new Date(),
        },
      });
      await tx.refreshToken.deleteMany({ where: { userId: id } });
      // The email as it is now, under the lock: a profile change may have replaced it.
      await forget(user.email, tx);
      return true;
    });
  }
}
