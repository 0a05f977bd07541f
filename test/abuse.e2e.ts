// Abuse resistance at the edge, through the real topology configured for production:
// NGINX, both gateway processes and the subgraphs, on PostgreSQL and Redis. Clients
// connect from distinct loopback addresses (127.0.0.x), so NGINX sees each as a distinct
// client, as it would see distinct hosts.
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

interface HttpAnswer {
  status: number;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/**
 * POSTs `body` to `url` from the local address `from` (default 127.0.0.1), with `headers`;
 * the body is sent as it is (a string), so malformed ones can be sent too.
 */
function postFrom(
  from: string,
  body: string,
  headers: Record<string, string> = {},
  url: URL = publicUrl,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', ...headers },
        timeout: 60_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: HttpAnswer['json'] = {};
          try {
            json = JSON.parse(text);
          } catch {
            // Not JSON: the test looks at `text`.
          }
          resolve({ status: response.statusCode ?? 0, text, json });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer from ${url} in 60 s`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** A GraphQL operation from `from`, through NGINX. */
function graphql(
  from: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  return postFrom(from, JSON.stringify({ query, variables }), headers);
}

const codeOf = (answer: HttpAnswer) => answer.json.errors?.[0]?.extensions?.code;

const password = 'plum-vortex-harbour-71-quietly';
let accounts = 0;

/** Signs up a new customer from `from`; its email. */
async function signUp(from: string): Promise<string> {
  accounts += 1;
  const email = `abuse-${process.pid}-${accounts}@example.com`;
  const answer = await graphql(
    from,
    'mutation ($input: SignUpInput!) { signUp(input: $input) { user { id } } }',
    { input: { email, password, name: 'Owner', accountType: 'CUSTOMER' } },
  );
  if (!answer.json.data?.signUp) throw new Error(`signUp failed: ${answer.text}`);
  return email;
}

const logInMutation =
  'mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }';

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
    expect(codeOf(answer)).toBe('UNAUTHENTICATED');
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
      '127.0.0.22',
      JSON.stringify({ query: logInMutation, variables: { email, password: 'wrong password!!' } }),
      { 'x-forwarded-for': '198.51.100.77, 203.0.113.12' },
      gateway,
    );
    expect(codeOf(answer)).toBe('UNAUTHENTICATED');
    expect(await throttleKeysWith('198.51.100.77')).toEqual([]);
    expect(await throttleKeysWith('203.0.113.12')).toEqual([
      'address:203.0.113.12',
      `pair:${email}|203.0.113.12`,
    ]);
  });
});
