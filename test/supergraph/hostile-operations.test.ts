// Operations a client could send to make the gateway fail on its own: an operation name the
// document does not have, or an operation type the API does not offer. Each is the
// client's error (HTTP 400, a stable code), never a server error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';

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
