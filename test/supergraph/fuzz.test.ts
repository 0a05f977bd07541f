// Hostile input generated from the schema, for every root field: the hand-written hostile
// tests cover the cases someone thought of, this closes the class. Each root Query and
// Mutation field gets argument values drawn from its input types (valid-shaped ones mixed
// with wrong types, boundary numbers, malformed and foreign ids, odd Unicode, dates out of
// range, long lists, missing and null fields), sent by an anonymous caller, a customer, an
// organizer and an admin. Every answer must keep the contract: no 5xx, every error with a
// code of its own (never the masked unexpected one), no stack trace, no SQL, Prisma or file
// path in a message, and a refused mutation writes nothing.
//
// The seed is fixed; on a failure fast-check prints it with the counterexample's path
// (replay with `{ seed, path }` in the failing field's fc.assert options).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
  getNamedType,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { apiSchema } from '../../gateway/src/schema-check.ts';
import { type BoughtTicket, buyTickets } from './door.ts';
import { type GraphQLResult, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  draftEvent,
  eventOnSale,
  logIn,
  signUp,
  uniqueEmail,
} from './operations.ts';

/** Fixed, for answers that repeat; change it (or runsPerField) to hunt further. */
const seed = 20261206;
/** Runs a root field: about 45 fields, a few hundred requests in all. */
const runsPerField = 10;

const schema = apiSchema(
  readFileSync(new URL('../../gateway/supergraph.graphql', import.meta.url), 'utf8'),
);

const adminEmail = 'fuzz-admin@example.com';
const adminPassword = 'the fuzzing admin password';

let supergraph: Supergraph;
const callers: Record<'customer' | 'organizer' | 'admin', AuthPayload> = {} as never;
/**
 * Tokens the users service signed, for accounts that do not exist: an admin and an
 * organizer whose id no row has, and an admin whose id is no UUID at all.
 */
const ghostTokens: Record<'ghost admin' | 'ghost organizer' | 'admin of no UUID', string> =
  {} as never;
