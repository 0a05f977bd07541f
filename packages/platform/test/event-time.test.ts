import { describe, expect, it } from 'vitest';
import { endOf, hasEnded } from '../src/event-time.ts';

const now = new Date('2026-06-01T20:00:00.000Z');
const at = (offsetMs: number) => new Date(now.getTime() + offsetMs);

describe('hasEnded', () => {
  it('is over when its end is exactly now', () => {
    expect(hasEnded({ startsAt: at(-3_600_000), endsAt: now }, now)).toBe(true);
  });

  it('is not over a millisecond before its end', () => {
    expect(hasEnded({ startsAt: at(-3_600_000), endsAt: at(1) }, now)).toBe(false);
  });

  it('is over a millisecond after its end', () => {
    expect(hasEnded({ startsAt: at(-3_600_000), endsAt: at(-1) }, now)).toBe(true);
  });

  it('with no end, is over once it starts, and not before', () => {
    expect(hasEnded({ startsAt: now, endsAt: null }, now)).toBe(true);
    expect(hasEnded({ startsAt: at(1), endsAt: null }, now)).toBe(false);
  });

  it('is not over while it runs: started, its end to come', () => {
    expect(hasEnded({ startsAt: at(-60_000), endsAt: at(60_000) }, now)).toBe(false);
  });

  it('defaults to the clock', () => {
    expect(hasEnded({ startsAt: new Date(Date.now() - 1_000), endsAt: null })).toBe(true);
    expect(hasEnded({ startsAt: new Date(Date.now() + 60_000), endsAt: null })).toBe(false);
  });
});

describe('endOf', () => {
  it('is the end when the event names one, the start otherwise', () => {
    expect(endOf({ startsAt: at(-1_000), endsAt: now })).toEqual(now);
    expect(endOf({ startsAt: now, endsAt: null })).toEqual(now);
  });
});
