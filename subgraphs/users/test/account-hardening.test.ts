// Account security on the real database: over-long login passwords are refused before any
// work and alike for every email, and a deleted account's throttle state does not carry
// over to a new account with its email. Refresh tokens' successors come from a key only
// the users service holds.
import { createHmac } from 'node:crypto';
import { createLogger, subgraphSecret } from '@ticketing/platform';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { GraphQLError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningKey,
  type KeyRingFile,
  keyRingFrom,
  type SigningKeys,
} from '../src/auth/signing-keys.ts';
import { hashRefreshToken, successorRefreshToken } from '../src/auth/tokens.ts';
import { throttlePolicy } from '../src/services/LoginThrottle.ts';
import { TicketsAccounts } from '../src/services/TicketsAccounts.ts';
import { createUsersServices } from '../src/subgraph.ts';

let database: TestDatabase<PrismaClient>;
let oldKey: KeyRingFile['keys'][number];
let keys: SigningKeys;
let accounts: ReturnType<typeof createUsersServices>['accounts'];

const accountsWith = (
  ring: SigningKeys,
  // The tickets service's side of a deletion has tests of its own, through the gateway.
  tickets: Pick<TicketsAccounts, 'close' | 'reopen'> = {
    close: async () => {},
    reopen: async () => {},
  },
) =>
  createUsersServices(
    database.prisma,
    ring,
    { issuer: 'test', audience: 'test' },
    createLogger('users', 'silent'),
    undefined,
    { tickets },
  ).accounts;

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
  oldKey = (await generateSigningKey('old')) as KeyRingFile['keys'][number];
  keys = await keyRingFrom({ active: 'old', keys: [oldKey] });
  accounts = accountsWith(keys);
});
afterAll(async () => {
  await database?.close();
});

const password = 'correct horse battery staple 42';

const signUp = (email: string, address: string) =>
  accounts.signUp({ email, password, name: 'Grace', accountType: 'CUSTOMER' }, address);

