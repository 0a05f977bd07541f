// A new password's hash waits its turn on a short queue, and under load the wait can outlast
// the gateway's deadline for the users subgraph: the client is told SERVICE_UNAVAILABLE, to
// retry. Whatever the users service would have written after that must not be written, or
// the retry finds the email taken, or the current password changed behind its back.
import { hashPassword, reserveHashingTurn } from '@ticketing/auth';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { codeOf, strongPassword, uniqueEmail } from './operations.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  // Shorter than one scrypt hash (about 0.35 s of CPU): every new password outlasts it.
  supergraph = await startSupergraph({ env: { SUBGRAPH_TIMEOUT_MS: '100' } });
});
afterAll(async () => {
  await supergraph?.stop();
});

/**
 * Resolves once every new-password hash queued before the call is done: the queue runs one
 * at a time, in order. The users service runs in this process, on the same queue.
 */
async function queuedHashesDone(): Promise<void> {
  await reserveHashingTurn().hash(strongPassword);
}

/**
 * Until `deadlineMs` from now, whether `check` ever holds, polled every 50 ms: long enough
 * for a hash that started late (a password change checks the current password first) and
 * its write, on a busy machine.
 */
async function eventually(check: () => Promise<boolean>, deadlineMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

/** An access token for `userId` as the users service signs them, for a session of its own. */
async function accessTokenFor(userId: string): Promise<string> {
  const key = await supergraph.signingKey();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'CUSTOMER', sid: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid as string })
    .setIssuer('urn:ticketing:users')
    .setAudience('urn:ticketing:api')
    .setSubject(userId)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .setJti(crypto.randomUUID())
    .sign(await importJWK(key, 'EdDSA'));
}

describe('a new password the gateway stopped waiting for', () => {
  it('creates no account at sign-up', async () => {
    const email = uniqueEmail('abandoned');
    const result = await supergraph.request(
      'mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
      { input: { email, password: strongPassword, name: 'Abandoned', accountType: 'CUSTOMER' } },
    );
    expect(codeOf(result)).toBe('SERVICE_UNAVAILABLE');
    await queuedHashesDone();
    const created = await eventually(
      async () => (await supergraph.databases.users.user.count({ where: { email } })) > 0,
    );
    expect(created).toBe(false);
  });

  it('leaves the current password in place', async () => {
    const oldHash = await hashPassword(strongPassword);
    const user = await supergraph.databases.users.user.create({
      data: { email: uniqueEmail('kept'), name: 'Kept', role: 'CUSTOMER', passwordHash: oldHash },
    });
    const result = await supergraph.request(
      'mutation ($current: String!, $next: String!) { changePassword(currentPassword: $current, newPassword: $next) }',
      { current: strongPassword, next: 'another long passphrase, not guessed' },
      { token: await accessTokenFor(user.id) },
    );
    expect(codeOf(result)).toBe('SERVICE_UNAVAILABLE');
    await queuedHashesDone();
    const changed = await eventually(async () => {
      const stored = await supergraph.databases.users.user.findUniqueOrThrow({
        where: { id: user.id },
      });
      return stored.passwordHash !== oldHash;
    });
    expect(changed).toBe(false);
  });
});