/** Authorization headers no one was issued. */
const garbageAuthorizations = [
  'Bearer ',
  'Bearer x.y.z',
  'Bearer null',
  'Basic YWRtaW46YWRtaW4=',
  `Bearer ${'a'.repeat(9000)}`,
];
/** Real ids, of every kind, that a generated id may be (for the wrong field, often). */
const knownIds: string[] = [];
/** Real strings a String argument may be: emails, a ticket's code and QR token, a session's. */
const knownStrings: string[] = [];
type Kind = 'event' | 'tier' | 'ticket' | 'order' | 'hold' | 'transfer' | 'user';
/** The same ids by what they are, for values that are right but for one field. */
const idsByKind = {} as Record<Kind, string[]>;
/** Where a type with fields that take arguments is reached from a root field. */
const reachedThrough: Record<string, (inner: string) => string> = {};
/** Cursors the API issued, to continue from (in another list, often). */
const issuedCursors: string[] = [];
const ticketCodes: string[] = [];
const qrTokens: string[] = [];
const knownEmails: string[] = [];

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      BOOTSTRAP_ADMIN_EMAIL: adminEmail,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
      // Every mutation here comes from four accounts; the budget has tests of its own.
      ACCOUNT_WRITES_PER_SECOND: '1000',
      ACCOUNT_WRITE_BURST: '100000',
    },
  });
  answersBefore = await relayAnswers();
  const [customer, organizer, bystander] = await Promise.all([
    signUp(supergraph),
    signUp(supergraph, { accountType: 'ORGANIZER' }),
    signUp(supergraph, { email: uniqueEmail('bystander') }),
  ]);
  const admin = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn;
  if (!customer || !organizer || !bystander || !admin) throw new Error('sign-ups failed');
  Object.assign(callers, { customer, organizer, admin });
  const key = await supergraph.signingKey();
  const sign = async (sub: string, role: string) =>
    new SignJWT({ role, sid: crypto.randomUUID(), jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid as string })
      .setIssuer('urn:ticketing:users')
      .setAudience('urn:ticketing:api')
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(await importJWK(key, 'EdDSA'));
  Object.assign(ghostTokens, {
    'ghost admin': await sign(crypto.randomUUID(), 'ADMIN'),
    'ghost organizer': await sign(crypto.randomUUID(), 'ORGANIZER'),
    'admin of no UUID': await sign('not-a-uuid', 'ADMIN'),
  });

  const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
    { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 500, maxPerOrder: 10 },
  ]);
  const tierId = tierIds[0] as string;
  const draftId = await draftEvent(supergraph, organizer.accessToken);
  const [ticket, given] = (await buyTickets(
    supergraph,
    customer.accessToken,
    tierId,
    2,
  )) as BoughtTicket[] as [BoughtTicket, BoughtTicket];
  const order = await supergraph.request<{ myOrders: { edges: { node: { id: string } }[] } }>(
    '{ myOrders { edges { node { id } } } }',
    {},
    { token: customer.accessToken },
  );
  const hold = await supergraph.request<{ holdTickets: { id: string } }>(
    'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
    { tierId },
    { token: customer.accessToken },
  );
  const offer = await supergraph.request<{
    transferTicket: { pendingTransfer: { id: string } | null };
  }>(
    'mutation ($id: ID!, $to: String!) { transferTicket(id: $id, toEmail: $to) { pendingTransfer { id } } }',
    { id: given.id, to: bystander.user.email },
    { token: customer.accessToken },
  );
  knownIds.push(
    eventId,
    tierId,
    draftId,
    ticket.id,
    given.id,
    customer.user.id,
    organizer.user.id,
    bystander.user.id,
    ...[
      order.data?.myOrders.edges[0]?.node.id,
      hold.data?.holdTickets.id,
      offer.data?.transferTicket.pendingTransfer?.id,
    ].filter((id): id is string => typeof id === 'string'),
  );
  Object.assign(idsByKind, {
    event: [eventId, draftId],
    tier: [tierId],
    ticket: [ticket.id, given.id],
    order: [order.data?.myOrders.edges[0]?.node.id ?? ticket.id],
    hold: [hold.data?.holdTickets.id ?? tierId],
    transfer: [offer.data?.transferTicket.pendingTransfer?.id ?? given.id],
    user: [customer.user.id, organizer.user.id, bystander.user.id],
  });
  reachedThrough.EventSales = (inner) => `event(id: "${eventId}") { sales { ${inner} } }`;
  reachedThrough.User = (inner) => `me { ${inner} }`;
  ticketCodes.push(ticket.code, given.code);
  qrTokens.push(ticket.qrToken, given.qrToken);
  knownEmails.push(customer.user.email, organizer.user.email, bystander.user.email);
  for (const list of ['myTickets', 'myOrders', 'myTicketTransfers', 'events']) {
    const page = await supergraph.request<Record<string, { pageInfo: { endCursor: string } }>>(
      `{ ${list}(first: 1) { pageInfo { endCursor } } }`,
      {},
      { token: customer.accessToken },
    );
    const cursor = page.data?.[list]?.pageInfo.endCursor;
    if (cursor) issuedCursors.push(cursor);
  }
  knownStrings.push(
    customer.user.email,
    bystander.user.email,
    ticket.code,
    ticket.qrToken,
    bystander.refreshToken,
    'Europe/Berlin',
    'EUR',
  );
}, 120_000);
afterAll(async () => {
  await supergraph?.stop();
});

// --- Values ---------------------------------------------------------------------------

/** Strings that have hurt someone's API: injection, control characters, odd Unicode. */
const hostileStrings = [
  '',
  ' ',
  '\t\n',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  '%',
  '_%_',
  '\\',
  '"',
  '\u0000',
  'a\u0000b',
  '\uD800',
  'x\uDFFF',
  '\u202Eevil',
  '\u200B',
  '\uFEFF',
  'e\u0301',
  '🎟️👨‍👩‍👧',
  '\u{10FFFF}',
  '../../etc/passwd',
  'C:\\Windows\\system32',
  '<script>alert(1)</script>',
  '\u0024{jndi:ldap://x}',
  '{{7*7}}',
  '%s%s%n',
  'a'.repeat(256),
  'a'.repeat(10_001),
  'ä'.repeat(3000),
  '1e309',
  'NaN',
  'Infinity',
  '-0',
  '0x7fffffff',
  '9'.repeat(40),
];

const wrongKinds = [true, false, 0, -1, 3.14, '', 'x', [], [1], {}, { a: 1 }, null];

const uuidLike = fc.uuid();

