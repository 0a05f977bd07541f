// Login throttling through two gateway instances: the counts live in the users database,
// so failures through one instance count at the other. The gateway is reached from
// loopback, a trusted proxy, so it takes each request's address from X-Forwarded-For, as
// it does behind NGINX.
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
  it('locks one address out of an account after 5 failures, across both gateways, not the owner elsewhere', async () => {
    const { user } = await signUp(supergraph);
    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await logInFrom('198.51.100.1', attempt % 2, user.email, 'a wrong password!');
      expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    }
    const locked = await logInFrom('198.51.100.1', 1, user.email, strongPassword);
    expect(codeOf(locked)).toBe('TOO_MANY_ATTEMPTS');
    const retryAfter = locked.errors?.[0]?.extensions?.retryAfterSeconds as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(locked.data ?? null).toBeNull();

    const row = await supergraph.databases.users.loginThrottle.findUniqueOrThrow({
      where: { key: `pair:${user.email}|198.51.100.1` },
    });
    expect(row.failures).toBe(5);
    expect(row.lockedUntil?.getTime()).toBeGreaterThan(Date.now());

    // The owner, from another address, is not locked out.
    const owner = await logInFrom('198.51.100.2', 0, user.email, strongPassword);
    expect(owner.errors).toBeUndefined();
    expect(owner.data?.logIn).toMatchObject({ user: { id: user.id } });
  });

  it('counts parallel guesses one by one: 20 at once, 5 are checked', async () => {
    const { user } = await signUp(supergraph);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, attempt) =>
        logInFrom('198.51.100.10', attempt % 2, user.email, 'a wrong password!'),
      ),
    );
    const codes = results.map(codeOf);
    expect(codes.filter((code) => code === 'INVALID_CREDENTIALS')).toHaveLength(5);
    expect(codes.filter((code) => code === 'TOO_MANY_ATTEMPTS')).toHaveLength(15);
  });

  it('slows guessing spread over many addresses, not the owner at an address it used', async () => {
    const { user } = await signUp(supergraph);
    const home = '198.51.100.40';
    expect((await logInFrom(home, 0, user.email, strongPassword)).errors).toBeUndefined();
    // One guess from each of many addresses: from the 10th on, the account takes one
    // attempt per 1 s, 2 s, 4 s, … so a refusal comes within a few more guesses.
    const codes: string[] = [];
    for (let guess = 0; guess < 16 && !codes.includes('TOO_MANY_ATTEMPTS'); guess++) {
      const guessed = await logInFrom(`203.0.113.${guess + 1}`, guess % 2, user.email, 'wrong!!');
      codes.push(String(codeOf(guessed)));
    }
    expect(codes.slice(0, 9)).toEqual(Array(9).fill('INVALID_CREDENTIALS'));
    expect(codes).toContain('TOO_MANY_ATTEMPTS');
    const slowed = await logInFrom('203.0.113.200', 1, user.email, strongPassword);
    expect(codeOf(slowed)).toBe('TOO_MANY_ATTEMPTS');
    expect(slowed.errors?.[0]?.extensions?.retryAfterSeconds).toBeLessThanOrEqual(30);

    const owner = await logInFrom(home, 1, user.email, strongPassword);
    expect(owner.errors).toBeUndefined();
    expect(owner.data?.logIn).toMatchObject({ user: { id: user.id } });
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

  it('forgives an address’s failures at an account once the owner logs in from it', async () => {
    const { user } = await signUp(supergraph);
    for (let attempt = 0; attempt < 4; attempt++) {
      await logInFrom('198.51.100.30', 0, user.email, 'a wrong password!');
    }
    expect(
      (await logInFrom('198.51.100.30', 1, user.email, strongPassword)).errors,
    ).toBeUndefined();
    expect(
      await supergraph.databases.users.loginThrottle.findUnique({
        where: { key: `pair:${user.email}|198.51.100.30` },
      }),
    ).toBeNull();
  });

  // An IPv6 client is given a /64 at least, 2^64 addresses it can send from: each was an
  // address of its own to the throttle, with a lock of its own, so that a client guessing
  // from the next one was never slowed. And one IPv4 client was two addresses when a proxy
  // wrote it in IPv6's form (`::ffff:198.51.100.40`) one time and as itself the next.
  it('takes an IPv6 client’s /64 as one address, and an IPv4 address in IPv6’s form as itself', async () => {
    const { user } = await signUp(supergraph);
    const from = [
      '2001:db8:7:1::1',
      '2001:db8:7:1:ffff::2',
      '2001:db8:7:1:1:2:3:4',
      '2001:0db8:0007:0001::5',
      '2001:db8:7:1::6',
    ];
    for (const [attempt, client] of from.entries()) {
      const result = await logInFrom(client, attempt % 2, user.email, 'a wrong password!');
      expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    }
    const locked = await logInFrom('2001:db8:7:1:abcd::7', 0, user.email, strongPassword);
    expect(codeOf(locked)).toBe('TOO_MANY_ATTEMPTS');
    // The owner, from another network, is not locked out.
    const owner = await logInFrom('2001:db8:7:2::1', 1, user.email, strongPassword);
    expect(owner.errors).toBeUndefined();

    const other = await signUp(supergraph);
    for (let attempt = 0; attempt < 5; attempt++) {
      const client = attempt % 2 ? '198.51.100.40' : '::ffff:198.51.100.40';
      const result = await logInFrom(client, attempt % 2, other.user.email, 'a wrong password!');
      expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    }
    const mapped = await logInFrom('::ffff:198.51.100.40', 0, other.user.email, strongPassword);
    expect(codeOf(mapped)).toBe('TOO_MANY_ATTEMPTS');
  });
});