/** What a failed call answered: its message and extensions. */
async function refusal(call: Promise<unknown>): Promise<{ message: string; extensions: object }> {
  const error = await call.then(
    () => expect.unreachable('it succeeded'),
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(GraphQLError);
  const { message, extensions } = error as GraphQLError;
  return { message, extensions };
}

/**
 * Of calls made at the same moment, exactly one succeeds and every other fails with
 * `extensions`; returns the index of the one.
 */
async function oneSucceeds(calls: Promise<unknown>[], extensions: object): Promise<number> {
  const outcomes = await Promise.allSettled(calls);
  expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
  for (const outcome of outcomes) {
    if (outcome.status === 'rejected') {
      expect((outcome.reason as GraphQLError).extensions).toEqual(extensions);
    }
  }
  return outcomes.findIndex((outcome) => outcome.status === 'fulfilled');
}

/** The session's refresh tokens that could still be exchanged. */
const liveTokens = (familyOf: string) =>
  database.prisma.refreshToken
    .findUniqueOrThrow({ where: { tokenHash: hashRefreshToken(familyOf) } })
    .then(({ familyId }) =>
      database.prisma.refreshToken.count({ where: { familyId, revokedAt: null, usedAt: null } }),
    );

/** The throttle's rows that name `email`. */
const throttleKeys = async (email: string) =>
  (await database.prisma.loginThrottle.findMany({ where: { key: { contains: email } } }))
    .map((row) => row.key)
    .sort();

describe('logIn with an over-long password', () => {
  it('is refused at once, alike for a known and an unknown email, and counts nowhere', async () => {
    await signUp('long@example.com', '192.0.2.10');
    // A megabyte, and a short string that NFKC expands past the bound (U+FDFA: 18 characters).
    for (const longPassword of ['a'.repeat(1 << 20), '\uFDFA'.repeat(100)]) {
      const answers = [];
      for (const email of ['long@example.com', 'nobody@example.com']) {
        const started = performance.now();
        answers.push(await refusal(accounts.logIn(email, longPassword, '192.0.2.11')));
        // A password check takes scrypt's ~0.35 s of CPU; this takes none.
        expect(performance.now() - started).toBeLessThan(150);
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(answers[0]?.extensions).toEqual({ code: 'INVALID_CREDENTIALS' });
    }
    expect(await throttleKeys('long@example.com')).toEqual([]);
    expect(await throttleKeys('nobody@example.com')).toEqual([]);
    // A password at the bound is still checked (and counted), and the right one still works.
    const atBound = await refusal(
      accounts.logIn('long@example.com', 'b'.repeat(1024), '192.0.2.11'),
    );
    expect(atBound.extensions).toEqual({ code: 'INVALID_CREDENTIALS' });
    expect(await throttleKeys('long@example.com')).toEqual([
      'account:long@example.com',
      'pair:long@example.com|192.0.2.11',
    ]);
    await expect(accounts.logIn('long@example.com', password, '192.0.2.11')).resolves.toMatchObject(
      { user: { email: 'long@example.com' } },
    );
  });
});

describe('a password longer than any account’s, where the caller’s own is checked', () => {
  // A megabyte, and a short string that NFKC expands past the bound.
  const longPasswords = ['a'.repeat(1 << 20), '\uFDFA'.repeat(100)];
  const otherPassword = 'another horse battery staple 43';

  it('is the wrong current password at once, for changePassword, deleteAccount and an email change, and counts nowhere', async () => {
    const email = 'own-long@example.com';
    const { user } = await signUp(email, '192.0.2.12');
    const viewer = { userId: user.id, role: user.role, sessionId: 'unused' };
    const address = '192.0.2.13';
    for (const longPassword of longPasswords) {
      const calls = [
        () => accounts.changePassword(viewer, longPassword, otherPassword, address),
        () => accounts.deleteAccount(viewer, longPassword, address),
        () =>
          accounts.updateProfile(
            viewer,
            { email: 'own-long-2@example.com', currentPassword: longPassword },
            address,
          ),
      ];
      for (const [index, call] of calls.entries()) {
        const started = performance.now();
        const answer = await refusal(call());
        // A password check takes scrypt's ~0.35 s of CPU; this takes none.
        expect(performance.now() - started).toBeLessThan(150);
        expect(answer.extensions).toEqual({
          code: 'INVALID_CREDENTIALS',
          field: index === 1 ? 'password' : 'currentPassword',
        });
      }
    }
    expect(await throttleKeys(email)).toEqual([]);
    // Nothing changed: the account, its email and its password are as they were.
    await expect(accounts.logIn(email, password, address)).resolves.toMatchObject({
      user: { id: user.id, email },
    });
  });

  it('as a new password is refused by the policy, naming the field, before the current one is checked', async () => {
    const email = 'new-long@example.com';
    const { user } = await signUp(email, '192.0.2.14');
    const viewer = { userId: user.id, role: user.role, sessionId: 'unused' };
    for (const longPassword of longPasswords) {
      const answer = await refusal(
        accounts.changePassword(viewer, password, longPassword, '192.0.2.15'),
      );
      expect(answer).toEqual({
        message: 'Passwords can have at most 1024 characters.',
        extensions: { code: 'BAD_USER_INPUT', field: 'newPassword' },
      });
      const signedUp = await refusal(
        accounts.signUp(
          {
            email: 'new-long-2@example.com',
            password: longPassword,
            name: 'Grace',
            accountType: 'CUSTOMER',
          },
          '192.0.2.15',
        ),
      );
      expect(signedUp.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.password' });
    }
    expect(await throttleKeys(email)).toEqual([]);
    await expect(accounts.logIn(email, password, '192.0.2.15')).resolves.toMatchObject({
      user: { id: user.id },
    });
  });
});

describe('deleting an account', () => {
  it('forgets its throttle state: a new account with its email starts clean', async () => {
    const email = 'reused@example.com';
    const guesser = '192.0.2.20';
    const owner = '192.0.2.21';
    const first = await signUp(email, owner);
    // The owner logs in from home (a known address); someone locks their address out.
    await accounts.logIn(email, password, owner);
    for (let attempt = 0; attempt < throttlePolicy.pair.threshold; attempt++) {
      await refusal(accounts.logIn(email, 'wrong password, wrong', guesser));
    }
    const locked = await refusal(accounts.logIn(email, password, guesser));
    expect(locked.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });
    expect(await throttleKeys(email)).toEqual([
      `account:${email}`,
      `known:${email}|${owner}`,
      `pair:${email}|${guesser}`,
    ]);

    const viewer = { userId: first.user.id, role: first.user.role, sessionId: 'unused' };
    await expect(accounts.deleteAccount(viewer, password, owner)).resolves.toBe(true);
    expect(await throttleKeys(email)).toEqual([]);
    // The addresses' own counters are not the account's: they stay.
    const addressRow = await database.prisma.loginThrottle.findUnique({
      where: { key: `address:${guesser}` },
    });
    expect(addressRow?.failures).toBe(throttlePolicy.pair.threshold);

    // A new account with the email: the address that was locked out of the old one logs in.
    const second = await signUp(email, guesser);
    expect(second.user.id).not.toBe(first.user.id);
    await expect(accounts.logIn(email, password, guesser)).resolves.toMatchObject({
      user: { id: second.user.id },
    });
  });

  it('reopens in the tickets service an account it closed and did not delete, or says it could not', async () => {
    const reopened: string[] = [];
    // The password changes while the tickets service closes the account: the deletion, checked
    // with the old one, stops after the closing.
    const closingWhilePasswordChanges = (reopen: (id: string) => Promise<void>) =>
      accountsWith(keys, {
        close: async ({ userId }) => {
          await database.prisma.user.update({
            where: { id: userId },
            data: { passwordHash: 'changed meanwhile' },
          });
        },
        reopen: ({ userId }) => reopen(userId),
      });
    const { user } = await signUp('reopened@example.com', '192.0.2.61');
    const viewer = { userId: user.id, role: user.role, sessionId: 'unused' };
    const stopped = await refusal(
      closingWhilePasswordChanges(async (id) => {
        reopened.push(id);
      }).deleteAccount(viewer, password, '192.0.2.61'),
    );
    expect(stopped.extensions).toEqual({ code: 'INVALID_CREDENTIALS', field: 'password' });
    expect(reopened).toEqual([user.id]);

    const { user: other } = await signUp('left-closed@example.com', '192.0.2.62');
    const unreopened = await refusal(
      closingWhilePasswordChanges(async () => {
        throw new GraphQLError('down', { extensions: { code: 'SERVICE_UNAVAILABLE' } });
      }).deleteAccount({ ...viewer, userId: other.id }, password, '192.0.2.62'),
    );
    expect(unreopened.extensions).toEqual({ code: 'ACCOUNT_DELETION_INCOMPLETE' });
    const row = await database.prisma.user.findUniqueOrThrow({ where: { id: other.id } });
    expect(row).toMatchObject({ email: 'left-closed@example.com', deletedAt: null });
  });

  it('does not reopen for tickets an account that a deletion at the same moment deleted', async () => {
    // The tickets service's state as a stand-in keeps it. The first deletion's closing is
    // not answered in time (it closed all the same), and its reopening is held while a
    // second deletion, with the password too, runs to its end.
    const closed = new Set<string>();
    let closings = 0;
    let enteredReopen: () => void = () => {};
    const inReopen = new Promise<void>((resolve) => {
      enteredReopen = resolve;
    });
    let releaseReopen: () => void = () => {};
    const reopenReleased = new Promise<void>((resolve) => {
      releaseReopen = resolve;
    });
    const racing = accountsWith(keys, {
      close: async ({ userId }) => {
        closed.add(userId);
        if (closings++ === 0) {
          throw new GraphQLError('late', { extensions: { code: 'SERVICE_UNAVAILABLE' } });
        }
      },
      reopen: async ({ userId }) => {
        enteredReopen();
        await reopenReleased;
        closed.delete(userId);
      },
    });
    const email = 'reopened-while-deleted@example.com';
    const { user } = await signUp(email, '192.0.2.63');
    const viewer = { userId: user.id, role: user.role, sessionId: 'unused' };
    const first = refusal(racing.deleteAccount(viewer, password, '192.0.2.63'));
    await inReopen;
    const second = await racing
      .deleteAccount(viewer, password, '192.0.2.63')
      .catch((error: GraphQLError) => error.extensions.code);
    releaseReopen();
    expect((await first).extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
    // Deleted here exactly when closed there: the second waited for the reopening.
    const row = await database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect({ deleted: row.deletedAt !== null, closed: closed.has(user.id) }).toEqual({
      deleted: false,
      closed: false,
    });
    expect(second).toBe('SERVICE_UNAVAILABLE');
    expect(await database.prisma.pendingDeletion.count({ where: { userId: user.id } })).toBe(0);
    await expect(accounts.logIn(email, password, '192.0.2.63')).resolves.toMatchObject({
      user: { id: user.id },
    });
  });

  it('deletes nothing while the tickets service cannot close it, and asks it nothing for the only admin', async () => {
    // The real client, to a port where nothing answers.
    const unreachable = createUsersServices(
      database.prisma,
      keys,
      { issuer: 'test', audience: 'test' },
      createLogger('users', 'silent'),
      undefined,
      { tickets: new TicketsAccounts('http://127.0.0.1:9/graphql', 'unused-secret') },
    ).accounts;
    const email = 'kept-while-tickets-is-away@example.com';
    const { user } = await signUp(email, '192.0.2.60');
    const viewer = { userId: user.id, role: user.role, sessionId: 'unused' };

    const refused = await refusal(unreachable.deleteAccount(viewer, password, '192.0.2.60'));
    expect(refused.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
    const row = await database.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row).toMatchObject({ email, name: 'Grace', deletedAt: null });
    await expect(accounts.logIn(email, password, '192.0.2.60')).resolves.toMatchObject({
      user: { id: user.id },
    });

    // The only admin is refused before the tickets service is asked to close anything.
    await database.prisma.user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'CUSTOMER' } });
    await database.prisma.user.update({ where: { id: user.id }, data: { role: 'ADMIN' } });
    const onlyAdmin = { ...viewer, role: 'ADMIN' as const };
    expect(
      (await refusal(unreachable.deleteAccount(onlyAdmin, password, '192.0.2.60'))).extensions,
    ).toEqual({ code: 'FORBIDDEN' });
  });
});

