// One account's share of the writes: each signed-in account may run so many root mutation
// fields, aliases included, through both gateways together (counted in Redis); past that, a
// mutation is refused whole, before planning, with 429 TOO_MANY_REQUESTS and when to retry.
// Without Redis, each gateway goes on counting alone, and answers as soon as without one.
// The budget is set low here, so that a test reaches it in a few requests; its defaults
// are in the README.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnRedis, startOwnRedis } from '../own-servers.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, draftEvent, meQuery, signUp, strongPassword } from './operations.ts';

// Six fields each window of six seconds.
const burst = 6;
const redisTimeoutMs = 200;

let redis: OwnRedis;
let supergraph: Supergraph;

beforeAll(async () => {
  redis = await startOwnRedis();
  supergraph = await startSupergraph({
    gateways: 2,
    env: {
      REDIS_URL: redis.url,
      REDIS_TIMEOUT_MS: String(redisTimeoutMs),
      ACCOUNT_WRITES_PER_SECOND: '1',
      ACCOUNT_WRITE_BURST: String(burst),
    },
  });
});
afterAll(async () => {
  await supergraph?.stop();
  await redis?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  ms: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  };
}

/** Posts `query` to gateway `gateway` as `token`, with the answer's status and Retry-After. */
async function post(
  gateway: number,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Answer> {
  const began = performance.now();
  const response = await fetch(supergraph.gatewayUrls[gateway] as string, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Answer['body'];
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    ms: performance.now() - began,
    body,
  };
}

/** One request renaming event `id` under each of `titles`, one aliased field a title. */
function rename(gateway: number, token: string, id: string, titles: string[]) {
  const fields = titles.map(
    (title, i) => `t${i}: updateEvent(id: $id, input: { title: ${JSON.stringify(title)} }) { id }`,
  );
  return post(gateway, token, `mutation ($id: ID!) { ${fields.join(' ')} }`, { id });
}

async function titleOf(id: string) {
  return (await supergraph.databases.events.event.findUniqueOrThrow({ where: { id } })).title;
}

/** An organizer with a draft event, which cost one field of their budget. */
async function organizerWithDraft(): Promise<{ organizer: AuthPayload; eventId: string }> {
  const organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  const eventId = await draftEvent(supergraph, organizer.accessToken, 'Original');
  expect(eventId).toEqual(expect.any(String));
  return { organizer, eventId };
}

async function refusalsCounted(): Promise<number> {
  const text = await (await fetch(new URL('/metrics', supergraph.gatewayUrls[0]))).text();
  return Number(/^graphql_writes_refused_at_gateway_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

function expectRefusal(answer: Answer, keys: string[]) {
  expect(answer.status).toBe(429);
  const seconds = Number(answer.retryAfter);
  expect(seconds, `Retry-After: ${answer.retryAfter}`).toBeOneOf(
    Array.from({ length: burst }, (_, i) => i + 1),
  );
  expect(answer.body).toEqual({
    data: null,
    errors: keys.map((key) => ({
      message: expect.any(String),
      path: [key],
      extensions: { code: 'TOO_MANY_REQUESTS', retryAfterSeconds: seconds },
    })),
  });
}

describe('an account’s write budget', () => {
  it('refuses a mutation past it whole, with 429 and when to retry, and writes nothing', async () => {
    const { organizer, eventId } = await organizerWithDraft();
    const before = await refusalsCounted();
    // Five aliased fields: with the draft, the whole budget.
    const spent = await rename(0, organizer.accessToken, eventId, ['A', 'B', 'C', 'D', 'E']);
    expect(spent.status).toBe(200);
    expect(spent.body.errors).toBeUndefined();
    expect(await titleOf(eventId)).toBe('E');

    const refused = await rename(0, organizer.accessToken, eventId, ['Over']);
    expectRefusal(refused, ['t0']);
    expect(await titleOf(eventId)).toBe('E');
    expect(await refusalsCounted()).toBe(before + 1);

    // Queries are not counted, and neither is a login, even with the account's token.
    const me = await post(0, organizer.accessToken, meQuery);
    expect(me.status).toBe(200);
    expect(me.body.errors).toBeUndefined();
    const login = await post(
      0,
      organizer.accessToken,
      'mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }',
      { email: organizer.user.email, password: strongPassword },
    );
    expect(login.body.errors).toBeUndefined();

    // Once the window is over, the account writes again.
    await sleep(Number(refused.retryAfter) * 1_000 + 200);
    const again = await rename(0, organizer.accessToken, eventId, ['Later']);
    expect(again.body.errors).toBeUndefined();
    expect(await titleOf(eventId)).toBe('Later');
  });

  it('counts each aliased field: more than the budget in one request is refused whole', async () => {
    const { organizer, eventId } = await organizerWithDraft();
    // Six fields on top of the draft: one more than the budget, no field runs.
    const titles = ['1', '2', '3', '4', '5', '6'];
    const refused = await rename(0, organizer.accessToken, eventId, titles);
    expectRefusal(
      refused,
      titles.map((_, i) => `t${i}`),
    );
    expect(await titleOf(eventId)).toBe('Original');
  });

  it('is shared by the gateways, and another account’s is its own', async () => {
    const { organizer, eventId } = await organizerWithDraft();
    for (const title of ['A', 'B', 'C', 'D', 'E']) {
      const answer = await rename(title < 'C' ? 1 : 0, organizer.accessToken, eventId, [title]);
      expect(answer.body.errors).toBeUndefined();
    }
    // The other gateway knows what this one counted.
    const refused = await rename(1, organizer.accessToken, eventId, ['Over']);
    expectRefusal(refused, ['t0']);
    expect(await titleOf(eventId)).toBe('E');

    const other = await organizerWithDraft();
    for (const gateway of [0, 1]) {
      const answer = await rename(gateway, other.organizer.accessToken, other.eventId, [
        `Other ${gateway}`,
      ]);
      expect(answer.body.errors).toBeUndefined();
    }
    expect(await titleOf(other.eventId)).toBe('Other 1');
  });

  it('is counted by each gateway alone, within the Redis deadline, while Redis does not answer', async () => {
    const frozen = await organizerWithDraft();
    const gone = await organizerWithDraft();
    let killed = false;
    try {
      // Frozen: every budget command meets its deadline, and the gateway counts alone.
      redis.freeze();
      const answers: Answer[] = [];
      for (const title of ['A', 'B', 'C', 'D', 'E', 'Over']) {
        answers.push(await rename(0, frozen.organizer.accessToken, frozen.eventId, [title]));
      }
      redis.thaw();
      expect(answers.slice(0, 5).map((answer) => answer.body.errors)).toEqual(
        Array(5).fill(undefined),
      );
      // Its own count started with this window: the draft, counted in Redis, is not in it.
      expect(answers[5]?.body.errors).toBeUndefined();
      for (const answer of answers) expect(answer.ms).toBeLessThan(redisTimeoutMs + 1_500);

      // Gone: connections refused; nothing is waited for.
      await redis.kill();
      killed = true;
      const own: Answer[] = [];
      for (const title of ['A', 'B', 'C', 'D', 'E', 'F']) {
        own.push(await rename(0, gone.organizer.accessToken, gone.eventId, [title]));
      }
      expect(own.map((answer) => answer.body.errors)).toEqual(Array(6).fill(undefined));
      const refused = await rename(0, gone.organizer.accessToken, gone.eventId, ['Over']);
      expectRefusal(refused, ['t0']);
      expect(await titleOf(gone.eventId)).toBe('F');
      for (const answer of [...own, refused]) expect(answer.ms).toBeLessThan(1_500);
      // The other gateway counts on its own.
      const elsewhere = await rename(1, gone.organizer.accessToken, gone.eventId, ['Elsewhere']);
      expect(elsewhere.body.errors).toBeUndefined();
    } finally {
      redis.thaw();
      if (killed) await redis.start();
    }
  });
});
