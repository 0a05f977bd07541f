// The start-time rule of the gateway assertion's check, against a host clock that steps.
import { describe, expect, it } from 'vitest';
import {
  assertionHeader,
  assertionMaxAgeSeconds,
  GatewayAssertionVerifier,
  signedSubgraphHeaders,
} from '../src/gateway-assertion.ts';

const secret = 'users-secret-for-the-assertion-test-0123456789abcdef';
const body = JSON.stringify({ query: '{ _service { sdl } }' });
const startedAt = Date.parse('2026-12-06T12:00:00Z');
const windowMs = assertionMaxAgeSeconds * 1000;

/** A verifier started at `startedAt`, with a monotonic clock the test moves. */
function verifierWithUptime() {
  let uptimeMs = 0;
  const verifier = new GatewayAssertionVerifier('users', secret, {
    startedAt,
    monotonicNow: () => uptimeMs,
  });
  return { verifier, runFor: (ms: number) => (uptimeMs += ms) };
}

const assertionIssuedAt = (issuedAt: number) =>
  signedSubgraphHeaders({ secret, subgraph: 'users', body, viewer: null, issuedAt })[
    assertionHeader
  ];

describe('an assertion issued before the subgraph started', () => {
  it('is refused while it could have been used before the start', async () => {
    const { verifier, runFor } = verifierWithUptime();
    runFor(1000);
    await expect(
      verifier.verify(assertionIssuedAt(startedAt - 500), body, startedAt + 1000),
    ).rejects.toThrow('issued before this service started');
  });

  it('is refused as expired once the start is further back than an assertion lives', async () => {
    const { verifier, runFor } = verifierWithUptime();
    runFor(windowMs + 1000);
    await expect(
      verifier.verify(assertionIssuedAt(startedAt - 500), body, startedAt + windowMs + 1000),
    ).rejects.toThrow('expired');
  });
});

describe('a host clock stepped back after the start', () => {
  // Ten minutes back, a minute after the start: a gateway on that host signs with the
  // stepped clock, and so does every request's check.
  const steppedBack = startedAt + 60_000 - 10 * 60_000;

  it('does not make every request look older than the subgraph', async () => {
    const { verifier, runFor } = verifierWithUptime();
    runFor(60_000);
    await expect(
      verifier.verify(assertionIssuedAt(steppedBack), body, steppedBack),
    ).resolves.toMatchObject({ viewer: null });
  });

  it('still refuses an assertion used twice', async () => {
    const { verifier, runFor } = verifierWithUptime();
    runFor(60_000);
    const assertion = assertionIssuedAt(steppedBack);
    await verifier.verify(assertion, body, steppedBack);
    await expect(verifier.verify(assertion, body, steppedBack + 10)).rejects.toThrow(
      'already used',
    );
  });
});
