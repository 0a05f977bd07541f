import { whileAwaited } from '@ticketing/platform';
import type { Prisma, PrismaClient, RefreshToken, User } from '@ticketing/prisma/users';

/** A session's access token may be issued for `user`, at `issuedAt`: both read under the lock. */
export interface Issuable {
  user: User;
  issuedAt: Date;
}

export type RotationOutcome =
  | ({ status: 'rotated'; familyId: string } & Issuable)
  | { status: 'unknown' }
  | { status: 'reused'; familyId: string; userId: string; usedAt: Date }
  | { status: 'revoked' }
  | { status: 'expired' }
  | { status: 'throttled'; retryAt: Date }
  | { status: 'deletion-pending' };

/** How many refresh tokens one account may exchange in an hour, all its sessions together. */
export interface RotationBudget {
  perHour: number;
}

/**
 * Takes the user's row lock for the rest of the transaction, and reads the row under it.
 *
 * What issues a token (a refresh) holds it shared; what stops tokens (a logout, a password
 * change, a role change, a deletion, a new session that ends the oldest past the limit)
 * holds it exclusively, as an update of the row does. So a token is issued either wholly
 * before a revocation, its refresh token visible to it and its `issuedAt` before the
 * revocation's time, or after it, from what the revocation left: never a token that
 * survives it.
 */
export async function lockUser(
  tx: Prisma.TransactionClient,
  userId: string,
  mode: 'share' | 'update',
): Promise<User | null> {
  if (mode === 'share') {
    await tx.$queryRaw`SELECT 1 FROM users WHERE id = ${userId}::uuid FOR SHARE`;
  } else {
    await tx.$queryRaw`SELECT 1 FROM users WHERE id = ${userId}::uuid FOR NO KEY UPDATE`;
  }
  return tx.user.findUnique({ where: { id: userId } });
}

/**
 * Whether the account's deletion is under way (UserRepository.beginDeletion): read under
 * the user's lock, which marking it takes exclusively, so no session starts or refreshes
 * past the mark.
 */
async function deletionPending(tx: Prisma.TransactionClient, userId: string): Promise<boolean> {
  return (await tx.pendingDeletion.count({ where: { userId } })) > 0;
}

/**
 * Whether exchanging the live token `tokenHash` now would take the account past its
 * budget: every exchange keeps the token it used (a used token coming back ends the
 * session), so one session refreshed in a loop would keep rows without end. Counted under
 * an advisory lock of the account's exchanges, so that exchanges at once are counted one
 * after the other. A token that could not be exchanged anyway (used, revoked, expired)
 * is answered as such, whatever the budget; a refused one stays live.
 */
