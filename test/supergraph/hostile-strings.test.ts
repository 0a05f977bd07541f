// Strings a client should not be able to slip past the API: text that PostgreSQL would
// store altered, and names that display as something else or as nothing. Each is refused
// with BAD_USER_INPUT naming the field, and nothing is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from '../documents.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  eventOnSale,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let buyer: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  [organizer, buyer] = await Promise.all([
    signUp(supergraph, { accountType: 'ORGANIZER' }),
    signUp(supergraph),
  ]);
});
afterAll(async () => {
  await supergraph?.stop();
});

const signUpMutation =
  'mutation ($input: SignUpInput!) { signUp(input: $input) { user { id name } } }';

describe('an unpaired surrogate (JSON can carry one; UTF-8 cannot)', () => {
  it('in a purchase key is refused, not stored as U+FFFD where another key collides with it', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const [tierId] = tierIds;
    for (const idempotencyKey of ['surrogate-\uD800', 'surrogate-\uDBFF']) {
      const result = await supergraph.request(
        purchaseMutation,
        { input: { tierId, quantity: 1, idempotencyKey } },
        { token: buyer.accessToken },
      );
      expect(result.status).toBe(400);
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.idempotencyKey',
      });
    }
    expect(
      await supergraph.databases.tickets.order.count({ where: { buyerId: buyer.user.id } }),
    ).toBe(0);
  });

  it('in a name is refused, not stored altered', async () => {
    const email = uniqueEmail('surrogate');
    const result = await supergraph.request(signUpMutation, {
      input: { email, password: strongPassword, name: 'Ann \uDC00' },
    });
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.name',
    });
    expect(await supergraph.databases.users.user.count({ where: { email } })).toBe(0);
  });
});
