// Failures behind the gateway reach clients as a stable code, never as a subgraph's URL,
// HTTP status or body; the detail is in the gateway's log.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';
import { codeOf, publishedEvent, signUp } from './operations.ts';

let supergraph: Supergraph;
const extraGateways: RunningService[] = [];
const fakeSubgraphs: Server[] = [];

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  for (const gateway of extraGateways) await gateway.stop();
  for (const server of fakeSubgraphs) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await supergraph?.stop();
});

/** A gateway over the test supergraph with `env` changed, and the log lines it writes. */
async function gatewayWith(env: NodeJS.ProcessEnv) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('gateway-under-test', 'info', {
    write: (line: string) => {
      lines.push(JSON.parse(line));
    },
  });
  const gateway = await gatewayOver(supergraph, env, logger);
  extraGateways.push(gateway);
  return { gateway, lines };
}

async function post(url: string, query: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) };
}

const ticketQuery = '{ ticket(id: "4f9a2c56-0a4e-4e57-8d0b-6bde4c1f1d11") { id } }';

describe('an error behind the gateway', () => {
  it('from an unreachable subgraph is SERVICE_UNAVAILABLE, detail only in the log', async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}/graphql`;
    const { gateway, lines } = await gatewayWith({ TICKETS_URL: deadUrl });
    const result = await post(gateway.url, ticketQuery);
    expect(codeOf(result.body)).toBe('SERVICE_UNAVAILABLE');
    expect(result.body.errors).toHaveLength(1);
    expect(result.text).not.toContain('127.0.0.1');
    expect(result.text).not.toContain('ECONNREFUSED');
    const logged = lines.find((line) => line.msg === 'masked an error as SERVICE_UNAVAILABLE');
    expect(JSON.stringify(logged)).toContain('ECONNREFUSED');
  });

  it('is logged once, as what it was masked as, not also as an unexpected error', async () => {
    // The platform's generic logging wrote each a second time, with its stack, as an
    // "unexpected error": two error lines a failed fetch, for a failure already handled.
    const deadUrl = `http://127.0.0.1:${await freePort()}/graphql`;
    const { gateway, lines } = await gatewayWith({ TICKETS_URL: deadUrl });
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'logged-once' },
      body: JSON.stringify({ query: ticketQuery }),
    });
    expect(codeOf(await response.json())).toBe('SERVICE_UNAVAILABLE');
    const errors = lines.filter(
      (line) => line.requestId === 'logged-once' && Number(line.level) >= 50,
    );
    expect(errors.map((line) => line.msg)).toEqual(['masked an error as SERVICE_UNAVAILABLE']);
  });

  it('from a subgraph that refuses the gateway (a wrong secret) is masked too', async () => {
    const { gateway, lines } = await gatewayWith({
      TICKETS_SUBGRAPH_SECRET: 'not-the-secret-the-tickets-subgraph-has',
    });
    const result = await post(gateway.url, ticketQuery);
    expect(codeOf(result.body)).toBe('SERVICE_UNAVAILABLE');
    expect(result.text).not.toContain('GATEWAY_SIGNATURE');
    expect(result.text).not.toContain(supergraph.subgraphUrls.tickets);
    const logged = lines.find((line) => line.msg === 'masked an error as SERVICE_UNAVAILABLE');
    expect(logged).toMatchObject({ status: 403, url: supergraph.subgraphUrls.tickets });
  });

  it('that a subgraph expected keeps its code and message, not the subgraph’s name', async () => {
    const result = await supergraph.request('{ myTickets { totalCount } }');
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toMatch(/log in/i);
    expect(result.errors?.[0]?.extensions).not.toHaveProperty('serviceName');
  });
});

describe('a request Apollo Server refuses itself', () => {
  // A 400 that the client caused was logged at error level with its stack, as "unexpected
  // error": one line of stack a request, that any client could send in a loop.
  it.each([
    ['an unsupported persisted-query version', { version: 2, sha256Hash: 'a'.repeat(64) }],
    ['a hash that does not match the document', { version: 1, sha256Hash: 'b'.repeat(64) }],
  ])('with %s is not logged as a server error', async (_, persistedQuery) => {
    const { gateway, lines } = await gatewayWith({});
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery } }),
    });
    expect(response.status).toBe(400);
    expect(codeOf(await response.json())).toBe('BAD_REQUEST');
    expect(lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});

/**
 * The URL of a subgraph that answers every request with `answer`, or never answers when
 * `answer` is undefined (until the test's end closes its connections).
 */