const malformedIds = fc.oneof(
  uuidLike.map((id) => id.toUpperCase()),
  uuidLike.map((id) => id.slice(0, 35)),
  uuidLike.map((id) => `${id}0`),
  uuidLike.map((id) => id.replaceAll('-', '')),
  uuidLike.map((id) => `{${id}}`),
  uuidLike.map((id) => ` ${id} `),
  uuidLike.map((id) => `${id}\n`),
  uuidLike.map((id) => id.replace(/^./, 'g')),
  fc.constantFrom(
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
    '1',
    '-1',
    '0',
    'ZXZlbnQ6MQ==',
    'Event:1',
  ),
);

/**
 * Values come in three moods. Plausible: what a client of good faith sends, but for a field
 * now and then. Shaped: every value has its type's shape (GraphQL lets it through to the
 * resolvers), with hostile content. Noisy: some values have the wrong type, nulls where
 * none may be, numbers past 32 bits, unknown fields.
 */
type Mood = 'plausible' | 'shaped' | 'noisy';

/** Where a value goes: the root field, and the argument or input field's name. */
interface Place {
  rootField: string;
  name: string;
}

/** What an id argument names, from its name and its field's. */
function kindOf({ rootField, name }: Place): Kind {
  const words = `${name} ${name === 'id' || name === 'ids' ? rootField : ''}`.toLowerCase();
  if (words.includes('transfer') && !rootField.startsWith('transferTicket')) return 'transfer';
  for (const kind of ['tier', 'hold', 'order', 'user', 'event', 'ticket'] as const) {
    if (words.includes(kind)) return kind;
  }
  return 'event';
}

const soon = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

/** base64url of JSON, as the cursors are: the right shape, forged content. */
const forgedCursors = fc
  .tuple(
    fc.constantFrom('STARTS_AT_ASC', 'STARTS_AT_DESC', '2030-01-01T00:00:00.000Z', 0, null),
    fc.constantFrom(
      '2030-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.000Z',
      '0001-01-01T00:00:00.000Z',
      -8.64e15,
      true,
      '00000000-0000-0000-0000-000000000000',
    ),
    fc.oneof(
      fc.uuid(),
      fc.constantFrom('x', 1, null, ['a'], 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'),
    ),
  )
  .map((tuple) => Buffer.from(JSON.stringify(tuple)).toString('base64url'));

/** A value a client of good faith would send here, when the name says what it is. */
function plausibleValueFor(
  type: GraphQLInputType,
  place: Place,
): fc.Arbitrary<unknown> | undefined {
  const named = getNamedType(type);
  const name = place.name.toLowerCase();
  if (named.name === 'ID') return fc.constantFrom(...idsByKind[kindOf(place)]);
  if (named.name === 'DateTime') {
    if (name === 'scannedat') return fc.integer({ min: -120, max: 10 }).map(soon);
    return fc.integer({ min: -60 * 24, max: 60 * 24 * 60 }).map(soon);
  }
  if (named.name === 'Int') {
    if (name === 'quantity') return fc.integer({ min: 1, max: 4 });
    if (name === 'first') return fc.integer({ min: 0, max: 100 });
    if (name === 'maxperorder') return fc.integer({ min: 1, max: 10 });
    return fc.integer({ min: 0, max: 100_000 });
  }
  if (named.name !== 'String') return undefined;
  if (name.includes('email')) {
    return fc.oneof(
      fc.constantFrom(...knownEmails),
      fc.integer({ min: 0, max: 1e6 }).map((n) => `fuzz-${n}@example.com`),
    );
  }
  if (name.includes('password')) {
    return fc.constantFrom('correct horse battery staple', 'a long and unusual passphrase 7');
  }
  if (name === 'timezone') {
    return fc.constantFrom('Europe/Berlin', 'UTC', 'Pacific/Kiritimati', 'Etc/GMT+12', 'utc');
  }
  if (name === 'currency') return fc.constantFrom('EUR', 'USD', 'JPY', 'BHD', 'eur');
  if (name === 'idempotencykey') return fc.stringMatching(/^[a-z0-9-]{8,40}$/);
  if (name === 'code') return fc.constantFrom(...ticketCodes);
  if (name === 'token') return fc.constantFrom(...qrTokens);
  if (name === 'after') return fc.oneof(fc.constantFrom(...issuedCursors), forgedCursors);
  if (name === 'refreshtoken') return fc.constantFrom(...knownStrings);
  return fc.oneof(
    fc.constantFrom('Main Hall', 'Berlin', 'Spring Concert', 'Ann Lee', 'GA'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
  );
}

function idValue(mood: Mood) {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...knownIds), weight: 6 },
    { arbitrary: fc.constantFrom(...knownIds).map((id) => id.toUpperCase()), weight: 1 },
    { arbitrary: uuidLike, weight: 2 },
    { arbitrary: malformedIds, weight: 3 },
    { arbitrary: fc.constantFrom(...hostileStrings), weight: 1 },
    { arbitrary: fc.constantFrom(0, 1, -1, 2147483647, 1.5), weight: mood === 'noisy' ? 1 : 0 },
  );
}