describe('refresh token rotation', () => {
  it('derives the successor from a key only the users service holds', async () => {
    const { refreshToken } = await signUp('rotate@example.com', '192.0.2.30');
    const [first, again] = await Promise.all([
      accounts.refreshSession(refreshToken),
      accounts.refreshSession(refreshToken),
    ]);
    expect(first.refreshToken).not.toBe(refreshToken);
    expect(again.refreshToken).toBe(first.refreshToken);
    // The secret the gateways and the other subgraphs hold does not make it...
    const shared = subgraphSecret('users', {});
    const fromShared = `rt_${createHmac('sha256', shared).update(`refresh-successor:${refreshToken}`).digest('base64url')}`;
    expect(first.refreshToken).not.toBe(fromShared);
    expect(
      await database.prisma.refreshToken.findUnique({
        where: { tokenHash: hashRefreshToken(fromShared) },
      }),
    ).toBeNull();
    // ...nor does another users key; the service's own key does.
    const otherKeys = await keyRingFrom({
      active: 'other',
      keys: [(await generateSigningKey('other')) as KeyRingFile['keys'][number]],
    });
    expect(
      successorRefreshToken(refreshToken, otherKeys.successorKeys[0] as Uint8Array).token,
    ).not.toBe(first.refreshToken);
    expect(successorRefreshToken(refreshToken, keys.successorKeys[0] as Uint8Array).token).toBe(
      first.refreshToken,
    );
    // The session goes on with the successor.
    const next = await accounts.refreshSession(first.refreshToken);
    expect(next.user.email).toBe('rotate@example.com');
    expect(next.refreshToken).not.toBe(first.refreshToken);
  });

  it('repeats the successor across a signing-key rotation within the grace window', async () => {
    const { refreshToken } = await signUp('keyswap@example.com', '192.0.2.31');
    const before = await accounts.refreshSession(refreshToken);
    // A new key becomes active; the old one stays in the ring, as rotation keeps it.
    const newKey = (await generateSigningKey('new')) as KeyRingFile['keys'][number];
    const rotated = accountsWith(await keyRingFrom({ active: 'new', keys: [newKey, oldKey] }));
    const after = await rotated.refreshSession(refreshToken);
    expect(after.refreshToken).toBe(before.refreshToken);
    // Successors are derived with the new key from now on, and the session goes on.
    const next = await rotated.refreshSession(after.refreshToken);
    expect(next.user.email).toBe('keyswap@example.com');
  });
});

