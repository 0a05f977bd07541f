// Operations a client could send to make the gateway fail on its own: an operation name the
// document does not have, or an operation type the API does not offer. Each is the
// client's error (HTTP 400, a stable code), never a server error.
import { createLogger } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import { gatewayOver, requestStatements, type Supergraph, startSupergraph } from './harness.ts';
import { eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  await supergraph?.stop();
});

async function post(body: Record<string, unknown>) {
  const response = await fetch(supergraph.gatewayUrls[0] as string, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data?: unknown;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
    },
  };
}

describe('an operation the gateway cannot pick', () => {
  it.each([
    [
      'an operationName the document does not define',
      { query: 'query A { __typename }', operationName: 'B' },
    ],
    [
      'no operationName for a document with two operations',
      { query: 'query A { __typename } query B { __typename }' },
    ],
  ])('%s is a 400 naming operationName', async (_, body) => {
    const result = await post(body);
    expect(result.status).toBe(400);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'GRAPHQL_VALIDATION_FAILED',
      field: 'operationName',
    });
  });

  it('an empty operationName is one the document does not define, not a missing one', async () => {
    // The message said the document had several operations, for a document with one.
    const result = await post({ query: 'query A { __typename }', operationName: '' });
    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([
      {
        message: 'The document has no operation of the name given in operationName.',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', field: 'operationName' },
      },
    ]);
  });

  it('an operationName of 100 KB is not echoed back', async () => {
    const operationName = `B${'x'.repeat(100_000)}`;
    const result = await post({ query: 'query A { __typename }', operationName });
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toMatchObject({ field: 'operationName' });
    expect(JSON.stringify(result.body).length).toBeLessThan(1_000);
  });

  it('a subscription, which this API does not offer, is a 400', async () => {
    const result = await post({ query: 'subscription { events { totalCount } }' });
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
    expect(result.body.errors?.[0]?.message).toBe('This API has no subscriptions.');
  });
});

describe('an explicit null for a variable whose default let it in where a value is required', () => {
  // Validation lets `$v: Boolean = true` into `@include(if: $v)` (the default stands in when
  // $v is left out), but a client may still send `"v": null`: that failed in the gateway's
  // executor as an INTERNAL_SERVER_ERROR, an HTTP 500 for some shapes.
  it.each([
    ['@include on a gateway field', 'query($v: Boolean = true) { __typename @include(if: $v) }'],
    [
      '@skip on an inline fragment',
      'query($v: Boolean = false) { ... @skip(if: $v) { __typename } }',
    ],
    [
      '@include on a subgraph field',
      'query($v: Boolean = true) { events(first: 1) { totalCount @include(if: $v) } }',
    ],
    ['a non-null argument', 'query($v: ID = "a") { event(id: $v) { id } }'],
    [
      'a non-null argument in a fragment',
      'query($v: ID = "a") { ...F } fragment F on Query { ticket(id: $v) { id } }',
    ],
  ])('in %s is a 400 BAD_USER_INPUT naming it', async (_, query) => {
    const result = await post({ query, variables: { v: null } });
    expect(result.status).toBe(400);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'v' });
    expect(result.body.errors?.[0]?.message).toBe(
      'Variable "$v" must not be null: it is used where a value is required.',
    );
    expect(result.body.data).toBeUndefined();
  });

  it('left out, takes its default', async () => {
    const result = await post({
      query: 'query($v: Boolean = true) { __typename @include(if: $v) }',
    });
    expect(result).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });

  it('null where null is allowed is still served', async () => {
    const result = await post({
      query: 'query($v: String = "x") { events(first: 1, after: $v) { totalCount } }',
      variables: { v: null },
    });
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
  });
});

describe('a variable named $representations', () => {
  // The gateway names the entities it fetches from a subgraph `$representations`, and threw
  // "Variables cannot contain key representations" for a client variable of that name used
  // in such a fetch: an INTERNAL_SERVER_ERROR for a valid operation.
  /** An organizer's own events, `first` given in a variable named `name`. */
  async function organizedEventsWith(name: string) {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    return supergraph.request(
      `query Mine($${name}: Int) { me { organizedEvents(first: $${name}) { totalCount } } }`,
      { [name]: 5 },
      { token: organizer.accessToken },
    );
  }

  it('is refused before planning with a 400 that says to rename it', async () => {
    const result = await organizedEventsWith('representations');
    expect(result.status).toBe(400);
    expect(result.errors).toEqual([
      {
        message:
          'The variable name "$representations" is kept for the gateway\'s own use: give the variable another name.',
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', field: 'representations' },
      },
    ]);
    expect(result.data).toBeUndefined();
  });

  it('under another name, runs', async () => {
    const result = await organizedEventsWith('first');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ me: { organizedEvents: { totalCount: 0 } } });
  });
});

describe('a persisted query the protocol does not allow', () => {
  // Apollo Server refuses these with HTTP 400 and no code; they are the client's errors,
  // never INTERNAL_SERVER_ERROR.
  it.each([
    [
      'of an unknown protocol version',
      { extensions: { persistedQuery: { version: 2, sha256Hash: 'a'.repeat(64) } } },
      'Unsupported persisted query version',
    ],
    [
      'whose document does not match its hash',
      {
        query: '{ __typename }',
        extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
      },
      'provided sha does not match query',
    ],
  ])('%s is a 400 BAD_REQUEST that says why', async (_, body, message) => {
    const result = await post(body);
    expect(result.status).toBe(400);
    expect(result.body.errors).toEqual([{ message, extensions: { code: 'BAD_REQUEST' } }]);
  });
});