function stringValue() {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...knownStrings), weight: 3 },
    { arbitrary: fc.constantFrom(...hostileStrings), weight: 4 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
    { arbitrary: fc.emailAddress(), weight: 1 },
    { arbitrary: fc.constantFrom(...knownIds), weight: 1 },
  );
}

const int32Bounds = [0, -0, 1, -1, 2, 10, 500, 501, 2147483647, -2147483648];
const pastInt32 = [2147483648, -2147483649, Number.MAX_SAFE_INTEGER, 1e21, 1.5, -0.5, 2 ** 53 + 2];

function intValue(mood: Mood) {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...int32Bounds), weight: 3 },
    { arbitrary: fc.integer({ min: -5, max: 20 }), weight: 3 },
    { arbitrary: fc.integer({ min: -2147483648, max: 2147483647 }), weight: 1 },
    {
      arbitrary: fc.oneof(
        fc.constantFrom(...pastInt32),
        fc.double(),
        fc.constantFrom('1', 'NaN', 'Infinity', '-0', '1e3', ''),
      ),
      weight: mood === 'noisy' ? 3 : 0,
    },
  );
}

const day = 86_400_000;

function dateTimeValue(mood: Mood) {
  return fc.oneof(
    {
      // As clients write them: from a year ago to two years ahead.
      arbitrary: fc
        .integer({ min: -365, max: 730 })
        .map((days) => new Date(Date.now() + days * day).toISOString()),
      weight: 5,
    },
    {
      arbitrary: fc
        .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') })
        .map((date) => date.toISOString()),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        '0001-01-01T00:00:00.000Z',
        '1970-01-01T00:00:00Z',
        '9999-12-31T23:59:59.999Z',
        '2030-01-01T10:00:00+14:00',
        '2030-01-01T10:00:00-12:00',
        '2030-01-01T10:00:00.123456789Z',
      ),
      weight: 2,
    },
    {
      arbitrary: fc.oneof(
        fc
          .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
          .map((date) => date.toISOString()),
        fc.constantFrom(
          '0000-01-01T00:00:00Z',
          '-000001-01-01T00:00:00.000Z',
          '+275760-09-13T00:00:00.000Z',
          '2030-02-30T10:00:00Z',
          '2030-13-01T10:00:00Z',
          '2030-01-01T24:00:00Z',
          '2030-01-01T10:00:00',
          '2030-01-01',
          '2030-01-01T10:00:00+25:00',
          'tomorrow',
          '',
          '1700000000000',
          0,
          1e15,
        ),
      ),
      weight: mood === 'noisy' ? 4 : 0,
    },
  );
}

/** A value for `type`: of its shape, or (when noisy) sometimes not. */
function valueFor(
  type: GraphQLInputType,
  mood: Mood,
  place: Place,
  depth = 0,
): fc.Arbitrary<unknown> {
  const noisy = mood === 'noisy' ? 1 : 0;
  const plausible = mood === 'plausible' ? plausibleValueFor(type, place) : undefined;
  if (plausible && isLeafType(getNamedType(type))) {
    // Right but for a field now and then: the hostile value meets the checks behind the
    // first ones.
    return fc.oneof(
      { arbitrary: plausible, weight: 8 },
      { arbitrary: shapedValueFor(type, 'shaped', place, depth), weight: 1 },
    );
  }
  if (isNonNullType(type)) {
    return fc.oneof(
      { arbitrary: shapedValueFor(type.ofType, mood, place, depth), weight: 12 },
      { arbitrary: fc.constant(null), weight: noisy },
      { arbitrary: fc.constantFrom(...wrongKinds), weight: noisy },
    );
  }
  return fc.oneof(
    { arbitrary: shapedValueFor(type, mood, place, depth), weight: 10 },
    { arbitrary: fc.constant(null), weight: mood === 'plausible' ? 0 : 1 },
    { arbitrary: fc.constantFrom(...wrongKinds), weight: noisy },
  );
}

