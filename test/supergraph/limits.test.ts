// Abusive operations are refused at the gateway before anything is planned or executed, and
// every operation the clients actually send stays within the limits.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { signedSubgraphHeaders, subgraphSecret } from '@ticketing/platform';
import { parse, print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestStatements, type Supergraph, startSupergraph } from './harness.ts';
import { codeOf } from './operations.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  await supergraph?.stop();
});

/** `{ me { organizedEvents { edges { node { organizer { … } } } } } }`, nested to `depth`. */
function nested(depth: number): string {
  let selection = 'id';
  let level = 1;
  while (level < depth) {
    selection = `organizer { organizedEvents(first: 1) { edges { node { ${selection} } } } }`;
    level += 4;
  }
  return `{ events(first: 1) { edges { node { ${selection} } } } }`;
}

describe('operation limits', () => {
  it.each([
    ['8 levels deep', nested(9), 'GRAPHQL_VALIDATION_FAILED', /depth/i],
    [
      '16 aliases',
      `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: me { id }`).join(' ')} }`,
      'GRAPHQL_VALIDATION_FAILED',
      /alias/i,
    ],
    [
      'a cost over the limit',
      `{ ${Array.from({ length: 12 }, (_, i) => `e${i}: events(first: 100) { edges { node { id title venue city startsAt organizer { id name } ticketTiers { id name available priceCents } } } }`).join(' ')} }`,
      'GRAPHQL_VALIDATION_FAILED',
      /cost/i,
    ],
    [
      'an over-long document',
      `{ me { ${Array.from({ length: 1_200 }, () => 'id').join(' ')} } }`,
      'GRAPHQL_PARSE_FAILED',
      /1000 tokens\. Parsing aborted/,
    ],
  ])('refuses %s with %s, before execution', async (_, query, code, message) => {
    supergraph.sql.users.length = 0;
    supergraph.sql.events.length = 0;
    const result = await supergraph.request(query);
    expect(codeOf(result)).toBe(code);
    expect(result.errors?.[0]?.message).toMatch(message);
    // A limit is not a syntax error: the operation parsed.
    if (code === 'GRAPHQL_VALIDATION_FAILED') {
      expect(result.errors?.[0]?.message).not.toMatch(/syntax/i);
    }
    expect(result.data ?? null).toBeNull();
    // Nothing reached a subgraph's database.
    expect(requestStatements([...supergraph.sql.users, ...supergraph.sql.events])).toEqual([]);
  });

  // graphql-armor multiplies a list's cost by its `first` only when the document writes it
  // as a number: the same twelve pages of 100 events with `first` in a variable, or a page of
  // organizers' events left to its default of 20 inside each of them, counted as one item
  // each, and ran.
  const heavyListing = (first: string) =>
    `query ($n: Int) { ${Array.from({ length: 12 }, (_, i) => `e${i}: events(first: ${first}) { edges { node { id title venue city startsAt organizer { id name } ticketTiers { id name available priceCents } } } }`).join(' ')} }`;

  it.each([
    ['each page’s size in a variable', heavyListing('$n'), { n: 100 }],
    [
      'each page’s size in a variable left to its default',
      heavyListing('$n').replace('$n: Int', '$n: Int = 100'),
      {},
    ],
    [
      'a page left to its default inside each item of another',
      '{ events(first: 100) { edges { node { organizer { organizedEvents { totalCount pageInfo { hasNextPage endCursor } edges { cursor } } } } } } }',
      {},
    ],
  ])(
    'counts %s at that size, and refuses it over the cost limit before execution',
    async (_, query, variables) => {
      supergraph.sql.users.length = 0;
      supergraph.sql.events.length = 0;
      const result = await supergraph.request(query, variables);
      expect(result.status).toBe(400);
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
      expect(result.errors?.[0]?.message).toMatch(
        /^Query Cost limit of 20000 exceeded, found [\d.]+\.$/,
      );
      expect(result.data ?? null).toBeNull();
      expect(requestStatements([...supergraph.sql.users, ...supergraph.sql.events])).toEqual([]);
    },
  );

  it('judges the same operation again for each page size it is sent with', async () => {
    const query = heavyListing('$n').replace('$n: Int', '$n: Int = 100');
    for (const [variables, code] of [
      [{ n: 1 }, undefined],
      [{ n: 100 }, 'GRAPHQL_VALIDATION_FAILED'],
      [{ n: 1 }, undefined],
      // Null is no page size (the subgraph refuses it); left out, the default of 100 is.
      [{ n: null }, 'BAD_USER_INPUT'],
      [{}, 'GRAPHQL_VALIDATION_FAILED'],
      [{ n: '100' }, 'BAD_USER_INPUT'],
      [{}, 'GRAPHQL_VALIDATION_FAILED'],
    ] as const) {
      const result = await supergraph.request(query, { ...variables, other: 'ignored' });
      expect(codeOf(result), JSON.stringify(variables)).toBe(code);
    }
  });

  // graphql-armor counted each fragment spread as two levels and each inline fragment as
  // one: this operation, 7 levels of fields written with two fragments and an inline one
  // as clients write them, was refused as 12 deep.
  const withFragments = (leaf: string) =>
    `{ events(first: 1) { edges { node { ... on Event { ...Card } } } } }
     fragment Card on Event { organizer { ...Person } }
     fragment Person on User { organizedEvents(first: 1) { edges { ${leaf} } } }`;

  it('counts the levels of fields, however many fragments hold them', async () => {
    const result = await supergraph.request(withFragments('cursor'));
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ events: { edges: [] } });
  });

  it('refuses 8 levels of fields written with fragments too', async () => {
    const result = await supergraph.request(withFragments('node { id }'));
    expect(codeOf(result)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(result.errors?.[0]?.message).toBe('Query depth limit of 7 exceeded, found 8.');
  });

  it.each(['gateway', 'users'] as const)(
    'answers a malformed JSON body at the %s with 400 and GraphQL errors, no stack, outside production too',
    async (service) => {
      const url = service === 'gateway' ? supergraph.gatewayUrls[0] : supergraph.subgraphUrls.users;
      const body = '{"query": "{ me';
      // A subgraph reads the body of a request that carries an assertion, and no other.
      const signed =
        service === 'users'
          ? signedSubgraphHeaders({
              secret: subgraphSecret('users', {}),
              subgraph: 'users',
              body,
              viewer: null,
            })
          : {};
      const response = await fetch(url as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signed },
        body,
      });
      const text = await response.text();
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/json/);
      expect(JSON.parse(text).errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(text).not.toMatch(/node_modules|\bat \w|<html|\.ts\b/);
    },
  );

  it('answers a syntax error with 400 and GRAPHQL_PARSE_FAILED, not a server error', async () => {
    const result = await supergraph.request('{ me {');
    expect(result.status).toBe(400);
    expect(codeOf(result)).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('lets through every operation the clients send', async () => {
    const dir = resolve(import.meta.dirname, '..', '..', 'clients', 'operations');
    for (const file of readdirSync(dir)) {
      const document = parse(readFileSync(join(dir, file), 'utf8'));
      for (const definition of document.definitions) {
        const operation = print({ kind: document.kind, definitions: [definition] });
        // Pages of the default size, and of the largest a subgraph serves.
        for (const variables of [{}, { first: 100 }]) {
          const result = await supergraph.request(operation, variables);
          // Anything but a limit is fine here: variables are missing, nobody is logged in.
          // graphql-armor's refusals all read "… limit of N …".
          const codes = (result.errors ?? []).map(
            (error) => `${error.extensions?.code}: ${error.message}`,
          );
          expect(
            codes.filter((text) => /limit of \d+/i.test(text)),
            `${file} ${JSON.stringify(variables)}`,
          ).toEqual([]);
        }
      }
    }
  });
});

describe('password work per request', () => {
  const signUpInput = (email: string) =>
    `{ email: "${email}", password: "plum-vortex-harbour-71-quietly", name: "Many", accountType: CUSTOMER }`;

  it.each([
    [
      'two aliased sign-ups',
      `mutation { a: signUp(input: ${signUpInput('alias-a@example.com')}) { user { id } } b: signUp(input: ${signUpInput('alias-b@example.com')}) { user { id } } }`,
    ],
    [
      'a sign-up and a login',
      `mutation { a: signUp(input: ${signUpInput('alias-c@example.com')}) { user { id } } b: logIn(email: "x@example.com", password: "wrong password!") { accessToken } }`,
    ],
    [
      // An email change checks the current password: a third of a second of a core each.
      'two aliased email changes',
      'mutation { a: updateProfile(input: { email: "one@example.com", currentPassword: "plum-vortex-harbour-71-quietly" }) { id } b: updateProfile(input: { email: "two@example.com", currentPassword: "plum-vortex-harbour-71-quietly" }) { id } }',
    ],
    [
      'logins inside fragments',
      'mutation { ...A ... on Mutation { b: logIn(email: "y@example.com", password: "wrong password!") { accessToken } } } fragment A on Mutation { a: logIn(email: "x@example.com", password: "wrong password!") { accessToken } }',
    ],
  ])('refuses %s with PASSWORD_FIELDS_LIMIT, before any is run', async (_, query) => {
    supergraph.sql.users.length = 0;
    const result = await supergraph.request(query);
    expect(result.status).toBe(400);
    expect(codeOf(result)).toBe('PASSWORD_FIELDS_LIMIT');
    expect(result.errors?.[0]?.message).toMatch(/only one of signUp, logIn/);
    expect(result.data ?? null).toBeNull();
    expect(requestStatements(supergraph.sql.users)).toEqual([]);
  });

  it('lets one through', async () => {
    const result = await supergraph.request(
      `mutation { a: signUp(input: ${signUpInput('alias-single@example.com')}) { user { id } } }`,
    );
    expect(result.errors).toBeUndefined();
  });
});
