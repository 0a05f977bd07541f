import type { PrismaClient, RefreshToken } from '@ticketing/prisma/users';

export type RotationOutcome =
  | { status: 'rotated'; userId: string; familyId: string }
  | { status: 'unknown' }
  | { status: 'reused'; familyId: string; userId: string; usedAt: Date }
  | { status: 'revoked' }
  | { status: 'expired' };

/** Sessions as refresh-token families. The only code in this service that queries them. */
export class SessionRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async create(token: { userId: string; familyId: string; tokenHash: string; expiresAt: Date }) {
    await this.#prisma.refreshToken.create({ data: token });
  }

  findByHash(tokenHash: string): Promise<RefreshToken | null> {
    return this.#prisma.refreshToken.findUnique({ where: { tokenHash } });
  }

  /**
   * Exchanges a refresh token for its successor. Marking it used is a conditional update,
   * so of two concurrent exchanges exactly one wins; the other counts as reuse.
   */
  async rotate(
    tokenHash: string,
    successor: { tokenHash: string; expiresAt: Date },
  ): Promise<RotationOutcome> {
    const now = new Date();
    return this.#prisma.$transaction(async (tx) => {
      const claimed = await tx.refreshToken.updateMany({
        where: { tokenHash, usedAt: null, revokedAt: null, expiresAt: { gt: now } },
        data: { usedAt: now },
      });
      const token = await tx.refreshToken.findUnique({ where: { tokenHash } });
      if (!token) return { status: 'unknown' } as const;
      if (claimed.count === 1) {
        await tx.refreshToken.create({
          data: { userId: token.userId, familyId: token.familyId, ...successor },
        });
        return { status: 'rotated', userId: token.userId, familyId: token.familyId } as const;
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
    });
  }

  /** Ends a session: no token of the family can be exchanged any more. */
  async revokeFamily(familyId: string): Promise<void> {
    await this.#prisma.refreshToken.updateMany({
      where: { familyId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
  }

  /**
   * Ends every session of a user but `keepFamilyId`. Returns those of them that may still
   * have a live access token: a token is issued with each refresh token, so only sessions
   * with one created within `recentMs`.
   */
  async revokeOtherSessions(
    userId: string,
    keepFamilyId: string,
    recentMs: number,
  ): Promise<string[]> {
    const where = { userId, familyId: { not: keepFamilyId } };
    return this.#prisma.$transaction(async (tx) => {
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
    });
  }
}
