// Bad input names the argument at fault. An error refusing a request because of one
// argument's value (an id that names nothing the caller may see, a tier sold out, a hold
// gone) says in `extensions.field` which argument, as the client wrote its path, so that a
// client can show the refusal beside the field rather than guess it from the message. A
// query field that answers null for an unknown id is not refused, and names nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, logIn, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let adminToken: string;

const adminEmail = 'error-fields-admin@example.com';
const adminPassword = 'the admin password of error fields';

beforeAll(async () => {
  supergraph = await startSupergraph({
    env: { BOOTSTRAP_ADMIN_EMAIL: adminEmail, BOOTSTRAP_ADMIN_PASSWORD: adminPassword },
  });
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  adminToken = (await logIn(supergraph, adminEmail, adminPassword)).data?.logIn
    .accessToken as string;
});
afterAll(async () => {
  await supergraph?.stop();
});

/** A refusal: the document, its variables, who sends it, and what its error must say. */
interface Refusal {
  document: string;
  variables: () => Record<string, unknown>;
  token: () => string;
  code: string;
  field: string;
}

async function refused({ document, variables, token }: Refusal) {
  const result = await supergraph.request(document, variables(), { token: token() });
  return result.errors?.[0]?.extensions;
}

/** An id no row has. */
const unknown = () => randomUUID();

describe('the events service names the id of an event it does not find', () => {
  const cases: Record<string, Refusal> = {
    updateEvent: {
      document: 'mutation ($id: ID!) { updateEvent(id: $id, input: { title: "T" }) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    publishEvent: {
      document: 'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    cancelEvent: {
      document: 'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
      variables: () => ({ id: unknown() }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
    deleteEvent: {
      document: 'mutation ($id: ID!) { deleteEvent(id: $id) }',
      variables: () => ({ id: 'not-a-uuid' }),
      token: () => organizer.accessToken,
      code: 'NOT_FOUND',
      field: 'id',
    },
  };
  it.each(Object.keys(cases))('%s', async (name) => {
    const refusal = cases[name] as Refusal;
    expect(await refused(refusal)).toMatchObject({ code: refusal.code, field: refusal.field });
  });

  it('answers event(id) for an unknown id with null, not an error', async () => {
    const result = await supergraph.request('query ($id: ID!) { event(id: $id) { id } }', {
      id: unknown(),
    });
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ event: null });
  });
});

describe('the users service names the id of an account it does not find', () => {
  it('setUserRole', async () => {
    const refusal: Refusal = {
      document: 'mutation ($userId: ID!) { setUserRole(userId: $userId, role: ORGANIZER) { id } }',
      variables: () => ({ userId: unknown() }),
      token: () => adminToken,
      code: 'NOT_FOUND',
      field: 'userId',
    };
    expect(await refused(refusal)).toMatchObject({ code: refusal.code, field: refusal.field });
  });

  it('answers user(id) for an unknown id with null, not an error', async () => {
    const result = await supergraph.request(
      'query ($id: ID!) { user(id: $id) { id } }',
      { id: unknown() },
      { token: adminToken },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ user: null });
  });
});
