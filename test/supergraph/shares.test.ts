// What one account can make the system keep: each collection an organizer or a user grows has
// a bound, held under concurrency as one at a time. The bounds are set low here, so that a
// test reaches them in a few requests; their defaults are in the README.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../support.ts';
import { addDoorStaff } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  draftEvent,
  logIn,
  meQuery,
  refresh,
  signUp,
} from './operations.ts';

const maxTiersPerEvent = 5;
const maxSessionsPerUser = 3;
const maxDoorStaffPerEvent = 3;
// The shared organizer below makes three drafts; the test of this bound has its own.
const maxUpcomingEvents = 4;

let supergraph: Supergraph;
let organizer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      // Revocations reach the gateway through Redis.
      REDIS_URL: testRedisUrl,
      MAX_TIERS_PER_EVENT: String(maxTiersPerEvent),
      MAX_SESSIONS_PER_USER: String(maxSessionsPerUser),
      MAX_DOOR_STAFF_PER_EVENT: String(maxDoorStaffPerEvent),
      MAX_UPCOMING_EVENTS_PER_ORGANIZER: String(maxUpcomingEvents),
    },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterAll(() => supergraph?.stop());

const createTierMutation =
  'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }';

function createTier(eventId: string, name: string) {
  return supergraph.request(
    createTierMutation,
    { eventId, input: { name, priceCents: 1000, currency: 'EUR', capacity: 10 } },
    { token: organizer.accessToken },
  );
}

describe('an organizer’s events', () => {
  const createEventMutation =
    'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }';
  const day = 86_400_000;

  function createEvent(token: string, startsAt = new Date(Date.now() + 20 * day)) {
    return supergraph.request<{ createEvent: { id: string } }>(
      createEventMutation,
      {
        input: {
          title: 'Many',
          venue: 'Hall',
          city: 'Ticketton',
          timezone: 'Europe/Berlin',
          startsAt: startsAt.toISOString(),
        },
      },
      { token },
    );
  }

  it('that are drafts or not over are at most MAX_UPCOMING_EVENTS_PER_ORGANIZER, however many are created at once', async () => {
    const { accessToken, user } = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const extra = 10;
    const results = await Promise.all(
      Array.from({ length: maxUpcomingEvents + extra }, () => createEvent(accessToken)),
    );
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(maxUpcomingEvents);
    expect(
      results.flatMap((result) => result.errors ?? []).map((error) => error.extensions),
    ).toEqual(
      Array.from({ length: extra }, () => ({
        code: 'TOO_MANY_EVENTS',
        maxUpcomingEventsPerOrganizer: maxUpcomingEvents,
      })),
    );
    const events = supergraph.databases.events.event;
    expect(await events.count({ where: { organizerId: user.id } })).toBe(maxUpcomingEvents);

    // A draft in the past counts too: it is kept until deleted. One deleted makes room, and
    // so does an event that is over.
    // Two of those created: which requests the lock let through first is anyone's guess.
    const [first, second] = results.flatMap((result) => result.data?.createEvent.id ?? []);
    await events.update({
      where: { id: first as string },
      data: { startsAt: new Date(Date.now() - 2 * day) },
    });
    expect(codeOf(await createEvent(accessToken))).toBe('TOO_MANY_EVENTS');
    const deleted = await supergraph.request(
      'mutation ($id: ID!) { deleteEvent(id: $id) }',
      { id: second },
      { token: accessToken },
    );
    expect(deleted.errors).toBeUndefined();
    expect((await createEvent(accessToken)).errors).toBeUndefined();
    await events.update({
      where: { id: first as string },
      data: { status: 'PUBLISHED', startsAt: new Date(Date.now() - 2 * day) },
    });
    expect((await createEvent(accessToken)).errors).toBeUndefined();
    expect(codeOf(await createEvent(accessToken))).toBe('TOO_MANY_EVENTS');
  });
});

describe('an event’s tiers', () => {
  it('are at most MAX_TIERS_PER_EVENT, however many are created at once', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    // Enough at once that, counted without a lock, several see room for one more.
    const extra = 15;
    const results = await Promise.all(
      Array.from({ length: maxTiersPerEvent + extra }, (_, i) => createTier(eventId, `Tier ${i}`)),
    );
    expect(results.filter((result) => result.errors === undefined)).toHaveLength(maxTiersPerEvent);
    const refusals = results.flatMap((result) => result.errors ?? []);
    expect(refusals.map((error) => error.extensions)).toEqual(
      Array.from({ length: extra }, () => ({ code: 'TOO_MANY_TIERS', maxTiersPerEvent })),
    );
    expect(await supergraph.databases.tickets.ticketTier.count({ where: { eventId } })).toBe(
      maxTiersPerEvent,
    );
    // Another event's tiers are counted on their own.
    const other = await draftEvent(supergraph, organizer.accessToken);
    expect((await createTier(other, 'GA')).errors).toBeUndefined();
  });
});