describe('a method the GraphQL endpoint does not take', () => {
  // Apollo Server answered these 405 with BAD_REQUEST, while NGINX's own 405 (the same
  // edge, another path) says METHOD_NOT_ALLOWED: one status, one code. They are now refused
  // before their body is read, in NGINX's words.
  it.each(['PUT', 'DELETE', 'PATCH'])('%s is a 405 METHOD_NOT_ALLOWED', async (method) => {
    const response = await fetch(supergraph.gatewayUrls[0] as string, {
      method,
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ __typename }"}',
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, POST');
    expect(await response.json()).toEqual({
      errors: [
        {
          message: 'This method is not allowed here.',
          extensions: { code: 'METHOD_NOT_ALLOWED' },
        },
      ],
    });
  });

  it('a mutation sent with GET is a 405 METHOD_NOT_ALLOWED, and runs nothing', async () => {
    const url = new URL(supergraph.gatewayUrls[0] as string);
    url.searchParams.set('query', 'mutation { logOut(refreshToken: "x") }');
    supergraph.sql.users.length = 0;
    const response = await fetch(url, { headers: { 'apollo-require-preflight': 'true' } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect((await response.json()).errors[0].extensions).toEqual({ code: 'METHOD_NOT_ALLOWED' });
    expect(requestStatements(supergraph.sql.users)).toEqual([]);
  });
});

describe('a mutation whose root fields go to several subgraphs', () => {
  // Root mutation fields run one after another, and one that fails at a non-null field makes
  // the whole answer null: a client told only that the first failed must find nothing else
  // done. The gateway sent each later field's subgraph its fetch all the same, so the event
  // was renamed and seats held behind an answer of `data: null` with one error.
  it.each([
    ['the tickets subgraph', 'hold: holdTickets(tierId: $tierId, quantity: 0) { id }'],
    ['the events subgraph', 'rename: updateEvent(id: $eventId, input: { title: "" }) { id }'],
  ])('stops at the first that fails, in %s: nothing after it runs', async (_, failing) => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const token = organizer.accessToken;
    const { eventId, tierIds } = await eventOnSale(supergraph, token, [
      { name: 'Floor', priceCents: 1_000, currency: 'EUR', capacity: 50, maxPerOrder: 10 },
    ]);
    const answer = await supergraph.request(
      `mutation ($eventId: ID!, $tierId: ID!) {
        ${failing}
        renamed: updateEvent(id: $eventId, input: { title: "Renamed behind a failure" }) { id }
        held: holdTickets(tierId: $tierId, quantity: 2) { id }
      }`,
      { eventId, tierId: tierIds[0] },
      { token },
    );
    expect(answer.data).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors?.[0]).toMatchObject({
      path: [failing.slice(0, failing.indexOf(':'))],
      extensions: { code: 'BAD_USER_INPUT' },
    });
    const after = await supergraph.request<{
      event: { title: string };
      myHolds: unknown[];
    }>(
      'query ($eventId: ID!) { event(id: $eventId) { title } myHolds { id } }',
      { eventId },
      {
        token,
      },
    );
    expect(after.data).toEqual({ event: { title: 'On sale' }, myHolds: [] });
  });

  it('stops at one whose subgraph does not answer: nothing after it runs', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const token = organizer.accessToken;
    const { eventId, tierIds } = await eventOnSale(supergraph, token, [
      { name: 'Floor', priceCents: 1_000, currency: 'EUR', capacity: 50, maxPerOrder: 10 },
    ]);
    const gateway = await gatewayOver(
      supergraph,
      { EVENTS_URL: `http://127.0.0.1:${await freePort()}/graphql` },
      createLogger('gateway-without-events', 'silent'),
    );
    try {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: `mutation ($eventId: ID!, $tierId: ID!) {
            rename: updateEvent(id: $eventId, input: { title: "Renamed" }) { id }
            held: holdTickets(tierId: $tierId, quantity: 2) { id }
          }`,
          variables: { eventId, tierId: tierIds[0] },
        }),
      });
      expect(await response.json()).toEqual({
        errors: [
          {
            message: expect.any(String),
            path: ['rename'],
            extensions: { code: 'SERVICE_UNAVAILABLE' },
          },
        ],
        data: null,
      });
    } finally {
      await gateway.stop();
    }
    const after = await supergraph.request('{ myHolds { id } }', {}, { token });
    expect(after.data).toEqual({ myHolds: [] });
  });

  it('runs every field when none fails, each in its subgraph, in order', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    const token = organizer.accessToken;
    const { eventId, tierIds } = await eventOnSale(supergraph, token, [
      { name: 'Floor', priceCents: 1_000, currency: 'EUR', capacity: 50, maxPerOrder: 10 },
    ]);
    const answer = await supergraph.request<{
      first: { quantity: number };
      renamed: { title: string };
      second: { quantity: number };
    }>(
      `mutation ($eventId: ID!, $tierId: ID!) {
        first: holdTickets(tierId: $tierId, quantity: 1) { quantity }
        renamed: updateEvent(id: $eventId, input: { title: "Renamed" }) { title }
        second: holdTickets(tierId: $tierId, quantity: 2) { quantity }
      }`,
      { eventId, tierId: tierIds[0] },
      { token },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({
      first: { quantity: 1 },
      renamed: { title: 'Renamed' },
      second: { quantity: 2 },
    });
  });
});