function shapedValueFor(
  type: GraphQLInputType,
  mood: Mood,
  place: Place,
  depth: number,
): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return shapedValueFor(type.ofType, mood, place, depth);
  if (isListType(type)) {
    const item = valueFor(type.ofType, mood, place, depth + 1);
    if (mood === 'plausible') return fc.array(item, { minLength: 1, maxLength: 3 });
    return fc.oneof(
      { arbitrary: fc.array(item, { maxLength: 4 }), weight: 6 },
      { arbitrary: fc.constant([]), weight: 2 },
      // Past the "at most 500" a list argument may say, and one repeated item.
      { arbitrary: item.map((value) => Array.from({ length: 501 }, () => value)), weight: 1 },
      { arbitrary: fc.array(item, { minLength: 20, maxLength: 40 }), weight: 1 },
      // A single value where a list belongs (GraphQL coerces it to a list of one).
      { arbitrary: item, weight: 1 },
    );
  }
  if (isEnumType(type)) {
    const values = type.getValues().map((value) => value.name);
    return fc.oneof(
      { arbitrary: fc.constantFrom(...values), weight: 8 },
      {
        arbitrary: fc.constantFrom(...values.map((value) => value.toLowerCase()), 'NOPE', ''),
        weight: mood === 'noisy' ? 2 : 0,
      },
    );
  }
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    if (depth > 3) return fc.constant({});
    const record = fc.record(
      Object.fromEntries(
        fields.map((field) => [
          field.name,
          valueFor(field.type, mood, { ...place, name: field.name }, depth + 1),
        ]),
      ),
      {
        // The required fields are always there (valueFor makes some null when noisy); the
        // optional ones come and go.
        requiredKeys: fields
          .filter((field) => isNonNullType(field.type) && field.defaultValue === undefined)
          .map((field) => field.name),
      },
    );
    return fc.oneof(
      { arbitrary: record, weight: 10 },
      {
        arbitrary: record.map((value) => ({ ...value, unknownField: 1 })),
        weight: noisyWeight(mood),
      },
      { arbitrary: fc.constant({}), weight: noisyWeight(mood) },
    );
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'ID':
        return idValue(mood);
      case 'String':
        return stringValue();
      case 'Int':
      case 'SafeInt':
      case 'Float':
        return intValue(mood);
      case 'Boolean':
        return mood === 'noisy'
          ? fc.oneof(fc.boolean(), fc.constantFrom('true', 1, 0))
          : fc.boolean();
      case 'DateTime':
        return dateTimeValue(mood);
      default:
        return fc.oneof(stringValue(), intValue(mood));
    }
  }
  throw new Error(`no values for ${String(type)}`);
}

function noisyWeight(mood: Mood) {
  return mood === 'noisy' ? 1 : 0;
}

/** The arguments of a field: each present, or left out when it may be. */
function argumentsOf(
  rootField: string,
  args: readonly GraphQLArgument[],
): fc.Arbitrary<Record<string, unknown>> {
  const required = args
    .filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)
    .map((arg) => arg.name);
  const inMood = (mood: Mood) =>
    fc.record(
      Object.fromEntries(
        args.map((arg) => [arg.name, valueFor(arg.type, mood, { rootField, name: arg.name })]),
      ),
      {
        requiredKeys: required,
      },
    );
  return fc.oneof(
    { arbitrary: inMood('plausible'), weight: 3 },
    { arbitrary: inMood('shaped'), weight: 2 },
    { arbitrary: inMood('noisy'), weight: 1 },
  );
}

// --- Operations -----------------------------------------------------------------------

/** Leaf fields of `type`, and those of the objects one level down: enough to run resolvers. */
function selectionOf(type: GraphQLOutputType, depth: number): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return '';
  if (isAbstractType(named) || !isObjectType(named)) return '{ __typename }';
  const fields = Object.values(named.getFields()).filter((field) =>
    field.args.every((arg) => !isNonNullType(arg.type) || arg.defaultValue !== undefined),
  );
  const selected = ['__typename'];
  for (const field of fields) {
    if (isLeafType(getNamedType(field.type))) selected.push(field.name);
    else if (depth > 0) selected.push(`${field.name} ${selectionOf(field.type, depth - 1)}`);
  }
  return `{ ${selected.join(' ')} }`;
}

