// Accounts through the gateway: the whole lifecycle, input rules, roles and deletion.
import { parsePasswordHash, verifyPassword } from '@ticketing/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  codeOf,
  logIn,
  meQuery,
  refresh,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

const adminEmail = 'first-admin@example.com';
const adminPassword = 'the admin password from config';
let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword },
  });
});
afterAll(async () => {
  await supergraph?.stop();
});

describe('the account lifecycle', () => {
  it('signs up, logs in, refreshes with rotation, logs out, changes password and deletes the account', async () => {
    const email = uniqueEmail('lifecycle');
    const signedUp = await signUp(supergraph, { email: email.toUpperCase(), name: '  Lin  ' });
    expect(signedUp.user).toMatchObject({ email, name: 'Lin', role: 'CUSTOMER' });
    const expiresIn = Date.parse(signedUp.accessTokenExpiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(14 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(15 * 60_000);

    const me = await supergraph.request(meQuery, {}, { token: signedUp.accessToken });
    expect(me.data).toEqual({ me: { id: signedUp.user.id, email, name: 'Lin', role: 'CUSTOMER' } });

    // A second session, from logging in elsewhere.
    const loggedIn = await logIn(supergraph, email);
    const other = loggedIn.data?.logIn;
    expect(other?.user.id).toBe(signedUp.user.id);

    const refreshed = (await refresh(supergraph, signedUp.refreshToken)).data?.refreshSession;
    expect(refreshed?.refreshToken).toBeDefined();
    expect(refreshed?.refreshToken).not.toBe(signedUp.refreshToken);
    expect(refreshed?.accessToken).not.toBe(signedUp.accessToken);

    // Logging out ends that session only.
    const loggedOut = await supergraph.request(
      'mutation ($t: String!) { logOut(refreshToken: $t) }',
      { t: other?.refreshToken },
    );
    expect(loggedOut.data).toEqual({ logOut: true });
    expect(codeOf(await refresh(supergraph, other?.refreshToken as string))).toBe(
      'UNAUTHENTICATED',
    );

    // Changing the password ends every other session, and keeps this one.
    const third = (await logIn(supergraph, email)).data?.logIn;
    const changed = await supergraph.request(
      'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
      { c: strongPassword, n: 'a brand new passphrase' },
      { token: refreshed?.accessToken as string },
    );
    expect(changed.data).toEqual({ changePassword: true });
    expect(codeOf(await refresh(supergraph, third?.refreshToken as string))).toBe(
      'UNAUTHENTICATED',
    );
    const kept = await refresh(supergraph, refreshed?.refreshToken as string);
    expect(kept.errors).toBeUndefined();
    expect(codeOf(await logIn(supergraph, email))).toBe('INVALID_CREDENTIALS');
    expect((await logIn(supergraph, email, 'a brand new passphrase')).errors).toBeUndefined();

    // Deleting the account removes its personal data and every session.
    const token = kept.data?.refreshSession.accessToken as string;
    const deleted = await supergraph.request(
      'mutation ($p: String!) { deleteAccount(password: $p) }',
      { p: 'a brand new passphrase' },
      { token },
    );
    expect(deleted.data).toEqual({ deleteAccount: true });
    expect((await supergraph.request(meQuery, {}, { token })).data).toEqual({ me: null });
    expect(codeOf(await logIn(supergraph, email, 'a brand new passphrase'))).toBe(
      'INVALID_CREDENTIALS',
    );
    expect(
      codeOf(await refresh(supergraph, kept.data?.refreshSession.refreshToken as string)),
    ).toBe('UNAUTHENTICATED');
    const row = await supergraph.databases.users.user.findUniqueOrThrow({
      where: { id: signedUp.user.id },
    });
    expect(row).toMatchObject({ name: 'Deleted user', passwordHash: null });
    expect(row.email).not.toContain('lifecycle');
    expect(row.deletedAt).toBeInstanceOf(Date);
    expect(await supergraph.databases.users.refreshToken.count({ where: { userId: row.id } })).toBe(
      0,
    );
  });

  it('gives two concurrent refreshes the same successor, and the session survives', async () => {
    const session = await signUp(supergraph);
    const [first, second] = await Promise.all([
      refresh(supergraph, session.refreshToken),
      refresh(supergraph, session.refreshToken),
    ]);
    expect(first.errors).toBeUndefined();
    expect(second.errors).toBeUndefined();
    const successor = first.data?.refreshSession.refreshToken as string;
    expect(successor).not.toBe(session.refreshToken);
    expect(second.data?.refreshSession.refreshToken).toBe(successor);
    const next = await refresh(supergraph, successor);
    expect(next.errors).toBeUndefined();
    const family = await supergraph.databases.users.refreshToken.findMany({
      where: { userId: session.user.id },
    });
    expect(family.length).toBe(3);
    expect(family.every((token) => token.revokedAt === null)).toBe(true);
  });

  it('revokes the whole session when a used refresh token comes back after the grace window', async () => {
    const session = await signUp(supergraph);
    const second = (await refresh(supergraph, session.refreshToken)).data?.refreshSession;
    expect(second?.refreshToken).toBeDefined();
    // As if the grace window had passed since the exchange.
    await supergraph.databases.users.refreshToken.updateMany({
      where: { userId: session.user.id, usedAt: { not: null } },
      data: { usedAt: new Date(Date.now() - 60_000) },
    });

    const replay = await refresh(supergraph, session.refreshToken);
    expect(codeOf(replay)).toBe('UNAUTHENTICATED');
    // The legitimate successor dies with it: whoever holds it may be the thief.
    expect(codeOf(await refresh(supergraph, second?.refreshToken as string))).toBe(
      'UNAUTHENTICATED',
    );
    const family = await supergraph.databases.users.refreshToken.findMany({
      where: { userId: session.user.id },
    });
    expect(family.length).toBe(2);
    expect(family.every((token) => token.revokedAt instanceof Date)).toBe(true);
  });

  it('stores passwords as scrypt with N=2^17, r=8, p=1, a 16-byte salt and a 32-byte key', async () => {
    const session = await signUp(supergraph, { password: 'a password to inspect' });
    const row = await supergraph.databases.users.user.findUniqueOrThrow({
      where: { id: session.user.id },
    });
    const hash = parsePasswordHash(row.passwordHash as string);
    expect(hash).toMatchObject({ algorithm: 'scrypt', logN: 17, r: 8, p: 1 });
    expect(hash?.salt.length).toBe(16);
    expect(hash?.key.length).toBe(32);
    expect(row.passwordHash).not.toContain('a password to inspect');
    expect(await verifyPassword('a password to inspect', row.passwordHash as string)).toBe(true);
    expect(await verifyPassword('a password to inspect!', row.passwordHash as string)).toBe(false);
  });

  it('answers an unknown email and a wrong password with the same error', async () => {
    const session = await signUp(supergraph);
    const unknown = await logIn(supergraph, uniqueEmail('nobody'), strongPassword);
    const wrong = await logIn(supergraph, session.user.email, 'not the right password');
    expect(unknown.errors).toEqual(wrong.errors);
    // Not UNAUTHENTICATED, on which clients refresh their access token.
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
  });
});

describe('bad input', () => {
  const signUpMutation =
    'mutation ($input: SignUpInput!) { signUp(input: $input) { user { id } } }';
  const valid = { email: 'valid@example.com', password: strongPassword, name: 'Valid' };

  it.each([
    ['a malformed email', { email: 'not-an-email' }, 'input.email'],
    ['an empty name', { name: '   ' }, 'input.name'],
    ['an oversized name', { name: 'x'.repeat(101) }, 'input.name'],
    ['an oversized email', { email: `${'x'.repeat(250)}@example.com` }, 'input.email'],
    ['a short password', { password: 'short' }, 'input.password'],
    ['an oversized password', { password: 'p'.repeat(1025) }, 'input.password'],
  ])(
    'rejects %s with BAD_USER_INPUT naming the field, and writes nothing',
    async (_, change, field) => {
      const before = await supergraph.databases.users.user.count();
      const result = await supergraph.request(signUpMutation, { input: { ...valid, ...change } });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(JSON.stringify(result.errors)).not.toMatch(/stacktrace|at .*\.ts/);
      expect(await supergraph.databases.users.user.count()).toBe(before);
    },
  );

  it('refuses ADMIN as an account type at sign-up', async () => {
    const result = await supergraph.request(signUpMutation, {
      input: { ...valid, accountType: 'ADMIN' },
    });
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
  });

  it('rejects an email that differs from an existing one only in case with EMAIL_TAKEN', async () => {
    const email = uniqueEmail('taken');
    await signUp(supergraph, { email });
    const before = await supergraph.databases.users.user.count();
    const result = await supergraph.request(signUpMutation, {
      input: { ...valid, email: email.toUpperCase() },
    });
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'EMAIL_TAKEN',
      field: 'input.email',
    });
    expect(await supergraph.databases.users.user.count()).toBe(before);
  });

  it('keeps the profile unchanged when an update is invalid or takes another email', async () => {
    const mine = await signUp(supergraph, { name: 'Original' });
    const theirs = await signUp(supergraph);
    const update =
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { name email } }';
    for (const [input, code] of [
      [{ name: '' }, 'BAD_USER_INPUT'],
      [{}, 'BAD_USER_INPUT'],
      [{ email: theirs.user.email.toUpperCase(), currentPassword: strongPassword }, 'EMAIL_TAKEN'],
      [{ name: 'Changed', email: 'bad email' }, 'BAD_USER_INPUT'],
    ] as const) {
      const result = await supergraph.request(update, { input }, { token: mine.accessToken });
      expect(codeOf(result), JSON.stringify(input)).toBe(code);
    }
    const row = await supergraph.databases.users.user.findUniqueOrThrow({
      where: { id: mine.user.id },
    });
    expect({ name: row.name, email: row.email }).toEqual({
      name: 'Original',
      email: mine.user.email,
    });

    const ok = await supergraph.request(
      update,
      { input: { name: 'Renamed' } },
      { token: mine.accessToken },
    );
    expect(ok.data).toEqual({ updateProfile: { name: 'Renamed', email: mine.user.email } });
  });

  it('changes the email only with the current password', async () => {
    const mine = await signUp(supergraph);
    const update =
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { email } }';
    const newEmail = uniqueEmail('moved');
    const without = await supergraph.request(
      update,
      { input: { email: newEmail } },
      { token: mine.accessToken },
    );
    expect(without.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'currentPassword',
    });
    const wrong = await supergraph.request(
      update,
      { input: { email: newEmail, currentPassword: 'not my password at all' } },
      { token: mine.accessToken },
    );
    expect(codeOf(wrong)).toBe('INVALID_CREDENTIALS');
    const row = await supergraph.databases.users.user.findUniqueOrThrow({
      where: { id: mine.user.id },
    });
    expect(row.email).toBe(mine.user.email);

    const right = await supergraph.request(
      update,
      { input: { email: newEmail, currentPassword: strongPassword } },
      { token: mine.accessToken },
    );
    expect(right.data).toEqual({ updateProfile: { email: newEmail } });
  });

  it.each([
    [
      'changePassword',
      'mutation ($p: String!) { changePassword(currentPassword: $p, newPassword: "another long passphrase here") }',
    ],
    ['deleteAccount', 'mutation ($p: String!) { deleteAccount(password: $p) }'],
  ])('counts wrong passwords to %s like failed logins', async (_, mutation) => {
    const mine = await signUp(supergraph);
    const codes: unknown[] = [];
    for (let guess = 0; guess < 6; guess++) {
      const result = await supergraph.request(
        mutation,
        { p: `wrong guess number ${guess}` },
        { token: mine.accessToken, headers: { 'x-forwarded-for': '198.51.100.99' } },
      );
      codes.push(codeOf(result));
    }
    expect(codes).toEqual([...Array(5).fill('INVALID_CREDENTIALS'), 'TOO_MANY_ATTEMPTS']);
  });
});

