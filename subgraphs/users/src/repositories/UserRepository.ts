import { randomUUID } from 'node:crypto';
import type { Role } from '@ticketing/auth';
import { inRequestedOrder, queryableIds, whileAwaited } from '@ticketing/platform';
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

/**
 * Locks the mark of the account's deletion, if there is one, for the rest of the
 * transaction. Undefined when there is none; otherwise whether `lease` may settle it: the
 * lease token it holds, or null for the deletion's own request, which may while no one
 * else holds a lease that has not ended (a sweeper, a reopening). Taken before the user's
 * lock.
 */
async function lockPendingDeletion(
  tx: Prisma.TransactionClient,
  id: string,
  lease: string | null,
): Promise<boolean | undefined> {
  const [row] = await tx.$queryRaw<{ held: boolean }[]>`
    SELECT (lease_token IS NOT DISTINCT FROM ${lease}::uuid
        OR (${lease}::uuid IS NULL AND lease_until < now())) AS held
    FROM pending_deletions WHERE user_id = ${id}::uuid FOR UPDATE`;
  return row?.held;
}

const interval = (ms: number) => `${ms} milliseconds`;

/**
 * The password hash of a mark written only to guard a reopening (claimReopening): no
 * password hashes to it, so no deletion finishes through it.
 */
const noPassword = 'none: guards a reopening';

/** What a new account is made of. */
export interface NewAccount {
  email: string;
  name: string;
  role: Role;
  passwordHash: string;
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

  create(data: NewAccount): Promise<User> {
    return this.#prisma.user.create({ data }).catch(rethrowEmailTaken);
  }

