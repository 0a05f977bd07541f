// Abuse resistance at the edge, through the real topology configured for production:
// NGINX, both gateway processes and the subgraphs, on PostgreSQL and Redis. Clients
// connect from distinct loopback addresses (127.0.0.x), which NGINX sees as distinct
// clients (scripts/local-client.ts).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graphqlFrom, type HttpAnswer, postFrom } from '../scripts/local-client.ts';
import { logInMutation, signUpMutation } from './documents.ts';
import { startTestTopology, type TestTopology, testRedisUrl } from './support.ts';

let started: TestTopology;
let publicUrl: URL;

/** Secrets of production length: the services refuse the development defaults there. */
const productionSecrets = {
  USERS_SUBGRAPH_SECRET: 'abuse-test-users-subgraph-secret-0123456789',
  EVENTS_SUBGRAPH_SECRET: 'abuse-test-events-subgraph-secret-0123456789',
  TICKETS_SUBGRAPH_SECRET: 'abuse-test-tickets-subgraph-secret-0123456789',
  EVENT_RELAY_SECRET: 'abuse-test-event-relay-secret-0123456789',
};

beforeAll(async () => {
  started = await startTestTopology('abuse', {
    NODE_ENV: 'production',
    AUTH_DEV_KEYS: 'true',
    REDIS_URL: testRedisUrl,
    ...productionSecrets,
  });
  publicUrl = new URL(started.topology.publicUrl);
});

// The services' own logs explain a failure better than the assertion can.
afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await started?.stop();
});

/** A GraphQL operation from `from`, through NGINX. */
function graphql(
  from: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return graphqlFrom(publicUrl, query, variables, { from, headers });
}

const codeOf = (answer: HttpAnswer) => answer.json.errors?.[0]?.extensions?.code;

const password = 'plum-vortex-harbour-71-quietly';
let accounts = 0;

/** Signs up a new account from `from`; its email. */
async function signUp(from: string, accountType = 'CUSTOMER'): Promise<string> {
  accounts += 1;
  const email = `abuse-${process.pid}-${accounts}@example.com`;
  const answer = await graphql(from, signUpMutation, {
    input: { email, password, name: 'Owner', accountType },
  });
  if (!answer.json.data?.signUp) throw new Error(`signUp failed: ${answer.text}`);
  return email;
}

function logIn(from: string, email: string, secret: string, headers: Record<string, string> = {}) {
  return graphql(from, logInMutation, { email, password: secret }, headers);
}

/** The users service's throttle keys that contain `text`. */
async function throttleKeysWith(text: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: started.databaseUrls.USERS_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ key: string }>(
      'SELECT key FROM login_throttles WHERE position($1 in key) > 0 ORDER BY key',
      [text],
    );
    return rows.map((row) => row.key);
  } finally {
    await client.end();
  }
}

describe('the client’s address', () => {
  it('is the one NGINX saw: a client’s X-Forwarded-For and X-Real-IP are overwritten', async () => {
    const email = await signUp('127.0.0.20');
    const answer = await logIn('127.0.0.21', email, 'not the password at all', {
      'x-forwarded-for': '203.0.113.9',
      'x-real-ip': '203.0.113.10',
    });
    expect(codeOf(answer)).toBe('INVALID_CREDENTIALS');
    expect(await throttleKeysWith('203.0.113.')).toEqual([]);
    expect(await throttleKeysWith('127.0.0.21')).toEqual([
      'address:127.0.0.21',
      `pair:${email}|127.0.0.21`,
    ]);
  });

  it('is the right-most entry not added by a trusted proxy, at a gateway', async () => {
    // Straight to a gateway, from loopback (a trusted proxy by default): the right-most
    // address in X-Forwarded-For is the client; whatever is left of it is the client's say.
    const gateway = new URL(started.topology.processes.get('gateway-1')?.url ?? '');
    const email = await signUp('127.0.0.22');
    const answer = await postFrom(
      gateway,
      JSON.stringify({ query: logInMutation, variables: { email, password: 'wrong password!!' } }),
      { from: '127.0.0.22', headers: { 'x-forwarded-for': '198.51.100.77, 203.0.113.12' } },
    );
    expect(codeOf(answer)).toBe('INVALID_CREDENTIALS');
    expect(await throttleKeysWith('198.51.100.77')).toEqual([]);
    expect(await throttleKeysWith('203.0.113.12')).toEqual([
      'address:203.0.113.12',
      `pair:${email}|203.0.113.12`,
    ]);
  });
});

