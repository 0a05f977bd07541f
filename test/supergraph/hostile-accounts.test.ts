// Accounts against a hostile neighbour: what one user can do to another's account with
// nothing but their own session and the other's public id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { signUp, strongPassword } from './operations.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  await supergraph?.stop();
});

describe('the address a deleted account is left with', () => {
  // A deleted account keeps its row as deleted-<id>@deleted.invalid; the id is public (an
  // organizer's, on every event). Whoever held that address first would make the
  // deletion fail on the unique email, and the account could never be deleted.
  it('cannot be taken at sign-up, nor by a profile change, so that deletion always works', async () => {
    const victim = await signUp(supergraph);
    const squatter = await signUp(supergraph);
    const tombstone = `deleted-${victim.user.id}@deleted.invalid`;

    const signedUp = await supergraph.request(
      'mutation ($input: SignUpInput!) { signUp(input: $input) { user { id } } }',
      { input: { email: tombstone, password: strongPassword, name: 'Squatter' } },
    );
    expect(signedUp.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.email',
    });

    const changed = await supergraph.request(
      'mutation ($input: UpdateProfileInput!) { updateProfile(input: $input) { email } }',
      { input: { email: tombstone.toUpperCase(), currentPassword: strongPassword } },
      { token: squatter.accessToken },
    );
    expect(changed.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'input.email',
    });
    expect(await supergraph.databases.users.user.count({ where: { email: tombstone } })).toBe(0);

    const deleted = await supergraph.request(
      'mutation ($password: String!) { deleteAccount(password: $password) }',
      { password: strongPassword },
      { token: victim.accessToken },
    );
    expect(deleted.data).toEqual({ deleteAccount: true });
  });
});
