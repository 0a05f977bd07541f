// Safelist mode: the gateway runs only the operations in the committed manifest
// (clients/persisted-query-manifest.json), sent as text or by id, and refuses anything else
// before planning it: no subgraph hears of it.
import { readManifest } from '@ticketing/gateway/safelist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { codeOf } from './operations.ts';

let supergraph: Supergraph;
const manifest = readManifest();
const eventList = manifest.operations.find((operation) => operation.name === 'EventList');

beforeAll(async () => {
  supergraph = await startSupergraph({ env: { SAFELIST: 'true' } });
});
afterAll(async () => {
  await supergraph?.stop();
});

async function send(body: Record<string, unknown>) {
  const url = supergraph.gatewayUrls[0] as string;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, ...(await response.json()) };
}

const byId = (id: string) => ({ extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
/** Statements the subgraphs sent for requests: not the outbox relay's or the hold sweeper's. */
const subgraphStatements = () =>
  [supergraph.sql.users, supergraph.sql.events, supergraph.sql.tickets]
    .flat()
    .filter(({ sql }) => !sql.includes('outbox_messages') && !sql.includes('WITH expired AS'))
    .length;

describe('in safelist mode, the gateway', () => {
  it('runs a listed operation sent as its text', async () => {
    const result = await send({ query: eventList?.body, variables: { first: 2 } });
    expect(result.errors).toBeUndefined();
    expect(result.data.events.totalCount).toBe(0);
  });

  it('runs a listed operation sent by its id alone', async () => {
    const result = await send({ ...byId(eventList?.id as string), variables: { first: 2 } });
    expect(result.errors).toBeUndefined();
    expect(result.data.events).toMatchObject({ totalCount: 0, edges: [] });
  });

  it('refuses an operation that is not listed, before any subgraph runs it', async () => {
    const before = subgraphStatements();
    const result = await send({ query: '{ events(first: 1) { totalCount } }' });
    expect(result.status).toBe(400);
    expect(codeOf(result)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    expect(result.data).toBeUndefined();
    expect(subgraphStatements()).toBe(before);
  });

  it('refuses a listed operation whose text was changed', async () => {
    const result = await send({ query: `${eventList?.body}\n`, variables: { first: 2 } });
    expect(codeOf(result)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
  });

  it('lets no client register an operation as a persisted query', async () => {
    const query = '{ events(first: 1) { totalCount } }';
    const { createHash } = await import('node:crypto');
    const id = createHash('sha256').update(query).digest('hex');
    const registered = await send({ query, ...byId(id) });
    expect(codeOf(registered)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    const replayed = await send(byId(id));
    expect(codeOf(replayed)).toBe('PERSISTED_QUERY_NOT_FOUND');
  });
});