describe('login throttling', () => {
  it('locks out the guessing address, whatever X-Forwarded-For it sends, not the owner', async () => {
    const email = await signUp('127.0.0.30');
    for (let guess = 0; guess < 5; guess++) {
      const answer = await logIn('127.0.0.31', email, `wrong password ${guess}`, {
        'x-forwarded-for': `10.9.8.${guess}`,
      });
      expect(codeOf(answer)).toBe('INVALID_CREDENTIALS');
    }
    const locked = await logIn('127.0.0.31', email, password, { 'x-forwarded-for': '10.9.8.99' });
    expect(codeOf(locked)).toBe('TOO_MANY_ATTEMPTS');
    const owner = await logIn('127.0.0.32', email, password);
    expect(owner.json.errors).toBeUndefined();
    expect(owner.json.data?.logIn).toHaveProperty('accessToken');
  });

  it('counts parallel guesses one by one', async () => {
    const email = await signUp('127.0.0.30');
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, guess) =>
        logIn('127.0.0.33', email, `parallel wrong password ${guess}`),
      ),
    );
    const codes = answers.map(codeOf);
    expect(codes.filter((code) => code === 'INVALID_CREDENTIALS')).toHaveLength(5);
    expect(codes.filter((code) => code === 'TOO_MANY_ATTEMPTS')).toHaveLength(15);
  });
});

describe('password work', () => {
  it('throttles sign-ups per address', async () => {
    for (let account = 0; account < 10; account++) await signUp('127.0.0.40');
    accounts += 1;
    const refused = await graphql('127.0.0.40', signUpMutation, {
      input: {
        email: `abuse-${process.pid}-${accounts}@example.com`,
        password,
        name: 'Eleventh',
        accountType: 'CUSTOMER',
      },
    });
    expect(codeOf(refused)).toBe('TOO_MANY_ATTEMPTS');
    expect(refused.json.errors?.[0]?.extensions?.retryAfterSeconds).toBeGreaterThan(0);
    // Another address is not affected.
    await signUp('127.0.0.41');
  });

  it('refuses password work beyond its queue at once, with TOO_MANY_REQUESTS', async () => {
    const burst = await Promise.all(
      Array.from({ length: 14 }, async (_, index) => {
        accounts += 1;
        const started = performance.now();
        const answer = await graphql(`127.0.0.${60 + index}`, signUpMutation, {
          input: {
            email: `burst-${process.pid}-${accounts}@example.com`,
            password,
            name: 'Burst',
            accountType: 'CUSTOMER',
          },
        });
        return { code: codeOf(answer) ?? 'OK', ms: performance.now() - started };
      }),
    );
    const refused = burst.filter((result) => result.code === 'TOO_MANY_REQUESTS');
    const served = burst.filter((result) => result.code === 'OK');
    expect(refused.length + served.length).toBe(burst.length);
    expect(refused.length).toBeGreaterThan(0);
    // The refusals did not wait their turn: each came before the slowest sign-up was done.
    const slowest = Math.max(...served.map((result) => result.ms));
    for (const result of refused) expect(result.ms).toBeLessThan(slowest);
  });
});

/** The sign-ups and password changes both gateways refused themselves, from their /metrics. */
async function refusedAtGateways(): Promise<number> {
  let total = 0;
  for (const name of ['gateway-1', 'gateway-2']) {
    const running = started.topology.processes.get(name);
    if (!running) throw new Error(`no ${name} in the topology`);
    const metrics = await (await fetch(new URL('/metrics', running.url))).text();
    total += Number(
      /^graphql_new_passwords_refused_at_gateway_total (\d+)/m.exec(metrics)?.[1] ?? 0,
    );
  }
  return total;
}