  /**
   * Creates an account and, in the same transaction, what `andThen` writes for it (its
   * first session, at sign-up): both are written or neither, and neither when the client
   * stopped waiting meanwhile (whileAwaited). A sign-up told SERVICE_UNAVAILABLE then
   * leaves no account behind, whose retry would find the email taken.
   */
  createWith<T>(
    data: NewAccount,
    andThen: (tx: Prisma.TransactionClient, user: User) => Promise<T>,
  ): Promise<T> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) =>
        andThen(tx, await tx.user.create({ data }).catch(rethrowEmailTaken)),
      ),
    );
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
   * access token (see revokeOtherSessions); null when nothing was changed. Rolled back when
   * the client stopped waiting (whileAwaited), so that its retry with the same current
   * password changes it, not INVALID_CREDENTIALS.
   */
  replacePassword(
    id: string,
    change: { currentHash: string | null; newHash: string; keepFamilyId: string; recentMs: number },
  ): Promise<string[] | null> {
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient) => {
        // The update takes the user's lock exclusively: no session starts or refreshes with
        // the old password from here on (lockUser).
        const { count } = await tx.user.updateMany({
          where: { id, deletedAt: null, passwordHash: change.currentHash },
          data: { passwordHash: change.newHash },
        });
        if (count === 0) return null;
        return revokeOtherSessions(tx, id, change.keepFamilyId, change.recentMs);
      }),
    );
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
   * Marks the deletion of the live account `id` as started, while its password is still
   * `passwordHash` (the one just checked), under the user's lock: a login or a refresh that
   * takes the lock after it sees the mark (isDeletionPending). False when nothing was
   * marked: the account was deleted, or its password changed, meanwhile; 'settling' when a
   * sweeper or a reopening holds a lease on its mark.
   */
  beginDeletion(id: string, passwordHash: string | null): Promise<boolean | 'settling'> {
    return this.#prisma.$transaction(async (tx) => {
      if ((await lockPendingDeletion(tx, id, null)) === false) return 'settling' as const;
      const user = await lockUser(tx, id, 'update');
      if (!user || user.deletedAt || user.passwordHash !== passwordHash) return false;
      // Timed by the database's clock, as the sweep that settles it reads it; an ended
      // lease goes: the mark is this request's again.
      await tx.$executeRaw`
        INSERT INTO pending_deletions (user_id, password_hash) VALUES (${id}::uuid, ${passwordHash})
        ON CONFLICT (user_id) DO UPDATE
        SET password_hash = EXCLUDED.password_hash, started_at = now(),
          lease_token = NULL, lease_until = NULL`;
      return true;
    });
  }

  /**
   * Removes the mark of a deletion that stopped (the account was reopened, or never closed),
   * if `lease` may settle it (lockPendingDeletion): the token of the lease held, or null for
   * the deletion's own request.
   */
  async endDeletion(id: string, lease: string | null = null): Promise<void> {
    await this.#prisma.$executeRaw`
      DELETE FROM pending_deletions WHERE user_id = ${id}::uuid
        AND (lease_token IS NOT DISTINCT FROM ${lease}::uuid
          OR (${lease}::uuid IS NULL AND lease_until < now()))`;
  }

  /** Gives up the lease `lease` on the account's mark: the next sweep may take it at once. */
  async releaseDeletion(id: string, lease: string): Promise<void> {
    await this.#prisma.$executeRaw`
      UPDATE pending_deletions SET lease_token = NULL, lease_until = NULL
      WHERE user_id = ${id}::uuid AND lease_token = ${lease}::uuid`;
  }

  /**
   * Takes, for `leaseMs`, a lease on the oldest deletion marked more than `olderThanMs` ago
   * that no one holds a lease on (one whose lease ended is free: its holder stopped), in one
   * statement that skips a mark another transaction holds. Undefined when there is none.
   */
  async claimDueDeletion(
    olderThanMs: number,
    leaseMs: number,
  ): Promise<{ user: User; passwordHash: string | null; lease: string } | undefined> {
    const lease = randomUUID();
    const [claimed] = await this.#prisma.$queryRaw<
      { user_id: string; password_hash: string | null }[]
    >`
      UPDATE pending_deletions
      SET lease_token = ${lease}::uuid, lease_until = now() + ${interval(leaseMs)}::interval,
        attempts = attempts + 1
      WHERE user_id = (
        SELECT user_id FROM pending_deletions
        WHERE started_at < now() - ${interval(olderThanMs)}::interval
          AND (lease_until IS NULL OR lease_until < now())
        ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING user_id::text, password_hash`;
    if (!claimed) return undefined;
    const user = await this.findById(claimed.user_id);
    // The mark goes with its user (ON DELETE CASCADE): not found means gone with it.
    if (!user) return undefined;
    return { user, passwordHash: claimed.password_hash, lease };
  }

  /**
   * Takes, for `leaseMs`, a lease on the mark of the account's deletion in order to reopen
   * it in the tickets service, in one transaction holding the mark's and the user's locks:
   * unless the account is deleted (then undefined: nothing to reopen), or someone else holds
   * a lease on the mark that has not ended ('settling': they settle it). A mark removed
   * meanwhile is written again, matching no password, so that a deletion begun again waits
   * for the reopening and a sweeper that takes it reopens, never deletes. No deletion can
   * then finish while the lease lasts (anonymizeIn): the reopening cannot undo one.
   */
  claimReopening(id: string, leaseMs: number): Promise<string | 'settling' | undefined> {
    return this.#prisma.$transaction(async (tx) => {
      if ((await lockPendingDeletion(tx, id, null)) === false) return 'settling' as const;
      const user = await lockUser(tx, id, 'update');
      if (!user || user.deletedAt) return undefined;
      const lease = randomUUID();
      await tx.$executeRaw`
        INSERT INTO pending_deletions (user_id, password_hash, lease_token, lease_until)
        VALUES (${id}::uuid, ${noPassword}, ${lease}::uuid, now() + ${interval(leaseMs)}::interval)
        ON CONFLICT (user_id) DO UPDATE
        SET lease_token = EXCLUDED.lease_token, lease_until = EXCLUDED.lease_until`;
      return lease;
    });
  }

  /**
   * Settles, with the lease `lease`, the deletion of `id`: anonymizeIn in a transaction
   * holding the mark's row, and only while the lease is still this one. 'lost' when it is
   * not (the mark is gone, or another took it after the lease ended).
   */
  finishDeletion(
    id: string,
    passwordHash: string | null,
    lease: string,
    forget: (email: string, tx: Prisma.TransactionClient) => Promise<void>,
  ): Promise<boolean | 'last-admin' | 'lost'> {
    return this.#prisma.$transaction(async (tx) => {
      const deleted = await anonymizeIn(tx, id, passwordHash, forget, lease);
      return deleted === 'not-pending' || deleted === 'settling' ? ('lost' as const) : deleted;
    });
  }

  /**
   * Deletes an account's personal data and its sessions, and `forget`s what else is kept
   * under its email (the login throttle's state), in one transaction that holds the user's
   * lock: all of it, or, if anything fails, none. The row stays as a tombstone ("Deleted
   * user") so that tickets and events that name it still resolve. Only while its deletion is
   * marked (beginDeletion), and the mark goes with it; with `passwordHash`, only while the
   * password is still that one. False when nothing was deleted: the account was deleted
   * already, or its password changed meanwhile; 'last-admin' for the only admin;
   * 'not-pending' when the mark is gone (the deletion sweeper settled it); 'settling' when
   * a sweeper or a reopening holds a lease on it. Rolled back when the client stopped
   * waiting (whileAwaited): the caller then reopens the account, and its retry deletes it,
   * where it would have found the account gone (UNAUTHENTICATED).
   */
  anonymize(
    id: string,
    passwordHash: string | null,
    forget: (email: string, tx: Prisma.TransactionClient) => Promise<void>,
  ): Promise<boolean | 'last-admin' | 'not-pending' | 'settling'> {
    return this.#prisma.$transaction(
      whileAwaited((tx: Prisma.TransactionClient) => anonymizeIn(tx, id, passwordHash, forget)),
    );
  }
}

/**
 * UserRepository.anonymize, in `tx`, as the deletion's own request (`lease` null) or the
 * holder of the lease `lease` on its mark.
 */
export async function anonymizeIn(
  tx: Prisma.TransactionClient,
  id: string,
  passwordHash: string | null,
  forget: (email: string, tx: Prisma.TransactionClient) => Promise<void>,
  lease: string | null = null,
): Promise<boolean | 'last-admin' | 'not-pending' | 'settling'> {
  // The mark first, as beginDeletion takes it; then the admins, then the user, in the order
  // setRole takes them.
  const pending = await lockPendingDeletion(tx, id, lease);
  const admins = await lockAdmins(tx);
  const user = await lockUser(tx, id, 'update');
  if (!user || user.deletedAt || user.passwordHash !== passwordHash) return false;
  if (admins.length === 1 && admins[0] === id) return 'last-admin' as const;
  if (pending === undefined) return 'not-pending' as const;
  if (!pending) return 'settling' as const;
  await tx.pendingDeletion.deleteMany({ where: { userId: id } });
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
}
