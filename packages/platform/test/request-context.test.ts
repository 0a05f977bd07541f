import { describe, expect, it } from 'vitest';
import {
  currentRequestId,
  isOperationalPath,
  requestIdFrom,
  runWithRequestId,
} from '../src/request-context.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('adopts a short token: NGINX’s hex ids, UUIDs, and ids other tools make', () => {
    for (const id of [
      'a3f1c2d4e5b60718293a4b5c6d7e8f90',
      '0b8e2f6c-3d1a-4e7b-9c5d-2a1f0e9d8c7b',
      'checkout:web/42@edge.example+retry=1',
      'x'.repeat(128),
    ]) {
      expect(requestIdFrom(id)).toBe(id);
    }
  });

  it('makes a new id for a missing, repeated, overlong or log-forging header', () => {
    for (const header of [
      undefined,
      '',
      ['one', 'two'],
      'x'.repeat(129),
      'has spaces',
      'quote"breaks"json',
      'line\nbreak',
    ]) {
      expect(requestIdFrom(header)).toMatch(uuid);
    }
  });
});

describe('the request id scope', () => {
  it('is the id of the request being handled, across awaits, and nothing outside one', async () => {
    expect(currentRequestId()).toBeUndefined();
    const seen = await new Promise<(string | undefined)[]>((resolve) => {
      runWithRequestId('outer', async () => {
        const before = currentRequestId();
        await new Promise((wake) => setTimeout(wake, 1));
        resolve([before, currentRequestId()]);
      });
    });
    expect(seen).toEqual(['outer', 'outer']);
    expect(currentRequestId()).toBeUndefined();
  });
});

describe('isOperationalPath', () => {
  it('is true for health probes and metrics scrapes only', () => {
    expect(['/health/live', '/health/ready', '/metrics'].map(isOperationalPath)).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      ['/graphql', '/graphql?query={a}', '/.well-known/jwks.json', undefined].map(
        isOperationalPath,
      ),
    ).toEqual([false, false, false, false]);
  });
});