describe('refreshing past the account’s budget', () => {
  // Every exchange keeps the token it used (a used token coming back ends the session), so
  // one session refreshed in a loop would keep rows without end.
  const budgeted = () =>
    createUsersServices(
      database.prisma,
      keys,
      { issuer: 'test', audience: 'test' },
      createLogger('users', 'silent'),
      undefined,
      { refreshesPerAccountPerHour: 5 },
    ).accounts;

  it('is refused with when to retry, the token kept live, across every session of the account', async () => {
    const limited = budgeted();
    const first = await signUp('refresh-budget@example.com', '192.0.2.60');
    const second = await limited.logIn('refresh-budget@example.com', password, '192.0.2.61');
    let latest = first.refreshToken;
    for (let exchange = 0; exchange < 3; exchange++) {
      latest = (await limited.refreshSession(latest)).refreshToken;
    }
    const other = await limited.refreshSession(second.refreshToken);
    latest = (await limited.refreshSession(latest)).refreshToken;
    const refused = await refusal(limited.refreshSession(latest));
    expect(refused.extensions).toMatchObject({ code: 'TOO_MANY_ATTEMPTS' });
    const { retryAfterSeconds } = refused.extensions as { retryAfterSeconds: number };
    expect(retryAfterSeconds).toBeGreaterThan(55 * 60);
    expect(retryAfterSeconds).toBeLessThanOrEqual(60 * 60);
    // Nothing was used up: the refused token is the session's one live token still.
    expect(await liveTokens(latest)).toBe(1);
    const refusedRow = await database.prisma.refreshToken.findUniqueOrThrow({
      where: { tokenHash: hashRefreshToken(latest) },
    });
    expect(refusedRow.usedAt).toBeNull();
    expect((await refusal(limited.refreshSession(other.refreshToken))).extensions).toMatchObject({
      code: 'TOO_MANY_ATTEMPTS',
    });
    // Another account has a budget of its own.
    const stranger = await signUp('refresh-budget-other@example.com', '192.0.2.62');
    await expect(limited.refreshSession(stranger.refreshToken)).resolves.toBeDefined();
  });

  it('counts exchanges made at the same moment one after the other', async () => {
    const limited = budgeted();
    const owner = await signUp('refresh-budget-parallel@example.com', '192.0.2.63');
    const sessions = [owner.refreshToken];
    for (let login = 0; login < 9; login++) {
      const session = await limited.logIn(
        'refresh-budget-parallel@example.com',
        password,
        '192.0.2.63',
      );
      sessions.push(session.refreshToken);
    }
    const outcomes = await Promise.allSettled(
      sessions.map((token) => limited.refreshSession(token)),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(5);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect((outcome.reason as GraphQLError).extensions).toMatchObject({
          code: 'TOO_MANY_ATTEMPTS',
        });
      }
    }
  });

  it('still ends the session when a used token comes back, whatever the budget', async () => {
    const limited = budgeted();
    const owner = await signUp('refresh-budget-reuse@example.com', '192.0.2.64');
    let latest = owner.refreshToken;
    for (let exchange = 0; exchange < 5; exchange++) {
      latest = (await limited.refreshSession(latest)).refreshToken;
    }
    // Over budget now; the token exchanged first, long past the grace window, comes back.
    await database.prisma.refreshToken.updateMany({
      where: { tokenHash: hashRefreshToken(owner.refreshToken) },
      data: { usedAt: new Date(Date.now() - 10 * 60 * 1_000) },
    });
    const reused = await refusal(limited.refreshSession(owner.refreshToken));
    expect(reused.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(await liveTokens(latest)).toBe(0);
  });
});

