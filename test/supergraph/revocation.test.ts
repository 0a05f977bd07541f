// Revocation is immediate: logOut, changePassword, deleteAccount and setUserRole stop the
// affected access tokens at every gateway within a second, through Redis pub/sub; a
// gateway that starts later loads the revocations in force.
import { startGateway } from '@ticketing/gateway/main';
import type { RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../support.ts';
import { type Supergraph, startSupergraph, subgraphsOf } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  logIn,
  meQuery,
  refresh,
  signUp,
  strongPassword,
} from './operations.ts';

const adminEmail = 'revocation-admin@example.com';
const adminPassword = 'the revocation admin password';
let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph({
    gateways: 2,
    env: {
      REDIS_URL: testRedisUrl,
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    },
  });
});
afterAll(async () => {
  await supergraph?.stop();
});

/** Whether `token` still gets `me` through gateway `gateway`. */
async function accepted(token: string, gateway: number): Promise<boolean> {
  const result = await supergraph.request(meQuery, {}, { token, gateway });
  if (result.status === 401) {
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
    return false;
  }
  expect(result.errors).toBeUndefined();
  return true;
}

/**
 * How long, from now, until `token` is refused at both gateways; fails past 1 s. Polls
 * every 20 ms.
 */
async function refusedEverywhereWithin1s(token: string): Promise<number> {
  const started = performance.now();
  for (const gateway of [0, 1]) {
    while (await accepted(token, gateway)) {
      const elapsed = performance.now() - started;
      if (elapsed > 1_000) throw new Error(`still accepted at gateway ${gateway} after 1 s`);
      await new Promise((wake) => setTimeout(wake, 20));
    }
  }
  return performance.now() - started;
}

async function bothAccept(token: string) {
  expect(await accepted(token, 0)).toBe(true);
  expect(await accepted(token, 1)).toBe(true);
}

describe('an access token', () => {
  it('stops at every gateway within 1 s of logOut', async () => {
    const session = await signUp(supergraph);
    await bothAccept(session.accessToken);
    const result = await supergraph.request('mutation ($t: String!) { logOut(refreshToken: $t) }', {
      t: session.refreshToken,
    });
    expect(result.errors).toBeUndefined();
    expect(await refusedEverywhereWithin1s(session.accessToken)).toBeLessThan(1_000);
  });

  it('of the other sessions stops on changePassword; the current session’s goes on', async () => {
    const here = await signUp(supergraph);
    const elsewhere = (await logIn(supergraph, here.user.email)).data?.logIn as AuthPayload;
    await bothAccept(elsewhere.accessToken);
    const result = await supergraph.request(
      'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
      { c: strongPassword, n: 'a brand new passphrase for revocation' },
      { token: here.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(await refusedEverywhereWithin1s(elsewhere.accessToken)).toBeLessThan(1_000);
    await bothAccept(here.accessToken);
  });

  it('stops at every gateway within 1 s of deleteAccount', async () => {
    const session = await signUp(supergraph);
    await bothAccept(session.accessToken);
    const result = await supergraph.request(
      'mutation ($p: String!) { deleteAccount(password: $p) }',
      { p: strongPassword },
      { token: session.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(await refusedEverywhereWithin1s(session.accessToken)).toBeLessThan(1_000);
  });

  it('of a session whose used refresh token came back stops within 1 s, the successor’s too', async () => {
    const owner = await signUp(supergraph);
    // A thief exchanges the stolen refresh token first, and gets an access token of its own.
    const stolen = (await refresh(supergraph, owner.refreshToken)).data
      ?.refreshSession as AuthPayload;
    await bothAccept(stolen.accessToken);
    await bothAccept(owner.accessToken);
    // As if the grace window for concurrent refreshes had passed since that exchange.
    await supergraph.databases.users.refreshToken.updateMany({
      where: { userId: owner.user.id, usedAt: { not: null } },
      data: { usedAt: new Date(Date.now() - 60_000) },
    });

    // The owner's refresh brings the used token back: the session ends, everywhere.
    expect(codeOf(await refresh(supergraph, owner.refreshToken))).toBe('UNAUTHENTICATED');
    expect(await refusedEverywhereWithin1s(stolen.accessToken)).toBeLessThan(1_000);
    expect(await refusedEverywhereWithin1s(owner.accessToken)).toBeLessThan(1_000);
  });

  it('issued before a role change stops within 1 s; a refreshed one carries the new role', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    await bothAccept(organizer.accessToken);
    const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn as AuthPayload;
    const result = await supergraph.request(
      'mutation ($id: ID!) { setUserRole(userId: $id, role: CUSTOMER) { role } }',
      { id: organizer.user.id },
      { token: admin.accessToken },
    );
    expect(result.errors).toBeUndefined();
    expect(await refusedEverywhereWithin1s(organizer.accessToken)).toBeLessThan(1_000);

    // Tokens issued within the second of the change are stopped too (iat counts seconds):
    // refresh after it.
    await new Promise((wake) => setTimeout(wake, 1_100));
    const renewed = (await refresh(supergraph, organizer.refreshToken)).data
      ?.refreshSession as AuthPayload;
    expect(renewed.user.role).toBe('CUSTOMER');
    await bothAccept(renewed.accessToken);
  });

  it('revoked before a gateway started is refused by it too', async () => {
    const session = await signUp(supergraph);
    await supergraph.request('mutation ($t: String!) { logOut(refreshToken: $t) }', {
      t: session.refreshToken,
    });
    await refusedEverywhereWithin1s(session.accessToken);
    let late: RunningService | undefined;
    try {
      late = await startGateway({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        HOST: '127.0.0.1',
        PORT: '0',
        DRAIN_DEADLINE_MS: '0',
        REDIS_URL: testRedisUrl,
        ...subgraphsOf(supergraph),
      });
      const url = late.url;
      const deadline = Date.now() + 5_000;
      let status = 0;
      // Loaded once its Redis connections are up, a moment after it listens.
      while (Date.now() < deadline) {
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${session.accessToken}`,
          },
          body: JSON.stringify({ query: meQuery }),
        });
        status = response.status;
        if (status === 401) break;
        await new Promise((wake) => setTimeout(wake, 20));
      }
      expect(status).toBe(401);
    } finally {
      await late?.stop();
    }
  });
});
