// Strings a client should not be able to slip past the API: text that PostgreSQL would
// store altered, and names that display as something else or as nothing. Each is refused
// with BAD_USER_INPUT naming the field, and nothing is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  eventOnSale,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  [organizer, buyer] = await Promise.all([
    signUp(supergraph, { accountType: 'ORGANIZER' }),
    signUp(supergraph),
  ]);
});
afterAll(async () => {
  await supergraph?.stop();
});

const signUpMutation =
  'mutation ($input: SignUpInput!) { signUp(input: $input) { user { id name } } }';

describe('an unpaired surrogate (JSON can carry one; UTF-8 cannot)', () => {
  it('in a purchase key is refused, not stored as U+FFFD where another key collides with it', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const [tierId] = tierIds;
    for (const idempotencyKey of ['surrogate-\uD800', 'surrogate-\uDBFF']) {
      const result = await supergraph.request(
        purchaseMutation,
        { input: { tierId, quantity: 1, idempotencyKey } },
        { token: buyer.accessToken },
      );
      expect(result.status).toBe(400);
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.idempotencyKey',
      });
    }
    expect(
      await supergraph.databases.tickets.order.count({ where: { buyerId: buyer.user.id } }),
    ).toBe(0);
  });

  it('in a name is refused, not stored altered', async () => {
    const email = uniqueEmail('surrogate');
    const result = await supergraph.request(signUpMutation, {
      input: { email, password: strongPassword, name: 'Ann \uDC00' },
    });
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.name',
    });
    expect(await supergraph.databases.users.user.count({ where: { email } })).toBe(0);
  });
});

const createEventMutation =
  'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id title venue city timezone } }';

function eventInput(overrides: Record<string, unknown> = {}) {
  return {
    title: 'Night of the Compilers',
    venue: 'Main Hall',
    city: 'Berlin',
    startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    timezone: 'Europe/Berlin',
    ...overrides,
  };
}

const hiddenText = [
  ['only a zero-width space', '\u200B'],
  ['only zero-width joiners and a word joiner', '\u200D\u200C\u2060'],
  ['only a combining accent', '\u0301'],
  ['a right-to-left override', '\u202Edrowssap'],
  ['a bidirectional isolate', 'Main \u2067Hall'],
  ['a terminal escape sequence', 'Hall \u001B[2J'],
  ['a line break', 'Main\nHall'],
  ['a Unicode line separator', 'Main\u2028Hall'],
  ['only Hangul fillers and a blank Braille pattern', '\u3164\u115F\u2800'],
  ['a zero-width space inside a word (a lookalike of "Admin")', 'Ad\u200Bmin'],
  ['a soft hyphen inside a word', 'Ad\u00ADmin'],
  ['a variation selector on a letter', 'Admin\uFE0F'],
] as const;

describe('a display name that shows as nothing, or as something else', () => {
  it.each(
    hiddenText.flatMap(([what, text]) =>
      (['title', 'venue', 'city'] as const).map((field) => [field, what, text] as const),
    ),
  )('is refused in an event’s %s: %s', async (field, _, text) => {
    const before = await supergraph.databases.events.event.count();
    const result = await supergraph.request(
      createEventMutation,
      { input: eventInput({ [field]: text }) },
      { token: organizer.accessToken },
    );
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: `input.${field}`,
    });
    expect(await supergraph.databases.events.event.count()).toBe(before);
  });

  it.each(hiddenText)('is refused as a person’s name: %s', async (_, name) => {
    const email = uniqueEmail('hidden-name');
    const result = await supergraph.request(signUpMutation, {
      input: { email, password: strongPassword, name },
    });
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.name' });
    expect(await supergraph.databases.users.user.count({ where: { email } })).toBe(0);
  });

  it.each(hiddenText)('is refused as a ticket tier’s name: %s', async (_, name) => {
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const created = await supergraph.request(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
      { eventId, input: { name, priceCents: 1000, currency: 'EUR', capacity: 10 } },
      { token: organizer.accessToken },
    );
    expect(created.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.name',
    });
    const renamed = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateTicketTierInput!) { updateTicketTier(id: $id, input: $input) { id } }',
      { id: tierIds[0], input: { name } },
      { token: organizer.accessToken },
    );
    expect(renamed.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.name',
    });
    const tiers = await supergraph.databases.tickets.ticketTier.findMany({ where: { eventId } });
    expect(tiers.map((tier) => tier.name)).toEqual(['GA']);
  });

  it('is refused when a profile is renamed to it', async () => {
    const result = await supergraph.request(
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { name } }',
      { input: { name: '\u200B\u200B' } },
      { token: buyer.accessToken },
    );
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.name' });
    const stored = await supergraph.databases.users.user.findUnique({
      where: { id: buyer.user.id },
    });
    expect(stored?.name).toBe(buyer.user.name);
  });

  it('keeps the joiners a script or an emoji is written with, in a person’s name and a title', async () => {
    for (const name of ['می\u200Cخواهم', 'क्\u200Dष', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}']) {
      const signedUp = await supergraph.request<{ signUp: { user: { name: string } } }>(
        signUpMutation,
        { input: { email: uniqueEmail('joiner'), password: strongPassword, name } },
      );
      expect(signedUp.data?.signUp.user.name).toBe(name);
      const created = await supergraph.request<{ createEvent: { title: string } }>(
        createEventMutation,
        { input: eventInput({ title: name }) },
        { token: organizer.accessToken },
      );
      expect(created.data?.createEvent.title).toBe(name);
    }
  });

  it('keeps scripts written right to left, and a description’s lines', async () => {
    const result = await supergraph.request<{ createEvent: { title: string } }>(
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { title description } }',
      {
        input: eventInput({ title: 'ليلة المترجمات', description: 'Doors at 19:00.\nBar inside.' }),
      },
      { token: organizer.accessToken },
    );
    expect(result.data?.createEvent).toEqual({
      title: 'ليلة المترجمات',
      description: 'Doors at 19:00.\nBar inside.',
    });
  });
});

