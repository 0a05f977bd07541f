// Login throttling through two gateway instances: the counts live in the users database,
// so failures through one instance lock out attempts through the other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { authPayloadFields, codeOf, signUp, strongPassword, uniqueEmail } from './operations.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph({ gateways: 2 });
});
afterAll(async () => {
  await supergraph?.stop();
});

/** A login from `client` (the address NGINX would put in X-Forwarded-For) via one gateway. */
function logInFrom(client: string, gateway: number, email: string, password: string) {
  return supergraph.request(
    `mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { ${authPayloadFields} } }`,
    { email, password },
    { gateway, headers: { 'x-forwarded-for': client } },
  );
}

describe('login throttling', () => {
  it('locks an account after 5 failures, across both gateways, even for the right password', async () => {
    const { user } = await signUp(supergraph);
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await logInFrom('198.51.100.1', attempt % 2, user.email, 'a wrong password!');
      expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    }
    const locked = await logInFrom('198.51.100.2', 1, user.email, strongPassword);
    expect(codeOf(locked)).toBe('TOO_MANY_ATTEMPTS');
    const retryAfter = locked.errors?.[0]?.extensions?.retryAfterSeconds as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(locked.data ?? null).toBeNull();

    const row = await supergraph.databases.users.loginThrottle.findUniqueOrThrow({
      where: { key: `account:${user.email}` },
    });
    expect(row.failures).toBe(5);
    expect(row.lockedUntil?.getTime()).toBeGreaterThan(Date.now());
  });

  it('locks a client address after 20 failures across accounts, and no other address', async () => {
    const client = '198.51.100.20';
    for (let attempt = 0; attempt < 20; attempt++) {
      const result = await logInFrom(
        client,
        attempt % 2,
        uniqueEmail('guess'),
        'a wrong password!',
      );
      expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    }
    const { user } = await signUp(supergraph);
    expect(codeOf(await logInFrom(client, 0, user.email, strongPassword))).toBe(
      'TOO_MANY_ATTEMPTS',
    );
    const elsewhere = await logInFrom('198.51.100.21', 1, user.email, strongPassword);
    expect(elsewhere.errors).toBeUndefined();
    expect(elsewhere.data?.logIn).toMatchObject({ user: { id: user.id } });
  });

  it('forgives an account’s failures once its owner logs in', async () => {
    const { user } = await signUp(supergraph);
    for (let attempt = 0; attempt < 4; attempt++) {
      await logInFrom('198.51.100.30', 0, user.email, 'a wrong password!');
    }
    expect(
      (await logInFrom('198.51.100.30', 1, user.email, strongPassword)).errors,
    ).toBeUndefined();
    expect(
      await supergraph.databases.users.loginThrottle.findUnique({
        where: { key: `account:${user.email}` },
      }),
    ).toBeNull();
  });
});
