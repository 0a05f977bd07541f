// The trust boundary: subgraphs serve only requests that the gateway signed for them, for
// that exact body, recently, and once. Each subgraph has its own secret from configuration.
import { randomUUID } from 'node:crypto';
import type { Identity } from '@ticketing/auth';
import {
  assertionHeader,
  assertionMaxAgeSeconds,
  type SubgraphName,
  signedSubgraphHeaders,
} from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, meQuery, signUp } from './operations.ts';

/** Distinct secrets, as a deployment would configure them (not the development defaults). */
const secrets: Record<SubgraphName, string> = {
  users: 'users-secret-for-the-trust-boundary-test-0123456789',
  events: 'events-secret-for-the-trust-boundary-test-0123456789',
  tickets: 'tickets-secret-for-the-trust-boundary-test-0123456789',
};

let supergraph: Supergraph;
let session: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: {
      USERS_SUBGRAPH_SECRET: secrets.users,
      EVENTS_SUBGRAPH_SECRET: secrets.events,
      TICKETS_SUBGRAPH_SECRET: secrets.tickets,
    },
  });
  session = await signUp(supergraph, { name: 'Caller' });
});
afterAll(async () => {
  await supergraph?.stop();
});

const subgraphs: SubgraphName[] = ['users', 'events', 'tickets'];
const serviceQuery = JSON.stringify({ query: '{ _service { sdl } }' });
const entitiesQuery = JSON.stringify({
  query: 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id email } } }',
  variables: { r: [{ __typename: 'User', id: randomUUID() }] },
});

async function post(subgraph: SubgraphName, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(supergraph.subgraphUrls[subgraph], {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) };
}

const sign = (
  subgraph: SubgraphName,
  body: string,
  options: { secret?: string; issuedAt?: number; viewer?: Identity } = {},
) =>
  signedSubgraphHeaders({
    secret: options.secret ?? secrets[subgraph],
    subgraph,
    body,
    viewer: options.viewer ?? null,
    ...(options.issuedAt === undefined ? {} : { issuedAt: options.issuedAt }),
  });

describe('a request that bypasses the gateway', () => {
  it.each(subgraphs)('to %s is refused, _service included', async (subgraph) => {
    const result = await post(subgraph, serviceQuery);
    expect(result.status).toBe(401);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_REQUIRED');
    expect(result.text).not.toContain('type Query');
  });

  it('is refused for _entities even with a valid access token', async () => {
    const result = await post('users', entitiesQuery, {
      authorization: `Bearer ${session.accessToken}`,
    });
    expect(result.status).toBe(401);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_REQUIRED');
    expect(result.body.data).toBeUndefined();
  });

  // The body was read before the assertion was looked for: a client without one learnt
  // how the subgraph parses bodies (400 for one that is not JSON, 413 over 1 MB, 415 for an
  // encoding it does not read), and had a compressed one inflated, before it was refused.
  it.each([
    ['that is not JSON', '{"query":', {}],
    ['over 1 MB', `{"query":"${' '.repeat(2 ** 20)}"}`, {}],
    ['in an encoding it does not read', serviceQuery, { 'content-encoding': 'compress' }],
    [
      'in a charset other than UTF-8',
      serviceQuery,
      { 'content-type': 'application/json; charset=utf-16' },
    ],
  ])('is refused as unsigned, with a body %s', async (_, body, headers) => {
    for (const [assertion, status, code] of [
      [undefined, 401, 'GATEWAY_SIGNATURE_REQUIRED'],
      ['not.an.assertion', 403, 'GATEWAY_SIGNATURE_INVALID'],
    ] as const) {
      const result = await post('events', body, {
        ...headers,
        ...(assertion ? { [assertionHeader]: assertion } : {}),
      });
      expect(result.status).toBe(status);
      expect(codeOf(result.body)).toBe(code);
    }
  });

  it('leaves the health endpoints open', async () => {
    for (const subgraph of subgraphs) {
      for (const path of ['/health/live', '/health/ready']) {
        const response = await fetch(new URL(path, supergraph.subgraphUrls[subgraph]));
        expect(response.status, `${subgraph} ${path}`).toBe(200);
      }
    }
  });
});