/**
 * The operation for `field`: its arguments as variables, or (`inline`) written into the
 * document as literals, which the scalars parse on another path (parseLiteral).
 */
function operationOf(
  kind: 'query' | 'mutation',
  field: GraphQLField<unknown, unknown>,
  inline?: Record<string, unknown>,
): string {
  const selection = selectionOf(field.type, 1);
  if (inline) {
    const args = field.args
      .filter((arg) => arg.name in inline)
      .map((arg) => `${arg.name}: ${literalOf(inline[arg.name], arg.type)}`)
      .join(', ');
    return `${kind} Fuzz { ${field.name}${args ? `(${args})` : ''} ${selection} }`;
  }
  const variables = field.args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = field.args.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
  return `${kind} Fuzz${variables ? `(${variables})` : ''} { ${field.name}${
    args ? `(${args})` : ''
  } ${selection} }`;
}

/** `value` as a GraphQL literal of `type` (enum values bare, as they are written). */
function literalOf(value: unknown, type: GraphQLInputType): string {
  const named = getNamedType(type);
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) {
    const item = isListType(stripNonNull(type))
      ? (stripNonNull(type) as { ofType: GraphQLInputType }).ofType
      : type;
    return `[${value.map((element) => literalOf(element, item)).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const fields = isInputObjectType(named) ? named.getFields() : {};
    return `{ ${Object.entries(value)
      .map(([name, field]) => `${name}: ${literalOf(field, fields[name]?.type ?? type)}`)
      .join(', ')} }`;
  }
  if (typeof value === 'string') {
    if (isEnumType(named) && /^[_A-Za-z][_0-9A-Za-z]*$/.test(value)) return value;
    return JSON.stringify(value);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
  return String(value);
}

function stripNonNull(type: GraphQLInputType): GraphQLInputType {
  return isNonNullType(type) ? type.ofType : type;
}

// --- The contract -----------------------------------------------------------------------

/** Codes that say only that something unexpected failed (gateway/src/errors.ts). */
const maskedCodes = new Set([
  'INTERNAL_SERVER_ERROR',
  'DOWNSTREAM_SERVICE_ERROR',
  'SERVICE_UNAVAILABLE',
]);

/** What a message must not show: the database, the ORM, the code's files. */
const leaks =
  /prisma|postgres|\bSELECT\s.+\sFROM\b|\bINSERT INTO\b|\bUPDATE\s+"|relation "|violates|constraint|invalid input syntax|\bP\d{4}\b|node_modules|\/src\/|\.ts:\d+|\bat \S+ \(|ECONN|TypeError|ReferenceError|Cannot read propert|undefined is not|is not a function/i;

/** Every string inside `value`, as sent: a message may echo the input, which is no leak. */
function sentStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(sentStrings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(sentStrings);
  return [];
}

function withoutEcho(message: string, variables: Record<string, unknown>): string {
  let rest = message;
  for (const sent of sentStrings(variables).filter((text) => text.length > 0)) {
    for (const form of [JSON.stringify(sent), JSON.stringify(sent).slice(1, -1), sent]) {
      rest = rest.split(form).join('');
    }
  }
  return rest;
}

function contractBreaches(result: GraphQLResult, variables: Record<string, unknown>): string[] {
  const breaches: string[] = [];
  if (result.status >= 500) breaches.push(`HTTP ${result.status}`);
  if (result.status >= 400 && !result.errors?.length) breaches.push('a 4xx with no error');
  for (const error of result.errors ?? []) {
    const code = error.extensions?.code;
    if (typeof code !== 'string') breaches.push(`an error without a code: ${error.message}`);
    else if (maskedCodes.has(code)) breaches.push(`${code}: ${error.message}`);
    // A resolver's refusal of the input says which field it refused.
    else if (code === 'BAD_USER_INPUT' && error.path && !error.extensions?.field) {
      breaches.push(`BAD_USER_INPUT without extensions.field: ${error.message}`);
    }
    for (const hidden of ['stacktrace', 'exception', 'serviceName']) {
      if (error.extensions && hidden in error.extensions) breaches.push(`extensions.${hidden}`);
    }
    if (typeof error.message !== 'string' || error.message.length === 0) {
      breaches.push('an error without a message');
    } else if (leaks.test(withoutEcho(error.message, variables))) {
      breaches.push(`a message that leaks: ${error.message}`);
    }
  }
  return breaches;
}

/** Tables only requests write (the background jobs' own are left out). */
const backgroundTables = new Set([
  '_prisma_migrations',
  'outbox_messages',
  'login_throttles',
  'event_snapshots',
  'event_signing_keys',
  'payment_instructions',
]);

type Database = Supergraph['databases'][keyof Supergraph['databases']];

/** A digest of every row of every request-written table of each database. */
async function fingerprint(): Promise<Record<string, string>> {
  const entries = await Promise.all(
    Object.entries(supergraph.databases).map(async ([name, prisma]) => {
      const database = prisma as Database;
      const tables = (
        await database.$queryRawUnsafe<{ tablename: string }[]>(
          "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
      )
        .map(({ tablename }) => tablename)
        .filter((table) => !backgroundTables.has(table));
      // The outbox's rows change as the relay works them, but only a request adds one: its
      // last sequence stands for it (a refused mutation must not set a change going either).
      const parts = tables.map(
        (table) =>
          `(SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') FROM "${table}" t)`,
      );
      if (name === 'events') parts.push('(SELECT max(sequence)::text FROM outbox_messages)');
      const digests = await database.$queryRawUnsafe<{ digest: string }[]>(
        `SELECT md5(concat_ws('/', ${parts.join(', ')})) AS digest`,
      );
      return [name, digests[0]?.digest ?? ''] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** The relay's answered delivery attempts (applied or refused), from the events service's metrics. */
async function relayAnswers(): Promise<number> {
  const metrics = await (await fetch(new URL('/metrics', supergraph.subgraphUrls.events))).text();
  const counted = (name: string) =>
    Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  return counted('outbox_messages_delivered_total') + counted('outbox_messages_refused_total');
}

/** Answers counted before this file's supergraph delivered anything (the counters are the process's). */
let answersBefore = 0;

/**
 * The fingerprint once what a mutation that succeeded set going has landed: an event's
 * cancellation reaches the tickets service through the outbox after the mutation's answer.
 * Landed: every outbox message has been tried, and every try answered (each claim adds one
 * to a message's attempts; each answer, applied or refused, one to the relay's counters, after
 * the consumer committed). A refused message stays undelivered; its retry, much later, waits
 * for no one. A try that failed whole (the consumer unreachable) is never answered, and the
 * error says so.
 */
async function settledFingerprint(): Promise<Record<string, string>> {
  let outstanding = '';
  for (const started = Date.now(); Date.now() - started < 10_000; ) {
    const [[outbox], answers] = await Promise.all([
      supergraph.databases.events.$queryRaw<{ untried: number; attempts: number }[]>`
        SELECT count(*) FILTER (WHERE attempts = 0)::int AS untried,
               coalesce(sum(attempts), 0)::int AS attempts
        FROM outbox_messages`,
      relayAnswers(),
    ]);
    const unanswered = (outbox?.attempts ?? 0) - (answers - answersBefore);
    if (outbox?.untried === 0 && unanswered === 0) return fingerprint();
    outstanding = `${outbox?.untried} outbox messages untried, ${unanswered} tries unanswered`;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the databases did not settle: ${outstanding}`);
}

// --- The fields -------------------------------------------------------------------------

/**
 * Fields that end what the others would reach (the event on sale, the accounts' sessions)
 * run last: run earlier, they would leave the others only SALES_CLOSED and UNAUTHENTICATED.
 */
const runLast = new Set([
  'cancelEvent',
  'deleteEvent',
  'deleteTicketTier',
  'setUserRole',
  'changePassword',
  'deleteAccount',
  'logOut',
]);

const rootFields = (['query', 'mutation'] as const)
  .flatMap((kind) => {
    const root = kind === 'query' ? schema.getQueryType() : schema.getMutationType();
    return Object.values(root?.getFields() ?? {}).map((field) => ({ kind, field }));
  })
  .sort((a, b) => Number(runLast.has(a.field.name)) - Number(runLast.has(b.field.name)));

const callerNames = [
  'anonymous',
  'customer',
  'customer',
  'organizer',
  'organizer',
  'admin',
  'admin',
] as const;

describe('generated hostile input, for every root field', () => {
  it.each(rootFields.map(({ kind, field }) => [`${kind} ${field.name}`, kind, field] as const))(
    '%s keeps the error contract',
    async (_, kind, field) => {
      const withVariables = operationOf(kind, field);
      // Whether the last mutation succeeded: its consequences may still be on their way.
      let changedSomething = true;
      await fc.assert(
        fc.asyncProperty(
          argumentsOf(field.name, field.args),
          fc.oneof(
            { arbitrary: fc.constantFrom(...callerNames), weight: 6 },
            {
              arbitrary: fc.constantFrom(
                ...(Object.keys(ghostTokens) as (keyof typeof ghostTokens)[]),
                'garbage' as const,
              ),
              weight: 1,
            },
          ),
          fc.constantFrom(...garbageAuthorizations),
          fc.nat(3).map((draw) => draw === 0 && field.args.length > 0),
          async (variables, caller, garbageAuthorization, inline) => {
            const query = inline ? operationOf(kind, field, variables) : withVariables;
            const before =
              kind !== 'mutation'
                ? undefined
                : changedSomething
                  ? await settledFingerprint()
                  : await fingerprint();
            const result = await supergraph.request(
              query,
              inline ? {} : variables,
              caller === 'anonymous'
                ? {}
                : caller === 'garbage'
                  ? { authorization: garbageAuthorization }
                  : caller in ghostTokens
                    ? { token: ghostTokens[caller as keyof typeof ghostTokens] }
                    : { token: callers[caller as keyof typeof callers].accessToken },
            );
            const breaches = contractBreaches(result, variables);
            // A refused mutation changes nothing, in any of the three databases.
            // Refused: an error about the field itself or the whole request. An error deeper
            // in the selection (a field of the answer the caller may not read) leaves the
            // mutation done, with data null by non-null propagation.
            const refused = (result.errors ?? []).some(
              (error) => !error.path || (error.path.length === 1 && error.path[0] === field.name),
            );
            changedSomething = !refused;
            if (before && refused) {
              const after = await fingerprint();
              for (const name of Object.keys(before)) {
                if (before[name] !== after[name]) {
                  breaches.push(`a refused mutation wrote to the ${name} database`);
                }
              }
            }
            if (breaches.length > 0) {
              throw new Error(
                `${breaches.join('; ')}\nas ${caller}${inline ? `, sending ${query.slice(0, 1000)}` : ''}: ${JSON.stringify(result).slice(0, 2000)}`,
              );
            }
          },
        ),
        {
          seed,
          numRuns: runsPerField,
          interruptAfterTimeLimit: 40_000,
          markInterruptAsFailure: false,
        },
      );
    },
    600_000,
  );
});

/** Fields below the root that take arguments (a sales report's hours, a user's pages). */
const nestedFields = Object.values(schema.getTypeMap())
  .filter(isObjectType)
  .filter((type) => !['Query', 'Mutation'].includes(type.name) && !type.name.startsWith('__'))
  .flatMap((type) =>
    Object.values(type.getFields())
      .filter((field) => field.args.length > 0)
      .map((field) => ({ type: type.name, field })),
  );

describe('generated hostile input, for every field below the root that takes arguments', () => {
  it.each(nestedFields.map(({ type, field }) => [`${type}.${field.name}`, type, field] as const))(
    '%s keeps the error contract',
    async (_, type, field) => {
      const through = reachedThrough[type];
      if (!through) throw new Error(`say how the fuzz test reaches ${type}`);
      const variables = field.args.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
      const args = field.args.map((arg) => `${arg.name}: $${arg.name}`).join(', ');
      const query = `query Fuzz(${variables}) { ${through(
        `${field.name}(${args}) ${selectionOf(field.type, 1)}`,
      )} }`;
      await fc.assert(
        fc.asyncProperty(
          argumentsOf(field.name, field.args),
          fc.constantFrom('organizer', 'admin', 'customer'),
          async (values, caller) => {
            const result = await supergraph.request(query, values, {
              token: callers[caller as keyof typeof callers].accessToken,
            });
            const breaches = contractBreaches(result, values);
            if (breaches.length > 0) {
              throw new Error(
                `${breaches.join('; ')}\nas ${caller}: ${JSON.stringify(result).slice(0, 2000)}`,
              );
            }
          },
        ),
        {
          seed,
          numRuns: runsPerField,
          interruptAfterTimeLimit: 40_000,
          markInterruptAsFailure: false,
        },
      );
    },
    600_000,
  );
});