describe('new passwords at the gateways', () => {
  /** A sign-up from `from`, under an alias as a bot might send it. */
  const aliasedSignUp = (from: string) => {
    accounts += 1;
    return graphql(
      from,
      'mutation ($input: SignUpInput!) { bot: signUp(input: $input) { accessToken } }',
      {
        input: {
          email: `closed-${process.pid}-${accounts}@example.com`,
          password,
          name: 'Bot',
          accountType: 'CUSTOMER',
        },
      },
    );
  };

  it('are refused at the gateways for a second after a full queue, then taken again', async () => {
    const before = await refusedAtGateways();
    let firstRefusal: () => void = () => {};
    const refusedOnce = new Promise<void>((resolve) => {
      firstRefusal = resolve;
    });
    // A burst from many addresses, none near its own sign-up limit.
    const burst = Array.from({ length: 14 }, (_, index) =>
      aliasedSignUp(`127.0.1.${index + 1}`).then((answer) => {
        if (codeOf(answer) === 'TOO_MANY_REQUESTS') firstRefusal();
        return answer;
      }),
    );
    await refusedOnce;
    // Right after: refused with the same code, at the alias, by the gateways themselves.
    const during = await Promise.all(
      Array.from({ length: 4 }, (_, index) => aliasedSignUp(`127.0.2.${index + 1}`)),
    );
    for (const answer of during) {
      expect(codeOf(answer)).toBe('TOO_MANY_REQUESTS');
      expect((answer.json.errors?.[0] as { path?: unknown } | undefined)?.path).toEqual(['bot']);
      expect(answer.json.errors?.[0]?.extensions).toEqual({
        code: 'TOO_MANY_REQUESTS',
        retryAfterSeconds: 1,
      });
    }
    expect(await refusedAtGateways()).toBeGreaterThan(before);
    await Promise.all(burst);

    // Once the queue has drained and the second has passed, sign-ups go through again,
    // at either gateway.
    await sleep(1_100);
    const after = await refusedAtGateways();
    for (const address of ['127.0.3.1', '127.0.3.2']) {
      const answer = await aliasedSignUp(address);
      expect(answer.json.errors).toBeUndefined();
      expect(answer.json.data?.bot).toMatchObject({ accessToken: expect.any(String) });
    }
    expect(await refusedAtGateways()).toBe(after);
  }, 60_000);
});