async function misbehavingSubgraph(
  answer?: { status: number; contentType: string; body: string } | undefined,
): Promise<string> {
  const server = createServer((request, response) => {
    request.resume();
    if (!answer) return;
    response.writeHead(answer.status, { 'content-type': answer.contentType });
    response.end(answer.body);
  });
  fakeSubgraphs.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

interface PathedError {
  message: string;
  path?: (string | number)[];
  extensions?: Record<string, unknown>;
}

/** Each error's path, in order; every error must be the masked SERVICE_UNAVAILABLE one. */
function unavailablePaths(result: { text: string; body: { errors?: PathedError[] } }) {
  const errors = result.body.errors ?? [];
  for (const error of errors) {
    expect(error).toEqual({
      message: 'A service is unavailable; try again shortly.',
      path: expect.any(Array),
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
  }
  // Nothing about what failed behind the gateway: no subgraph, address or reason.
  expect(result.text).not.toMatch(/subgraph|serviceName|127\.0\.0\.1|ECONNREFUSED|abort/i);
  return errors.map((error) => error.path);
}

const otherTicketId = '5e0b3d67-1b5f-4f68-9e1c-7cef5d2a2e22';
const orderId = '6f1c4e78-2c6a-4a79-8f2d-8d0a6e3b3f33';

describe('a field of a subgraph that gave no answer', () => {
  let deadTickets: Awaited<ReturnType<typeof gatewayWith>>;
  beforeAll(async () => {
    deadTickets = await gatewayWith({
      TICKETS_URL: `http://127.0.0.1:${await freePort()}/graphql`,
    });
  });

  // The failed fetch was one error without `path`: a client could not tell which part of
  // its page failed, nor match the error to the field it asked for.
  it('is named by its path: a root query field', async () => {
    const result = await post(deadTickets.gateway.url, ticketQuery);
    expect(unavailablePaths(result)).toEqual([['ticket']]);
    expect(result.body.data).toEqual({ ticket: null });
  });

  it('is named once per root field, with the data of live subgraphs kept', async () => {
    const logged = () =>
      deadTickets.lines.filter((line) => line.msg === 'masked an error as SERVICE_UNAVAILABLE');
    const loggedBefore = logged().length;
    const result = await post(
      deadTickets.gateway.url,
      `{ ticket(id: "${otherTicketId}") { id } order(id: "${orderId}") { id }
         events(first: 1) { totalCount } }`,
    );
    expect(unavailablePaths(result)).toEqual([['ticket'], ['order']]);
    // One failure, logged once.
    expect(logged().length - loggedBefore).toBe(1);
    expect(result.body.data).toMatchObject({
      ticket: null,
      order: null,
      events: { totalCount: expect.any(Number) },
    });
  });

  it('is named by the alias the client gave it', async () => {
    const result = await post(
      deadTickets.gateway.url,
      `{ mine: ticket(id: "${otherTicketId}") { id } theirs: ticket(id: "${orderId}") { id } }`,
    );
    expect(unavailablePaths(result)).toEqual([['mine'], ['theirs']]);
    expect(result.body.data).toEqual({ mine: null, theirs: null });
  });

  it('is named by its path: a mutation’s root field', async () => {
    const result = await post(
      deadTickets.gateway.url,
      `mutation { hold: holdTickets(tierId: "${orderId}", quantity: 1) { id } }`,
    );
    expect(unavailablePaths(result)).toEqual([['hold']]);
    expect(result.body.data).toBeNull();
  });

  it('is named at each item of a list whose entities it was to complete', async () => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    await publishedEvent(supergraph, organizer.accessToken, 'Paths');
    await publishedEvent(supergraph, organizer.accessToken, 'Paths again');
    const result = await post(
      deadTickets.gateway.url,
      '{ events(first: 3) { edges { node { title tiers: ticketTiers { id } } } } }',
    );
    const edges = result.body.data.events.edges as { node: { title: string } }[];
    expect(edges.length).toBeGreaterThanOrEqual(2);
    for (const edge of edges) expect(edge.node).toEqual({ title: expect.any(String), tiers: null });
    expect(unavailablePaths(result)).toEqual(
      edges.map((_, index) => ['events', 'edges', index, 'node', 'tiers']),
    );
  });

  it('is named at the nearest field that is null when a non-null field failed', async () => {
    // The users subgraph gives an organizer's (non-null) name: without it the organizer
    // itself is null, and that is the field named.
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    await publishedEvent(supergraph, organizer.accessToken, 'Organized');
    const { gateway } = await gatewayWith({
      USERS_URL: `http://127.0.0.1:${await freePort()}/graphql`,
    });
    const result = await post(
      gateway.url,
      '{ events(first: 2) { edges { node { title organizer { name } } } } }',
    );
    const edges = result.body.data.events.edges as { node: unknown }[];
    for (const edge of edges)
      expect(edge.node).toEqual({ title: expect.any(String), organizer: null });
    expect(unavailablePaths(result)).toEqual(
      edges.map((_, index) => ['events', 'edges', index, 'node', 'organizer']),
    );
  });

  it.each([
    ['does not answer in time', undefined],
    ['answers an HTTP error', { status: 502, contentType: 'text/html', body: '<h1>Bad</h1>' }],
  ])('is named by its path when the subgraph %s', async (_, answer) => {
    const { gateway } = await gatewayWith({
      TICKETS_URL: await misbehavingSubgraph(answer),
      SUBGRAPH_TIMEOUT_MS: '300',
    });
    const result = await post(
      gateway.url,
      `{ ticket(id: "${otherTicketId}") { id } events(first: 1) { totalCount } }`,
    );
    expect(unavailablePaths(result)).toEqual([['ticket']]);
    expect(result.body.data.events).toEqual({ totalCount: expect.any(Number) });
  });
});

describe('a subgraph that answers something other than GraphQL', () => {
  // A body that is not JSON was INTERNAL_SERVER_ERROR (an error without a code), and JSON
  // with neither data nor errors left the fields null with no error at all: the subgraph gave
  // no answer, as much as one that is down.
  it.each([
    ['malformed JSON', { status: 200, contentType: 'application/json', body: '{"da' }],
    ['a page that is not JSON', { status: 200, contentType: 'text/html', body: '<h1>Hi</h1>' }],
    ['JSON without data or errors', { status: 200, contentType: 'application/json', body: '{}' }],
  ])('(%s) is SERVICE_UNAVAILABLE at the fields it was to give', async (_, answer) => {
    const { gateway, lines } = await gatewayWith({
      TICKETS_URL: await misbehavingSubgraph(answer),
    });
    const result = await post(
      gateway.url,
      `{ ticket(id: "${otherTicketId}") { id } events(first: 1) { totalCount } }`,
    );
    expect(unavailablePaths(result)).toEqual([['ticket']]);
    expect(result.body.data.events).toEqual({ totalCount: expect.any(Number) });
    expect(lines.map((line) => line.msg)).toContain('masked an error as SERVICE_UNAVAILABLE');
  });
});

describe('a subgraph error that names no field the gateway can place', () => {
  // An error at `_entities` itself reached clients at a path through the query plan
  // (["events","edges","@","node","_entities"]) with an INTERNAL_SERVER_ERROR without path
  // besides; an error without path, without one. Each is now at the fields it left null.
  const unavailable = {
    message: 'The database is unavailable.',
    extensions: { code: 'SERVICE_UNAVAILABLE' },
  };
  it.each([
    [
      'at its entities',
      { data: { _entities: null }, errors: [{ ...unavailable, path: ['_entities'] }] },
    ],
    ['without a path', { data: null, errors: [unavailable] }],
  ])('(%s) is at each field of each item it left null', async (_, body) => {
    const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
    await publishedEvent(supergraph, organizer.accessToken, 'Placed');
    const { gateway } = await gatewayWith({
      TICKETS_URL: await misbehavingSubgraph({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify(body),
      }),
    });
    const result = await post(
      gateway.url,
      '{ events(first: 2) { edges { node { title ticketTiers { id } } } } }',
    );
    const edges = result.body.data.events.edges as unknown[];
    expect(result.body.errors).toEqual(
      edges.map((_, index) => ({
        ...unavailable,
        path: ['events', 'edges', index, 'node', 'ticketTiers'],
      })),
    );
  });

  it('(without a path, at the root) is at each root field it left null', async () => {
    const { gateway } = await gatewayWith({
      TICKETS_URL: await misbehavingSubgraph({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ data: null, errors: [unavailable] }),
      }),
    });
    const result = await post(
      gateway.url,
      `{ mine: ticket(id: "${otherTicketId}") { id } order(id: "${orderId}") { id } }`,
    );
    expect(result.body).toEqual({
      data: { mine: null, order: null },
      errors: [
        { ...unavailable, path: ['mine'] },
        { ...unavailable, path: ['order'] },
      ],
    });
  });
});
