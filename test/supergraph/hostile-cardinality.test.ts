// What a client chooses, by the thousand, and what it may cost the services: the series
// each one's /metrics exposes, and the state a gateway keeps. Distinct paths, methods,
// addresses (through a trusted proxy's X-Forwarded-For), tokens, ids, search strings and
// errors make no series of their own and no entry of their own; what a client names is
// never a label value.
import { createLogger, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';

let supergraph: Supergraph;
let gateway: RunningService;

beforeAll(async () => {
  supergraph = await startSupergraph();
  gateway = await gatewayOver(supergraph, {}, createLogger('gateway-under-test', 'silent'));
});
afterAll(async () => {
  await gateway?.stop();
  await supergraph?.stop();
});

describe('a trusted proxy’s X-Forwarded-For that names no address', () => {
  // The gateway believes X-Forwarded-For from TRUSTED_PROXIES (loopback here) and takes
  // its right-most untrusted entry as the client's address, for the users service's
  // throttles: a proxy that passes the client's header on as sent passes on whatever it
  // holds.
  const eventsFrom = (forwardedFor: string) =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ query: '{ events(first: 1) { edges { node { id } } } }' }),
    });

  it('is refused with 400 BAD_REQUEST naming the header, not taken as an address', async () => {
    for (const forwardedFor of [
      'x'.repeat(200),
      '203.0.113.7, not-an-address',
      `${'1'.repeat(60)}`,
    ]) {
      const response = await eventsFrom(forwardedFor);
      expect({ forwardedFor, status: response.status }).toEqual({ forwardedFor, status: 400 });
      const body = (await response.json()) as {
        errors: { message: string; extensions: unknown }[];
      };
      expect(body.errors).toEqual([
        {
          message: expect.stringContaining('X-Forwarded-For'),
          extensions: { code: 'BAD_REQUEST' },
        },
      ]);
    }
  });

  it('names an address when its right-most untrusted entry is one', async () => {
    for (const forwardedFor of [
      '203.0.113.7',
      'not-an-address, 203.0.113.7',
      '2001:db8::7',
      '::ffff:203.0.113.7',
    ]) {
      const response = await eventsFrom(forwardedFor);
      expect({ forwardedFor, body: await response.json() }).toEqual({
        forwardedFor,
        body: { data: { events: { edges: expect.any(Array) } } },
      });
    }
  });
});
