// The key the web app holds seats with (clients/web/src/hold-key.ts): the same for a press
// again of the same hold, until one is made.
import { describe, expect, it } from 'vitest';
import { HoldKey } from '../clients/web/src/hold-key.ts';

describe('HoldKey', () => {
  it('is the same for the same tier and quantity until a hold is made', () => {
    const keys = new HoldKey();
    const first = keys.for('tier-a', 2);
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys.for('tier-a', 2)).toBe(first);
    keys.made();
    expect(keys.for('tier-a', 2)).not.toBe(first);
  });

  it('is another for another tier or quantity', () => {
    const keys = new HoldKey();
    const first = keys.for('tier-a', 2);
    expect(keys.for('tier-a', 3)).not.toBe(first);
    expect(keys.for('tier-b', 3)).not.toBe(keys.for('tier-a', 3));
  });
});