describe('a session racing what ends it', () => {
  const viewerOf = (session: {
    user: { id: string; role: 'CUSTOMER' | 'ORGANIZER' | 'ADMIN' };
  }) => ({
    userId: session.user.id,
    role: session.user.role,
    sessionId: crypto.randomUUID(),
  });

  /**
   * Exchanges `token` again and again, each successor for the next, until `until` (the ending,
   * begun once `begun` resolves) settles; returns the last successor it got. The race is
   * checked to have happened: some exchange succeeded while the ending was under way, and the
   * exchanges stopped only for the ending (refused as it ends the session, or it answered).
   */
  async function refreshWhile(
    token: string,
    until: Promise<unknown>,
    begun: Promise<unknown> = Promise.resolve(),
  ): Promise<string> {
    let [started, settled] = [false, false];
    void begun.then(() => (started = true));
    until.then(
      () => (settled = true),
      () => (settled = true),
    );
    let latest = token;
    let overlapped = false;
    while (!settled) {
      try {
        latest = (await exchanging().refreshSession(latest)).refreshToken;
      } catch (error) {
        expect(['UNAUTHENTICATED', 'ACCOUNT_DELETION_PENDING']).toContain(
          (error as GraphQLError).extensions?.code,
        );
        break;
      } finally {
        // The loop never pauses: an exchange that ended after the ending began was in flight
        // beside it.
        overlapped ||= started;
      }
    }
    expect(overlapped, 'an exchange in flight while the ending was under way').toBe(true);
    return latest;
  }

  /**
   * The exchanges' own service, without the account's refresh budget (tested on its own): a
   * budget spent would stop them before the ending, and the race would not happen.
   */
  let unbudgeted: typeof accounts | undefined;
  const exchanging = () =>
    (unbudgeted ??= createUsersServices(
      database.prisma,
      keys,
      { issuer: 'test', audience: 'test' },
      createLogger('users', 'silent'),
      undefined,
      { refreshesPerAccountPerHour: Number.MAX_SAFE_INTEGER },
    ).accounts);

  it('is ended by logOut even while a stolen copy of its refresh token keeps rotating', async () => {
    for (let round = 0; round < 5; round++) {
      const { refreshToken } = await signUp(`logout-race-${round}@example.com`, '192.0.2.40');
      const sent = new Promise((resolve) => setTimeout(resolve, 20));
      const loggedOut = sent.then(() => accounts.logOut(refreshToken));
      const stolen = await refreshWhile(refreshToken, loggedOut, sent);
      await expect(loggedOut).resolves.toBe(true);
      expect(await liveTokens(refreshToken)).toBe(0);
      const after = await refusal(accounts.refreshSession(stolen));
      expect(after.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('is ended by a password change elsewhere even while its refresh token keeps rotating', async () => {
    const email = 'change-race@example.com';
    const owner = await signUp(email, '192.0.2.41');
    for (let round = 0; round < 3; round++) {
      const current = round % 2 === 0 ? password : `${password} again`;
      const next = round % 2 === 0 ? `${password} again` : password;
      const stolen = await accounts.logIn(email, current, '192.0.2.42');
      const changed = accounts.changePassword(viewerOf(owner), current, next, '192.0.2.41');
      const latest = await refreshWhile(stolen.refreshToken, changed);
      await expect(changed).resolves.toBe(true);
      expect(await liveTokens(stolen.refreshToken)).toBe(0);
      const after = await refusal(accounts.refreshSession(latest));
      expect(after.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('is ended by deleting the account even while its refresh token keeps rotating', async () => {
    const owner = await signUp('delete-race@example.com', '192.0.2.46');
    const stolen = await accounts.logIn('delete-race@example.com', password, '192.0.2.47');
    const deleted = accounts.deleteAccount(viewerOf(owner), password, '192.0.2.46');
    const latest = await refreshWhile(stolen.refreshToken, deleted);
    await expect(deleted).resolves.toBe(true);
    expect(await database.prisma.refreshToken.count({ where: { userId: owner.user.id } })).toBe(0);
    const after = await refusal(accounts.refreshSession(latest));
    expect(after.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('changes the password once when two changes give the same current password', async () => {
    const email = 'twice@example.com';
    const owner = await signUp(email, '192.0.2.43');
    const candidates = ['first new horse battery 44', 'second new horse battery 45'];
    const winner = await oneSucceeds(
      candidates.map((newPassword) =>
        accounts.changePassword(viewerOf(owner), password, newPassword, '192.0.2.43'),
      ),
      { code: 'INVALID_CREDENTIALS', field: 'currentPassword' },
    );
    // The password is the one whose change answered true.
    const won = candidates[winner];
    await expect(accounts.logIn(email, won as string, '192.0.2.43')).resolves.toMatchObject({
      user: { id: owner.user.id },
    });
  });

  it('started by a login whose password check outlasts the deletion leaves no session behind', async () => {
    // A round raced when the login was sent while the deletion was under way and answered
    // after it was done; one that missed (a deletion done before the login, on a slow
    // machine) tested nothing, and another is run.
    let raced = false;
    for (let round = 0; round < 5 && !raced; round++) {
      const email = `login-delete-${round}@example.com`;
      const owner = await signUp(email, '192.0.2.44');
      let deletionDone = false;
      const deleted = accounts
        .deleteAccount(viewerOf(owner), password, '192.0.2.44')
        .finally(() => (deletionDone = true));
      // The login reads the account while the deletion checks its password, and checks its own
      // after the deletion is done.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const sentDuringDeletion = !deletionDone;
      const loggedIn = await accounts.logIn(email, password, '192.0.2.45').then(
        (session) => session,
        (error: GraphQLError) => error,
      );
      raced = sentDuringDeletion && deletionDone;
      await expect(deleted).resolves.toBe(true);
      expect(await database.prisma.refreshToken.count({ where: { userId: owner.user.id } })).toBe(
        0,
      );
      if (loggedIn instanceof GraphQLError) {
        expect(loggedIn.extensions).toEqual({ code: 'INVALID_CREDENTIALS' });
      } else {
        await refusal(accounts.refreshSession(loggedIn.refreshToken));
      }
      // Nor does the login leave its address known to a later account with the email.
      expect((await throttleKeys(email)).filter((key) => key.startsWith('known:'))).toEqual([]);
    }
    expect(raced, 'a login sent during the deletion and answered after it').toBe(true);
  });
});

describe('the admins', () => {
  /** A new account made admin, as the first admin is made: in the database. */
  async function admin(email: string) {
    const { user } = await signUp(email, '192.0.2.50');
    await database.prisma.user.update({ where: { id: user.id }, data: { role: 'ADMIN' } });
    return { userId: user.id, role: 'ADMIN' as const, sessionId: crypto.randomUUID() };
  }
  const liveAdmins = () =>
    database.prisma.user.count({ where: { role: 'ADMIN', deletedAt: null } });

  it('demoting each other at the same moment leave one admin, and the other demoted', async () => {
    await database.prisma.user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'CUSTOMER' } });
    const [ada, grace] = await Promise.all([
      admin('ada-admin@example.com'),
      admin('grace-admin@example.com'),
    ]);
    await oneSucceeds(
      [
        accounts.setUserRole(ada, grace.userId, 'CUSTOMER'),
        accounts.setUserRole(grace, ada.userId, 'CUSTOMER'),
      ],
      { code: 'FORBIDDEN' },
    );
    expect(await liveAdmins()).toBe(1);
  });

  it('changes no role for a token issued before its account was made admin, and says so', async () => {
    const { user } = await signUp('promoted-admin@example.com', '192.0.2.52');
    const target = (await signUp('promoted-target@example.com', '192.0.2.52')).user;
    // Made admin after its token was issued: the token still says CUSTOMER (for up to the
    // access token's life, until a refresh), and every field that reads the token's role
    // refuses it. The change either happens and is answered, or neither.
    await database.prisma.user.update({ where: { id: user.id }, data: { role: 'ADMIN' } });
    const oldToken = { userId: user.id, role: 'CUSTOMER' as const, sessionId: crypto.randomUUID() };
    expect(await refusal(accounts.setUserRole(oldToken, target.id, 'ORGANIZER'))).toEqual({
      message: 'Only admins can change roles.',
      extensions: { code: 'FORBIDDEN' },
    });
    const unchanged = await database.prisma.user.findUniqueOrThrow({ where: { id: target.id } });
    expect(unchanged.role).toBe('CUSTOMER');
  });

  it('cannot all be gone by deleting their own accounts: the last one is refused', async () => {
    await database.prisma.user.updateMany({ where: { role: 'ADMIN' }, data: { role: 'CUSTOMER' } });
    const admins = await Promise.all([
      admin('one-admin@example.com'),
      admin('two-admin@example.com'),
    ]);
    await oneSucceeds(
      admins.map((viewer) => accounts.deleteAccount(viewer, password, '192.0.2.51')),
      { code: 'FORBIDDEN' },
    );
    expect(await liveAdmins()).toBe(1);
  });
});

describe('one email, claimed at the same moment', () => {
  it('by sign-ups that differ only in case or in a Unicode look-alike gives one account', async () => {
    // U+212A KELVIN SIGN lower-cases to a plain k.
    const spellings = [
      'kim@example.com',
      'KIM@Example.com',
      '\u212Aim@example.com',
      ' kim@example.com ',
    ];
    await oneSucceeds(
      spellings.map((email, index) => signUp(email, `192.0.2.${60 + index}`)),
      { code: 'EMAIL_TAKEN', field: 'input.email' },
    );
    expect(await database.prisma.user.count({ where: { email: 'kim@example.com' } })).toBe(1);
  });

  it('by a sign-up and an email change gives it to one of them', async () => {
    const mover = await signUp('mover@example.com', '192.0.2.70');
    const viewer = { userId: mover.user.id, role: mover.user.role, sessionId: crypto.randomUUID() };
    await oneSucceeds(
      [
        accounts.updateProfile(
          viewer,
          { email: 'wanted@example.com', currentPassword: password },
          '192.0.2.70',
        ),
        signUp('wanted@example.com', '192.0.2.71'),
      ],
      { code: 'EMAIL_TAKEN', field: 'input.email' },
    );
    expect(await database.prisma.user.count({ where: { email: 'wanted@example.com' } })).toBe(1);
  });
});

describe('an email at sign-up', () => {
  it.each([
    ['a NUL', 'nul\u0000@example.com'],
    ['a right-to-left override', 'moc.elpmaxe\u202E@example.com'],
    ['a zero-width space', 'zero\u200Bwidth@example.com'],
    ['a Unicode domain (its punycode is accepted)', 'idn@bücher.example'],
    ['a Unicode local part', 'é@example.com'],
    [
      'more than 254 characters',
      `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
    ],
  ])('with %s is refused, naming the field', async (_, email) => {
    const answer = await refusal(signUp(email, '192.0.2.80'));
    expect(answer.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.email' });
  });

  it('is stored trimmed and lower-cased, its punycode and + tag kept', async () => {
    const { user } = await signUp('  Tagged+Events@XN--BCHER-KVA.example \t', '192.0.2.81');
    expect(user.email).toBe('tagged+events@xn--bcher-kva.example');
  });
});

describe('the first admin, from configuration', () => {
  it('is created once when two instances start at the same moment, and neither fails', async () => {
    const fresh = await createTestDatabase(usersDatabase);
    try {
      const instances = [0, 1].map(
        () =>
          createUsersServices(
            fresh.prisma,
            keys,
            { issuer: 'test', audience: 'test' },
            createLogger('users', 'silent'),
          ).accounts,
      );
      const settings = { email: 'root@example.com', password, name: 'Root' };
      await Promise.all(instances.map((instance) => instance.bootstrapAdmin(settings)));
      expect(await fresh.prisma.user.findMany({ select: { email: true, role: true } })).toEqual([
        { email: 'root@example.com', role: 'ADMIN' },
      ]);
    } finally {
      await fresh.close();
    }
  });
});