describe('documents', () => {
  /** A valid document of `bytes` bytes and a handful of tokens: the rest is blanks. */
  const documentOf = (bytes: number) => {
    const document = 'query Padded { events(first: 1) { edges { node { id } } } }';
    return document + ' '.repeat(bytes - document.length);
  };
  const hashOf = (document: string) => createHash('sha256').update(document).digest('hex');

  it('over 8 KiB is refused with 413 DOCUMENT_TOO_LARGE', async () => {
    const answer = await graphql('127.0.0.90', documentOf(9_000));
    expect(answer.status).toBe(413);
    expect(codeOf(answer)).toBe('DOCUMENT_TOO_LARGE');
  });

  it('over 8 KiB is never registered as a persisted query', async () => {
    const document = documentOf(9_000);
    const persistedQuery = { version: 1, sha256Hash: hashOf(document) };
    const registration = await postFrom(
      publicUrl,
      JSON.stringify({ query: document, extensions: { persistedQuery } }),
      { from: '127.0.0.90' },
    );
    expect(registration.status).toBe(413);
    expect(codeOf(registration)).toBe('DOCUMENT_TOO_LARGE');
    const lookup = await postFrom(publicUrl, JSON.stringify({ extensions: { persistedQuery } }), {
      from: '127.0.0.90',
    });
    expect(codeOf(lookup)).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('within the limit is registered and served by its hash', async () => {
    const document = documentOf(8_000);
    const persistedQuery = { version: 1, sha256Hash: hashOf(document) };
    const registration = await postFrom(
      publicUrl,
      JSON.stringify({ query: document, extensions: { persistedQuery } }),
      { from: '127.0.0.90' },
    );
    expect(registration.json.errors).toBeUndefined();
    const lookup = await postFrom(publicUrl, JSON.stringify({ extensions: { persistedQuery } }), {
      from: '127.0.0.90',
    });
    expect(lookup.json.errors).toBeUndefined();
    expect(lookup.json.data).toHaveProperty('events.edges');
  });
});

describe('errors', () => {
  /** What no answer may contain: a stack frame, a source path, an HTML page. */
  const expectNoInternals = (text: string) => {
    expect(text).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.ts:\d+|\/src\/|<html|<pre/i);
  };

  it('a malformed JSON body answers 400 with GraphQL errors, no stack, no paths', async () => {
    const answer = await postFrom(publicUrl, '{"query": "{ events(first: 1) { edges ', {
      from: '127.0.0.91',
    });
    expect(answer.status).toBe(400);
    expect(codeOf(answer)).toBe('BAD_REQUEST');
    expectNoInternals(answer.text);
  });

  it('headers that NGINX passes on and a gateway cannot read: 431 HEADERS_TOO_LARGE in JSON', async () => {
    // Each line fits NGINX's 8 KB header buffers, and the whole is within its four; a
    // gateway's HTTP parser takes 16 KiB of head, and answered past that with a bare 431.
    const headers = Object.fromEntries(
      Array.from({ length: 3 }, (_, index) => [`x-padding-${index}`, 'a'.repeat(7_000)]),
    );
    const errorLog = join(started.runDir, 'error.log');
    const logged = (await readFile(errorLog, 'utf8')).length;
    // Several in turn, on the connections NGINX keeps to the gateways, which served
    // requests before.
    for (let attempt = 0; attempt < 4; attempt++) {
      const answer = await postFrom(publicUrl, '{"query":"{ __typename }"}', {
        from: '127.0.0.91',
        headers,
      });
      expect(answer.status).toBe(431);
      expect(answer.json).toEqual({
        errors: [
          {
            message: 'The request headers are too large.',
            extensions: { code: 'HEADERS_TOO_LARGE' },
          },
        ],
      });
    }
    // No gateway closed a connection on NGINX without an answer, which NGINX counts as the
    // gateway failing, and takes it out of rotation for.
    expect((await readFile(errorLog, 'utf8')).slice(logged)).not.toMatch(
      /prematurely closed|temporarily disabled/,
    );
  });

  it.each([
    [
      'a misspelt enum value',
      '{ events(first: 1, orderBy: STARTS_AT_AS) { edges { node { id } } } }',
    ],
    ['a misspelt field', '{ events(first: 1) { edges { node { titel } } } }'],
    ['a misspelt argument', '{ events(frist: 1) { edges { node { id } } } }'],
  ])('suggests nothing in production: %s', async (_, query) => {
    const answer = await graphql('127.0.0.91', query);
    expect(answer.json.errors?.length).toBeGreaterThan(0);
    expect(answer.text).not.toMatch(/did you mean/i);
    expectNoInternals(answer.text);
  });

  const eventsQuery =
    'query ($filter: EventFilter, $after: String) { events(first: 5, filter: $filter, after: $after) { edges { node { id title } } } }';
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['a DateTime that is no date', { filter: { startsAfter: 'not a date' } }, 'filter.startsAfter'],
    [
      'a DateTime in year 0',
      { filter: { startsBefore: '0000-06-01T00:00:00Z' } },
      'filter.startsBefore',
    ],
    ['a NUL byte in a string', { filter: { search: 'abc\u0000def' } }, 'filter.search'],
    [
      'a forged cursor',
      { after: cursorOf(['STARTS_AT_ASC', '2027-01-01T00:00:00Z', 'x']) },
      'after',
    ],
    [
      'a cursor in year 0',
      {
        after: cursorOf([
          'STARTS_AT_ASC',
          '0000-01-01T00:00:00Z',
          '0190a000-0000-7000-8000-000000000001',
        ]),
      },
      'after',
    ],
  ])('answers %s in a variable with BAD_USER_INPUT and the field', async (_, variables, field) => {
    const answer = await graphql('127.0.0.92', eventsQuery, variables);
    expect(answer.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expectNoInternals(answer.text);
  });

  it.each([
    [
      'a DateTime that is no date',
      '{ events(first: 1, filter: { startsAfter: "soon" }) { edges { node { id } } } }',
      'filter.startsAfter',
    ],
    [
      'a DateTime in year 0',
      '{ events(first: 1, filter: { startsAfter: "0000-01-01T00:00:00Z" }) { edges { node { id } } } }',
      'filter.startsAfter',
    ],
    [
      'a NUL byte in a string',
      '{ events(first: 1, filter: { city: "Lis\\u0000bon" }) { edges { node { id } } } }',
      'filter.city',
    ],
  ])(
    'answers %s written in the document with BAD_USER_INPUT and the field',
    async (_, query, field) => {
      const answer = await graphql('127.0.0.92', query);
      expect(answer.status).toBe(400);
      expect(answer.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expectNoInternals(answer.text);
    },
  );

  it('matches %, _ and \\ in a search literally', async () => {
    const email = await signUp('127.0.0.93', 'ORGANIZER');
    const login = await logIn('127.0.0.93', email, password);
    const token = (login.json.data as { logIn: { accessToken: string } }).logIn.accessToken;
    const authorization = { authorization: `Bearer ${token}` };
    for (const title of ['Plain evening', '100% jazz night', 'snake_case meetup']) {
      const created = await graphql(
        '127.0.0.93',
        'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
        {
          input: {
            title,
            venue: 'Hall',
            city: 'Lisbon',
            startsAt: '2030-05-01T19:00:00Z',
            timezone: 'Europe/Lisbon',
          },
        },
        authorization,
      );
      expect(created.json.errors).toBeUndefined();
    }
    const titlesFor = async (search: string) => {
      const answer = await graphql(
        '127.0.0.93',
        eventsQuery,
        { filter: { search } },
        authorization,
      );
      expect(answer.json.errors).toBeUndefined();
      const { edges } = (answer.json.data as { events: { edges: { node: { title: string } }[] } })
        .events;
      return edges.map((edge) => edge.node.title).sort();
    };
    // As wildcards these would match the venue, Hall, of all three.
    expect(await titlesFor('al%')).toEqual([]);
    expect(await titlesFor('al_')).toEqual([]);
    // Nothing but wildcards has no word for the trigram index to find: refused, not a scan.
    for (const search of ['%%%', '___']) {
      const answer = await graphql(
        '127.0.0.93',
        eventsQuery,
        { filter: { search } },
        authorization,
      );
      expect(answer.json.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'filter.search',
      });
    }
    expect(await titlesFor('0% j')).toEqual(['100% jazz night']);
    expect(await titlesFor('e_c')).toEqual(['snake_case meetup']);
    expect(await titlesFor('even')).toEqual(['Plain evening']);
  });

  it('counts __typename aliases toward the limit of 15', async () => {
    const aliases = Array.from({ length: 16 }, (_, i) => `t${i}: __typename`).join(' ');
    const answer = await graphql('127.0.0.94', `{ ${aliases} }`);
    expect(codeOf(answer)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(answer.json.errors?.[0]?.message).toMatch(/alias/i);
  });

  it.each(['aaaaaaaaaaaa', 'password1234', 'qwertyuiop123'])(
    'refuses the weak password %j with a clear message',
    async (weak) => {
      accounts += 1;
      const answer = await graphql('127.0.0.95', signUpMutation, {
        input: {
          email: `weak-${process.pid}-${accounts}@example.com`,
          password: weak,
          name: 'Weak',
          accountType: 'CUSTOMER',
        },
      });
      expect(answer.json.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(String(answer.json.errors?.[0]?.extensions?.field)).toMatch(/password/);
      expect(answer.json.errors?.[0]?.message).toMatch(/too easy to guess/);
    },
  );
});