describe('text that can be written two ways in Unicode', () => {
  it('is stored composed (NFC), so that a city filter finds it however it was typed', async () => {
    const decomposed = 'Zu\u0308rich';
    const created = await supergraph.request<{ createEvent: { city: string; title: string } }>(
      createEventMutation,
      { input: eventInput({ city: decomposed, title: 'Cafe\u0301 concert' }) },
      { token: organizer.accessToken },
    );
    expect(created.data?.createEvent).toMatchObject({ city: 'Zürich', title: 'Café concert' });
    for (const city of ['Zürich', decomposed, 'ZÜRICH']) {
      const found = await supergraph.request<{ events: { totalCount: number } }>(
        'query ($city: String) { events(filter: { city: $city, status: DRAFT }) { totalCount } }',
        { city },
        { token: organizer.accessToken },
      );
      expect(found.data?.events.totalCount).toBe(1);
    }
  });

  it('is stored composed in a person’s name', async () => {
    const result = await supergraph.request<{ signUp: { user: { name: string } } }>(
      signUpMutation,
      { input: { email: uniqueEmail('nfc'), password: strongPassword, name: 'Rene\u0301e' } },
    );
    expect(result.data?.signUp.user.name).toBe('Renée');
  });
});

describe('a time zone', () => {
  it.each([
    ['europe/berlin', 'Europe/Berlin'],
    ['EUROPE/LISBON', 'Europe/Lisbon'],
    ['utc', 'UTC'],
  ])(
    'written as %s is stored as %s, the spelling every client can look up',
    async (timezone, canonical) => {
      const result = await supergraph.request<{ createEvent: { timezone: string } }>(
        createEventMutation,
        { input: eventInput({ timezone }) },
        { token: organizer.accessToken },
      );
      expect(result.data?.createEvent.timezone).toBe(canonical);
    },
  );
});

describe('a cancellation reason, shown to every ticket holder', () => {
  it('with a text-direction override is refused, and the event stays on sale', async () => {
    const { eventId } = await eventOnSale(supergraph, organizer.accessToken, []);
    const result = await supergraph.request(
      'mutation ($id: ID!, $reason: String) { cancelEvent(id: $id, reason: $reason) { status } }',
      { id: eventId, reason: 'Moved to \u202Eexe.eunev-wen' },
      { token: organizer.accessToken },
    );
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'reason' });
    const stored = await supergraph.databases.events.event.findUnique({ where: { id: eventId } });
    expect(stored?.status).toBe('PUBLISHED');
  });
});

describe('a listing filter', () => {
  it('with a city longer than any city is refused before it reaches the database', async () => {
    const result = await supergraph.request(
      'query ($city: String) { events(filter: { city: $city }) { totalCount } }',
      { city: 'x'.repeat(500_000) },
    );
    expect(result.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'filter.city',
    });
    const sentLongText = supergraph.sql.events.some((statement) =>
      statement.params.some((param) => typeof param === 'string' && param.length > 1_000),
    );
    expect(sentLongText).toBe(false);
  });
});