describe('an event’s door staff', () => {
  it('are at most MAX_DOOR_STAFF_PER_EVENT, however many are named at once', async () => {
    const eventId = await draftEvent(supergraph, organizer.accessToken);
    // One at a time: new passwords are hashed one at a time, and the overflow refused.
    const staff: AuthPayload[] = [];
    for (let i = 0; i < 6; i++) staff.push(await signUp(supergraph));
    const named = await Promise.all(
      staff.map(({ user }) => addDoorStaff(supergraph, organizer.accessToken, eventId, user.email)),
    );
    expect(named.filter((result) => result.errors === undefined)).toHaveLength(
      maxDoorStaffPerEvent,
    );
    expect(named.flatMap((result) => result.errors ?? []).map((error) => error.extensions)).toEqual(
      Array.from({ length: 6 - maxDoorStaffPerEvent }, () => ({
        code: 'TOO_MANY_DOOR_STAFF',
        maxDoorStaffPerEvent,
      })),
    );
    const stored = await supergraph.databases.tickets.doorStaff.findMany({ where: { eventId } });
    expect(stored).toHaveLength(maxDoorStaffPerEvent);

    // Naming one of them again changes nothing, and is no refusal; one removed makes room.
    const member = staff.find(({ user }) => user.id === stored[0]?.userId) as AuthPayload;
    const outsider = staff.find(
      ({ user }) => !stored.some((row) => row.userId === user.id),
    ) as AuthPayload;
    expect(
      (await addDoorStaff(supergraph, organizer.accessToken, eventId, member.user.email)).errors,
    ).toBeUndefined();
    const removed = await supergraph.request(
      'mutation ($eventId: ID!, $userId: ID!) { removeDoorStaff(eventId: $eventId, userId: $userId) }',
      { eventId, userId: member.user.id },
      { token: organizer.accessToken },
    );
    expect(removed.errors).toBeUndefined();
    expect(
      (await addDoorStaff(supergraph, organizer.accessToken, eventId, outsider.user.email)).errors,
    ).toBeUndefined();
    expect(await supergraph.databases.tickets.doorStaff.count({ where: { eventId } })).toBe(
      maxDoorStaffPerEvent,
    );
  });
});

describe('an account’s sessions', () => {
  /** The sessions of `userId` whose refresh token can still be exchanged. */
  async function liveSessions(userId: string): Promise<number> {
    const heads = await supergraph.databases.users.refreshToken.findMany({
      where: { userId, usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } },
      select: { familyId: true },
    });
    return new Set(heads.map((head) => head.familyId)).size;
  }

  /** Whether the gateway still takes `token`, within a second of a revocation. */
  async function acceptedAfterASecond(token: string): Promise<boolean> {
    const deadline = Date.now() + 1_000;
    for (;;) {
      const result = await supergraph.request(meQuery, {}, { token });
      if (result.status === 401) return false;
      if (Date.now() > deadline) return true;
      await new Promise((wake) => setTimeout(wake, 20));
    }
  }

  async function logInAs(email: string): Promise<AuthPayload> {
    const result = await logIn(supergraph, email);
    if (!result.data) throw new Error(`logIn failed: ${JSON.stringify(result.errors)}`);
    return result.data.logIn;
  }

  it('are at most MAX_SESSIONS_PER_USER: a new login ends the one used least recently', async () => {
    const first = await signUp(supergraph);
    const { email, id } = first.user;
    const second = await logInAs(email);
    const third = await logInAs(email);
    // Used now: the first is no longer the least recently used, the second is.
    const firstRefreshed = await refresh(supergraph, first.refreshToken);
    expect(firstRefreshed.errors).toBeUndefined();
    const fourth = await logInAs(email);

    expect(await liveSessions(id)).toBe(maxSessionsPerUser);
    expect(codeOf(await refresh(supergraph, second.refreshToken))).toBe('UNAUTHENTICATED');
    expect(await acceptedAfterASecond(second.accessToken)).toBe(false);
    for (const session of [firstRefreshed.data?.refreshSession, third, fourth]) {
      const refreshed = await refresh(supergraph, session?.refreshToken as string);
      expect(refreshed.errors).toBeUndefined();
    }
  });

  it('leave no rows behind once they ended: logging in again and again keeps the table bounded', async () => {
    const { user, refreshToken } = await signUp(supergraph);
    const loggedOut = await supergraph.request(
      'mutation ($t: String!) { logOut(refreshToken: $t) }',
      { t: refreshToken },
    );
    expect(loggedOut.errors).toBeUndefined();
    for (let i = 0; i < maxSessionsPerUser + 3; i++) await logInAs(user.email);
    const rows = await supergraph.databases.users.refreshToken.count({
      where: { userId: user.id },
    });
    expect(rows).toBe(maxSessionsPerUser);
    expect(await liveSessions(user.id)).toBe(maxSessionsPerUser);
  });

  it('stay within MAX_SESSIONS_PER_USER when many logins arrive at once', async () => {
    const { user } = await signUp(supergraph);
    const logins = await Promise.all(
      Array.from({ length: 4 }, () => logIn(supergraph, user.email)),
    );
    expect(logins.map((result) => result.errors)).toEqual(logins.map(() => undefined));
    expect(await liveSessions(user.id)).toBe(maxSessionsPerUser);
  });
});
