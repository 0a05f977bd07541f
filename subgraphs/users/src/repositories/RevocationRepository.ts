import type { Revocation, RevocationStore } from '@ticketing/platform';
import type { PrismaClient } from '@ticketing/prisma/users';

/**
 * The revocations of the last 15½ minutes, as published: the record a Redis that lost its
 * state is given them again from (RevocationPublisher.watch).
 */
export class RevocationRepository implements RevocationStore {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async record(revocations: readonly Revocation[], expiresAt: number): Promise<void> {
    await this.#prisma.revocation.createMany({
      data: revocations.map((revocation) => ({
        kind: revocation.kind,
        subjectId: revocation.id,
        before: revocation.kind === 'user' ? revocation.before : null,
        expiresAt: new Date(expiresAt),
      })),
    });
  }

  async inForce(now: number): Promise<{ revocation: Revocation; expiresAt: number }[]> {
    const rows = await this.#prisma.revocation.findMany({
      where: { expiresAt: { gt: new Date(now) } },
      orderBy: { id: 'asc' },
    });
    return rows.flatMap(({ kind, subjectId: id, before, expiresAt }) => {
      const revocation: Revocation | undefined =
        kind === 'session'
          ? { kind, id }
          : kind === 'user' && before !== null
            ? { kind, id, before }
            : undefined;
      return revocation ? [{ revocation, expiresAt: expiresAt.getTime() }] : [];
    });
  }

  /** Deletes up to `limit` revocations that stop nothing any more; resolves to how many. */
  pruneExpired(limit: number): Promise<number> {
    return this.#prisma.$executeRaw`
      DELETE FROM revocations WHERE id IN (
        SELECT id FROM revocations WHERE expires_at < now()
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`;
  }
}