async function overBudget(
  tx: Prisma.TransactionClient,
  userId: string,
  tokenHash: string,
  now: Date,
  budget: RotationBudget,
): Promise<{ status: 'throttled'; retryAt: Date } | undefined> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('refresh:' || ${userId}))`;
  const token = await tx.refreshToken.findUnique({ where: { tokenHash } });
  if (!token || token.usedAt || token.revokedAt || token.expiresAt <= now) return undefined;
  const hourAgo = new Date(now.getTime() - 60 * 60 * 1_000);
  const recent = await tx.refreshToken.findMany({
    where: { userId, usedAt: { gt: hourAgo } },
    select: { usedAt: true },
    orderBy: { usedAt: 'desc' },
    take: budget.perHour,
  });
  const oldest = recent.at(-1)?.usedAt;
  if (recent.length < budget.perHour || !oldest) return undefined;
  // The budget's next exchange: when the oldest of the last hour's leaves it.
  return { status: 'throttled', retryAt: new Date(oldest.getTime() + 60 * 60 * 1_000) };
}

/** A new session's first refresh token, as stored. */
export interface NewSession {
  userId: string;
  familyId: string;
  tokenHash: string;
  expiresAt: Date;
}

export interface SessionLimits {
  maxSessions: number;
  recentMs: number;
}

export type SessionStart = (Issuable & { ended: string[] }) | 'deletion-pending' | null;

/** SessionRepository.start, in `tx`: for an account created in it too, at sign-up. */
export async function startSessionIn(
  tx: Prisma.TransactionClient,
  token: NewSession,
  limits: SessionLimits,
  passwordHash?: string | null,
): Promise<SessionStart> {
  const user = await lockUser(tx, token.userId, 'update');
  if (!user || user.deletedAt) return null;
  if (passwordHash !== undefined && user.passwordHash !== passwordHash) return null;
  if (await deletionPending(tx, user.id)) return 'deletion-pending' as const;
  await tx.refreshToken.create({ data: token });
  const beyond = await tx.refreshToken.findMany({
    where: {
      userId: token.userId,
      usedAt: null,
      revokedAt: null,
      expiresAt: { gt: new Date() },
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    skip: limits.maxSessions,
    select: { familyId: true, createdAt: true },
  });
  if (beyond.length > 0) {
    await tx.refreshToken.updateMany({
      where: { familyId: { in: beyond.map((head) => head.familyId) }, revokedAt: null },
      data: { revokedAt: new Date() },
    });
  }
  // Sessions that ended (logged out, revoked, past the limit, expired) are forgotten
  // here, so that logging in again and again keeps no more rows than live sessions: an
  // ended session's token is refused whether its row is there or not.
  await tx.$executeRaw`
      DELETE FROM refresh_tokens t
      WHERE t.user_id = ${token.userId}::uuid AND NOT EXISTS (
        SELECT 1 FROM refresh_tokens live
        WHERE live.family_id = t.family_id AND live.used_at IS NULL
          AND live.revoked_at IS NULL AND live.expires_at > now())`;
  const recentSince = Date.now() - limits.recentMs;
  const ended = beyond
    .filter((head) => head.createdAt.getTime() > recentSince)
    .map((head) => head.familyId);
  return { user, issuedAt: new Date(), ended };
}

/** Sessions as refresh-token families. The only code in this service that queries them. */
export class SessionRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  /**
   * Starts a session for `userId` while the account is live and, when given, its password
   * is still `passwordHash` (the one just checked); null otherwise, and nothing is stored;
   * 'deletion-pending' while its deletion is under way.
   *
   * The user keeps at most `maxSessions` live sessions (a refresh token that can still be
   * exchanged): those beyond, the ones refreshed or started least recently, end here, as a
   * logout ends one. Ending sessions stops tokens, so the user's lock is held exclusively
   * (lockUser), which also makes one user's logins count their sessions one at a time.
   * `ended` lists those of them that may still have a live access token: their refresh
   * token was issued within `recentMs`, and an access token with it. The rows of the user's
   * sessions that ended, these and earlier ones, are deleted. Rolled back when the client
   * stopped waiting (whileAwaited): a login told SERVICE_UNAVAILABLE leaves no session.
   */
  start(
    token: NewSession,
    limits: SessionLimits,
    passwordHash?: string | null,
  ): Promise<SessionStart> {
    return this.#prisma.$transaction(
      whileAwaited((tx: Prisma.TransactionClient) =>
        startSessionIn(tx, token, limits, passwordHash),
      ),
    );
  }

  findByHash(tokenHash: string): Promise<RefreshToken | null> {
    return this.#prisma.refreshToken.findUnique({ where: { tokenHash } });
  }

  /**
   * Exchanges a refresh token for its successor. Marking it used is a conditional update,
   * so of two concurrent exchanges exactly one wins; the other counts as reuse. While the
   * account's deletion is under way nothing is exchanged, and the token stays live: the
   * deletion may yet be undone. Rolled back when the client stopped waiting (whileAwaited):
   * a token exchanged behind SERVICE_UNAVAILABLE would be used, and its retry past the
   * grace period would end the session as a stolen token's.
   */
  async rotate(
    tokenHash: string,
    successor: { tokenHash: string; expiresAt: Date },
    budget: RotationBudget,
  ): Promise<RotationOutcome> {
    const presented = await this.findByHash(tokenHash);
    if (!presented) return { status: 'unknown' };
    return this.#prisma.$transaction(
      whileAwaited(async (tx: Prisma.TransactionClient): Promise<RotationOutcome> => {
        const user = await lockUser(tx, presented.userId, 'share');
        if (await deletionPending(tx, presented.userId))
          return { status: 'deletion-pending' } as const;
        const now = new Date();
        const throttled = await overBudget(tx, presented.userId, tokenHash, now, budget);
        if (throttled) return throttled;
        const claimed = await tx.refreshToken.updateMany({
          where: { tokenHash, usedAt: null, revokedAt: null, expiresAt: { gt: now } },
          data: { usedAt: now },
        });
        // Read again under the lock: a revocation or a deletion may have come first.
        const token = await tx.refreshToken.findUnique({ where: { tokenHash } });
        if (!token || !user || user.deletedAt) return { status: 'unknown' } as const;
        if (claimed.count === 1) {
          await tx.refreshToken.create({
            data: { userId: token.userId, familyId: token.familyId, ...successor },
          });
          return {
            status: 'rotated',
            familyId: token.familyId,
            user,
            issuedAt: new Date(),
          } as const;
        }
        if (token.revokedAt) return { status: 'revoked' } as const;
        if (token.usedAt) {
          return {
            status: 'reused',
            familyId: token.familyId,
            userId: token.userId,
            usedAt: token.usedAt,
          } as const;
        }
        return { status: 'expired' } as const;
      }),
    );
  }

  /**
   * An access token for the session that the refresh token `tokenHash` continues, while that
   * token is not revoked and the account is live; null otherwise.
   */
  async resume(tokenHash: string): Promise<({ familyId: string } & Issuable) | null> {
    const found = await this.findByHash(tokenHash);
    if (!found) return null;
    return this.#prisma.$transaction(async (tx) => {
      const user = await lockUser(tx, found.userId, 'share');
      const token = await tx.refreshToken.findUnique({ where: { tokenHash } });
      if (!token || token.revokedAt || !user || user.deletedAt) return null;
      return { familyId: token.familyId, user, issuedAt: new Date() };
    });
  }

  /**
   * Deletes up to `limit` refresh tokens that expired more than `graceMs` ago. An expired
   * token is refused; until it is deleted, a used one coming back still ends its session
   * (as reuse), and afterwards it is refused as unknown. Returns how many.
   */
  pruneExpired(graceMs: number, limit: number): Promise<number> {
    return this.#prisma.$executeRaw`
      DELETE FROM refresh_tokens WHERE id IN (
        SELECT id FROM refresh_tokens
        WHERE expires_at < now() - make_interval(secs => ${graceMs / 1000})
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`;
  }

  /** Ends a session of `userId`: no token of the family can be exchanged any more. */
  async revokeFamily(userId: string, familyId: string): Promise<void> {
    await this.#prisma.$transaction(async (tx) => {
      await lockUser(tx, userId, 'update');
      await tx.refreshToken.updateMany({
        where: { familyId, revokedAt: null },
        data: { revokedAt: new Date() },
      });
    });
  }
}

/**
 * Ends every session of a user but `keepFamilyId`, in a transaction that holds the user's
 * lock exclusively. Returns those of them that may still have a live access token: a token
 * is issued with each refresh token, so only sessions with one created within `recentMs`.
 */
export async function revokeOtherSessions(
  tx: Prisma.TransactionClient,
  userId: string,
  keepFamilyId: string,
  recentMs: number,
): Promise<string[]> {
  const where = { userId, familyId: { not: keepFamilyId } };
  const recent = await tx.refreshToken.findMany({
    where: { ...where, createdAt: { gt: new Date(Date.now() - recentMs) } },
    select: { familyId: true },
    distinct: ['familyId'],
  });
  await tx.refreshToken.updateMany({
    where: { ...where, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  return recent.map((token) => token.familyId);
}
