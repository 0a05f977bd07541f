// Failures behind the gateway reach clients as a stable code, never as a subgraph's URL,
// HTTP status or body; the detail is in the gateway's log.
import { startGateway } from '@ticketing/gateway/main';
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import { type Supergraph, startSupergraph, subgraphsOf } from './harness.ts';
import { codeOf } from './operations.ts';

let supergraph: Supergraph;
const extraGateways: RunningService[] = [];

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  for (const gateway of extraGateways) await gateway.stop();
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
  const gateway = await startGateway(
    {
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      DRAIN_DEADLINE_MS: '0',
      ...subgraphsOf(supergraph),
      ...env,
    },
    logger,
  );
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