describe('roles', () => {
  const setRole =
    'mutation ($id: ID!, $role: Role!) { setUserRole(userId: $id, role: $role) { id role } }';

  it('creates the first admin from configuration at start-up', async () => {
    const admin = await logIn(supergraph, adminEmail, adminPassword);
    expect(admin.data?.logIn.user.role).toBe('ADMIN');
  });

  it('lets only an admin change roles', async () => {
    const customer = await signUp(supergraph);
    const target = await signUp(supergraph);
    const denied = await supergraph.request(
      setRole,
      { id: target.user.id, role: 'ORGANIZER' },
      { token: customer.accessToken },
    );
    expect(codeOf(denied)).toBe('FORBIDDEN');
    const anonymous = await supergraph.request(setRole, { id: target.user.id, role: 'ADMIN' });
    expect(codeOf(anonymous)).toBe('UNAUTHENTICATED');
    expect(
      (await supergraph.databases.users.user.findUniqueOrThrow({ where: { id: target.user.id } }))
        .role,
    ).toBe('CUSTOMER');

    const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn;
    const promoted = await supergraph.request(
      setRole,
      { id: target.user.id, role: 'ORGANIZER' },
      { token: admin?.accessToken as string },
    );
    expect(promoted.data).toEqual({ setUserRole: { id: target.user.id, role: 'ORGANIZER' } });
    // The new role is in the next token the user gets.
    const next = (await refresh(supergraph, target.refreshToken)).data?.refreshSession;
    expect(next?.user.role).toBe('ORGANIZER');

    for (const [id, code] of [
      ['0190a000-0000-7000-8000-00000000dead', 'NOT_FOUND'],
      ['not-a-uuid', 'NOT_FOUND'],
      [admin?.user.id, 'BAD_USER_INPUT'],
      // The same id in capitals is the same admin.
      [admin?.user.id.toUpperCase(), 'BAD_USER_INPUT'],
    ] as const) {
      const result = await supergraph.request(
        setRole,
        { id, role: 'CUSTOMER' },
        { token: admin?.accessToken as string },
      );
      expect(codeOf(result), id).toBe(code);
    }
  });

  it('reads a user’s id written in capitals as the same user', async () => {
    const customer = await signUp(supergraph);
    const own = await supergraph.request(
      'query ($id: ID!) { user(id: $id) { id } }',
      { id: customer.user.id.toUpperCase() },
      { token: customer.accessToken },
    );
    expect(own.errors).toBeUndefined();
    expect(own.data).toEqual({ user: { id: customer.user.id } });
  });

  it('carries an organizer’s id and role into the events subgraph’s context', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const draft = await supergraph.databases.events.event.create({
      data: {
        title: 'Unannounced',
        venue: 'Hall',
        city: 'Oslo',
        cityKey: 'oslo',
        timezone: 'Europe/Oslo',
        startsAt: new Date(Date.now() + 86_400_000),
        status: 'DRAFT',
        organizerId: organizer.user.id,
      },
    });
    const query = '{ events(first: 10) { edges { node { id title organizer { id } } } } }';

    supergraph.eventsViewers.length = 0;
    const asOrganizer = await supergraph.request<{ events: { edges: { node: { id: string } }[] } }>(
      query,
      {},
      { token: organizer.accessToken },
    );
    expect(supergraph.eventsViewers).toContainEqual(
      expect.objectContaining({ userId: organizer.user.id, role: 'ORGANIZER' }),
    );
    expect(asOrganizer.data?.events.edges.map((edge) => edge.node.id)).toContain(draft.id);

    const customer = await signUp(supergraph);
    const asCustomer = await supergraph.request<{ events: { edges: { node: { id: string } }[] } }>(
      query,
      {},
      { token: customer.accessToken },
    );
    expect(asCustomer.data?.events.edges.map((edge) => edge.node.id)).not.toContain(draft.id);
    const anonymous = await supergraph.request<{ events: { edges: unknown[] } }>(query);
    expect(anonymous.data?.events.edges).toEqual([]);
  });

  it('shows an email to its owner and to admins only', async () => {
    const owner = await signUp(supergraph);
    const stranger = await signUp(supergraph);
    const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn;
    const query = 'query ($id: ID!) { user(id: $id) { id email } }';
    expect(
      (await supergraph.request(query, { id: owner.user.id }, { token: owner.accessToken })).data,
    ).toEqual({
      user: { id: owner.user.id, email: owner.user.email },
    });
    expect(
      (
        await supergraph.request(
          query,
          { id: owner.user.id },
          { token: admin?.accessToken as string },
        )
      ).data,
    ).toEqual({ user: { id: owner.user.id, email: owner.user.email } });
    expect(
      codeOf(
        await supergraph.request(query, { id: owner.user.id }, { token: stranger.accessToken }),
      ),
    ).toBe('FORBIDDEN');
    expect(codeOf(await supergraph.request(query, { id: owner.user.id }))).toBe('UNAUTHENTICATED');
  });
});

describe('a deleted account', () => {
  it('still resolves, anonymised, where a ticket refers to it', async () => {
    const buyer = await signUp(supergraph, { name: 'Soon Gone' });
    const tier = await supergraph.databases.tickets.ticketTier.create({
      data: {
        eventId: '0190a000-0000-7000-8001-0000000000ff',
        name: 'GA',
        priceCents: 100,
        currency: 'EUR',
        capacity: 10,
        sold: 1,
      },
    });
    const ticket = await supergraph.databases.tickets.ticket.create({
      data: {
        tierId: tier.id,
        eventId: tier.eventId,
        ownerId: buyer.user.id,
        code: `T-${buyer.user.id}`,
      },
    });
    await supergraph.request(
      'mutation ($p: String!) { deleteAccount(password: $p) }',
      { p: strongPassword },
      {
        token: buyer.accessToken,
      },
    );
    // Asked by an admin: tickets are visible to their owner and admins only.
    const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn;
    const result = await supergraph.request(
      'query ($id: ID!) { ticket(id: $id) { id owner { id name } } }',
      { id: ticket.id },
      { token: admin?.accessToken as string },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      ticket: { id: ticket.id, owner: { id: buyer.user.id, name: 'Deleted user' } },
    });
  });
});
