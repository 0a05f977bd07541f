// New passwords under a flood: once the users service refuses one for a full hashing queue,
// the gateway refuses sign-ups and password changes itself for a second, before planning
// and before the users hop, with the same answer, and lets everything else through.
import { setTimeout as sleep } from 'node:timers/promises';
import { hashingQueues } from '@ticketing/auth';
import { passwordAdmissionMetrics } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GraphQLResult, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  authPayloadFields,
  codeOf,
  logIn,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

let supergraph: Supergraph;
let regular: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  regular = await signUp(supergraph);
});
afterAll(async () => {
  await supergraph?.stop();
});

let addresses = 0;
/** A sign-up under the response key `key`, each from an address of its own (a botnet). */
function signUpFrom(key = 'signUp', email = uniqueEmail('flood')) {
  addresses += 1;
  return supergraph.request(
    `mutation ($input: SignUpInput!) { ${key}: signUp(input: $input) { ${authPayloadFields} } }`,
    { input: { email, password: strongPassword, name: 'Flood', accountType: 'CUSTOMER' } },
    { headers: { 'x-forwarded-for': `203.0.113.${addresses}` } },
  );
}

/** How many new passwords the gateway has refused itself, so far. */
async function refusedAtGateway(): Promise<number> {
  const { values } = await passwordAdmissionMetrics().refused.get();
  return values[0]?.value ?? 0;
}

describe('the admission of new passwords at the gateway', () => {
  it('refuses them for a second after a full-queue refusal, as the users service would, and nothing else', async () => {
    const { concurrency, maxWaiting } = hashingQueues.hashing;
    let firstRefusal: (result: GraphQLResult) => void = () => {};
    const refusedOnce = new Promise<GraphQLResult>((resolve) => {
      firstRefusal = resolve;
    });
    const burst = Array.from({ length: concurrency + maxWaiting + 4 }, () =>
      signUpFrom().then((result) => {
        if (codeOf(result) === 'TOO_MANY_REQUESTS') firstRefusal(result);
        return result;
      }),
    );
    const fromService = await refusedOnce;
    const before = await refusedAtGateway();

    // An aliased sign-up now is refused by the gateway: never written, answered alike.
    const email = uniqueEmail('paused');
    const fromGateway = await signUpFrom('mine', email);
    expect(await refusedAtGateway()).toBe(before + 1);
    expect(fromGateway).toEqual({
      ...fromService,
      errors: [{ ...fromService.errors?.[0], path: ['mine'] }],
    });
    expect(fromGateway.data).toBeNull();
    expect(fromGateway.errors?.[0]?.extensions).toEqual({
      code: 'TOO_MANY_REQUESTS',
      retryAfterSeconds: 1,
    });
    expect(await supergraph.databases.users.user.findUnique({ where: { email } })).toBeNull();

    // A password change is new-password work too.
    const change = await supergraph.request(
      'mutation { changePassword(currentPassword: "correct horse battery staple", newPassword: "a brand new passphrase 42") }',
      {},
      { token: regular.accessToken },
    );
    expect(codeOf(change)).toBe('TOO_MANY_REQUESTS');
    expect(change.errors?.[0]?.path).toEqual(['changePassword']);
    expect(await refusedAtGateway()).toBe(before + 2);

    // A login is not: it checks a password on its own queue, and goes through.
    const login = await logIn(supergraph, regular.user.email);
    expect(login.errors).toBeUndefined();
    expect(login.data?.logIn.user.id).toBe(regular.user.id);
    expect(await refusedAtGateway()).toBe(before + 2);

    const results = await Promise.all(burst);
    const served = results.filter((result) => result.data?.signUp);
    const refused = results.filter((result) => codeOf(result) === 'TOO_MANY_REQUESTS');
    expect(served.length).toBeGreaterThan(0);
    expect(served.length + refused.length).toBe(results.length);
  }, 60_000);

  it('opens again after the pause: a sign-up reaches the users service and succeeds', async () => {
    // The queue has drained (the burst above is over), and its last refusal is a second old.
    await sleep(1_100);
    const before = await refusedAtGateway();
    const email = uniqueEmail('after');
    const result = await signUpFrom('signUp', email);
    expect(result.errors).toBeUndefined();
    expect(result.data?.signUp).toMatchObject({ user: { email } });
    expect(await refusedAtGateway()).toBe(before);
  }, 30_000);
});