describe('a signed request', () => {
  it('is served when signed with the subgraph’s own secret', async () => {
    const result = await post('events', serviceQuery, await sign('events', serviceQuery));
    expect(result.status).toBe(200);
    expect(result.body.data._service.sdl).toContain('type Event');
  });

  it('is refused when signed with another subgraph’s secret', async () => {
    const headers = await sign('events', serviceQuery, { secret: secrets.tickets });
    const result = await post('events', serviceQuery, headers);
    expect(result.status).toBe(403);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_INVALID');
  });

  it('is refused at another subgraph than the one it was signed for', async () => {
    const result = await post('tickets', serviceQuery, await sign('events', serviceQuery));
    expect(result.status).toBe(403);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_INVALID');
  });

  it('is refused at another subgraph even where the secrets are the same', async () => {
    const headers = await sign('events', serviceQuery, { secret: secrets.tickets });
    const result = await post('tickets', serviceQuery, headers);
    expect(result.status).toBe(403);
    expect(result.body.errors[0].message).toMatch(/another subgraph/);
  });

  it('is refused with another body than the one signed', async () => {
    const headers = await sign('users', serviceQuery);
    const result = await post('users', entitiesQuery, headers);
    expect(result.status).toBe(403);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_INVALID');
    expect(result.body.errors[0].message).toMatch(/not valid for this subgraph and request/);
  });

  it('is refused when replayed, inside the window', async () => {
    const headers = await sign('tickets', serviceQuery);
    expect((await post('tickets', serviceQuery, headers)).status).toBe(200);
    const replay = await post('tickets', serviceQuery, headers);
    expect(replay.status).toBe(403);
    expect(replay.body.errors[0].message).toMatch(/already used/);
  });

  it('is refused when older than the window', async () => {
    const issuedAt = Date.now() - (assertionMaxAgeSeconds + 1) * 1000;
    const result = await post(
      'users',
      serviceQuery,
      await sign('users', serviceQuery, { issuedAt }),
    );
    expect(result.status).toBe(403);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_INVALID');
    expect(result.body.errors[0].message).toMatch(/expired/);
  });

  it('with GET is read as a gateway’s is: bytes that are not UTF-8 are a 400 BAD_REQUEST', async () => {
    // The gateway sends POST only; a GET signed for its empty body is served, and reads its
    // parameters under the same rules as at the gateway.
    const get = async (search: string) => {
      const response = await fetch(new URL(search, supergraph.subgraphUrls.events), {
        headers: { ...(await sign('events', '')), 'apollo-require-preflight': 'true' },
      });
      return { status: response.status, body: await response.json() };
    };
    expect(await get('?query=%7B__typename%7D')).toEqual({
      status: 200,
      body: { data: { __typename: 'Query' } },
    });
    const refused = await get('?query=%7B__typename%7D%FF');
    expect(refused.status).toBe(400);
    expect(codeOf(refused.body)).toBe('BAD_REQUEST');
  });

  it('is refused when its header is garbage', async () => {
    const result = await post('users', serviceQuery, { [assertionHeader]: 'not.a.jwt' });
    expect(result.status).toBe(403);
    expect(codeOf(result.body)).toBe('GATEWAY_SIGNATURE_INVALID');
  });
});

describe('through the gateway', () => {
  it('the subgraphs see the caller the gateway verified, and only that', async () => {
    const result = await supergraph.request<{ me: { id: string } }>(
      meQuery,
      {},
      {
        token: session.accessToken,
      },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.me.id).toBe(session.user.id);
  });

  it('a client cannot smuggle an assertion or a client address of its own', async () => {
    // Validly signed for the users subgraph, claiming to be the signed-up caller.
    const forged = await sign('users', JSON.stringify({ query: meQuery }), {
      viewer: { userId: session.user.id, role: 'CUSTOMER', sessionId: randomUUID() },
    });
    const result = await supergraph.request<{ me: unknown }>(
      meQuery,
      {},
      {
        headers: { ...forged, 'x-client-address': '203.0.113.7' },
      },
    );
    // The gateway signs its own assertion (anonymous: no access token) and never forwards
    // the client's.
    expect(result.errors).toBeUndefined();
    expect(result.data?.me).toBeNull();
  });
});

describe('identical queries in flight at once', () => {
  it('are shared only between requests of the same caller', async () => {
    const other = await signUp(supergraph, { name: 'Other caller' });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const caller = i % 2 === 0 ? session : other;
        return supergraph
          .request<{ me: { id: string } }>(meQuery, {}, { token: caller.accessToken })
          .then((result) => ({ result, caller }));
      }),
    );
    for (const { result, caller } of results) {
      expect(result.errors).toBeUndefined();
      expect(result.data?.me.id).toBe(caller.user.id);
    }
  });
});
