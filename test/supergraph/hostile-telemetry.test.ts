// What a client chooses (a URL, a header, an operation's name, a variable) and what the
// operators rely on: the log lines and the metrics. No password, token or variable reaches
// a log line at any level, a line stays one line of bounded size, and no metric grows a
// series for what a client names.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { createLogger, type RunningService } from '@ticketing/platform';
import type { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import { gatewayOver, type Supergraph, startSupergraph } from './harness.ts';

let supergraph: Supergraph;
const gateways: RunningService[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  for (const gateway of gateways) await gateway.stop();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await supergraph?.stop();
});

/** A gateway over the test supergraph logging at `level`, with the lines it writes as written. */
async function gatewayLogging(level: pino.LevelWithSilent, env: NodeJS.ProcessEnv = {}) {
  const written: string[] = [];
  const logger = createLogger('gateway-under-test', level, {
    write: (line: string) => {
      written.push(line);
    },
  });
  const gateway = await gatewayOver(supergraph, env, logger);
  gateways.push(gateway);
  const lines = () => written.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { gateway, written, lines };
}

/** A GET of the gateway's endpoint with `params` in its query string. */
async function getWith(url: string, params: Record<string, string>, headers = {}) {
  const target = new URL(url);
  for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value);
  const response = await fetch(target, {
    headers: { 'apollo-require-preflight': 'true', ...headers },
  });
  await response.arrayBuffer();
  return response.status;
}

const secret = 'hunter2-never-logged';

/** What a careless client may put in a URL: a password, a variable, a token. */
async function sendSecretsInUrls(url: string) {
  const statuses = [
    // A mutation over GET is refused (405), after its URL arrived.
    await getWith(url, {
      query: `mutation { logIn(email: "someone@example.com", password: "${secret}-literal") { accessToken } }`,
    }),
    await getWith(url, {
      query:
        'mutation ($password: String!) { logIn(email: "someone@example.com", password: $password) { accessToken } }',
      variables: JSON.stringify({ password: `${secret}-variable` }),
    }),
    // A query over GET runs, its variables in the URL.
    await getWith(url, {
      query: 'query ($id: ID!) { event(id: $id) { id } }',
      variables: JSON.stringify({ id: `${secret}-query-variable` }),
    }),
    await getWith(url, { query: '{ __typename }', access_token: `${secret}-token` }),
  ];
  return statuses;
}

describe('the gateway’s log', () => {
  it.each(['debug', 'info'] as const)(
    'at %s holds no password, variable or token a client put in a URL',
    async (level) => {
      const { gateway, written, lines } = await gatewayLogging(level);
      expect(await sendSecretsInUrls(gateway.url)).toEqual([405, 405, 200, 200]);
      expect(written.filter((line) => line.includes(secret))).toEqual([]);
      if (level === 'debug') {
        // The access log did write a line for each, with the path: it was looked at.
        const access = lines().filter((line) => line.msg === 'request completed');
        expect(access.map((line) => (line.req as { url: string }).url)).toEqual(
          Array(4).fill('/graphql'),
        );
      }
    },
  );

  it('cuts a huge URL short on its access line', async () => {
    const { gateway, written, lines } = await gatewayLogging('debug');
    const path = `/graphql/${'a'.repeat(12_000)}`;
    const response = await fetch(new URL(path, gateway.url));
    await response.arrayBuffer();
    const urls = lines()
      .filter((line) => line.msg === 'request completed')
      .map((line) => (line.req as { url: string }).url);
    expect(urls).toEqual([`${path.slice(0, 256)}…`]);
    expect(Math.max(...written.map((line) => line.length))).toBeLessThan(2_048);
  });
});

describe('the gateway’s metrics', () => {
  /** The series /metrics exposes (sample lines), by their text. */
  async function series(url: string): Promise<string[]> {
    const response = await fetch(new URL('/metrics', url));
    const text = await response.text();
    return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  }

  it('grow no series for 2,000 operation names, client names, user agents and request ids', async () => {
    const { gateway } = await gatewayLogging('silent');
    // Each kind of answer once, so that every series these requests can touch exists.
    const send = async (i: number) => {
      const valid = i % 2 === 0;
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'apollographql-client-name': `client-${i}-\u00e9`,
          'apollographql-client-version': `v${i}`,
          'user-agent': `agent-${i}`,
          'x-request-id': `request-${i}`,
        },
        body: JSON.stringify({
          query: valid ? `query Op${i} { __typename }` : `query Op${i} { nope${i} }`,
          operationName: `Op${i}`,
        }),
      });
      await response.arrayBuffer();
    };
    for (let i = 0; i < 20; i++) await send(i);
    const before = await series(gateway.url);
    for (let batch = 20; batch < 2_020; batch += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => send(batch + k)));
    }
    const after = await series(gateway.url);
    // The request metrics' series (the process' own, GC kinds and all, come as they come).
    const names = (lines: string[]) =>
      new Set(
        lines
          .filter((line) => line.startsWith('graphql_'))
          .map((line) => line.replace(/ \S+$/, '')),
      );
    const added = [...names(after)].filter((name) => !names(before).has(name));
    expect(added).toEqual([]);
    expect(after.filter((line) => /Op\d|client-\d|agent-\d|request-\d|nope\d/.test(line))).toEqual(
      [],
    );
  }, 60_000);
});

describe('the gateway’s log of a subgraph that failed', () => {
  const logInWith = (password: string) =>
    JSON.stringify({
      query:
        'mutation LogIn($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }',
      variables: { email: 'someone@example.com', password },
    });

  it('unreachable: holds no variable of the operation', async () => {
    const { gateway, written } = await gatewayLogging('debug', {
      USERS_URL: `http://127.0.0.1:${await freePort()}/graphql`,
    });
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: logInWith(`${secret}-unreachable`),
    });
    expect(await response.json()).toMatchObject({
      errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
    });
    expect(written.some((line) => line.includes('masked an error as SERVICE_UNAVAILABLE'))).toBe(
      true,
    );
    expect(written.filter((line) => line.includes(secret))).toEqual([]);
  });

  it('answering an HTTP error whose page echoes the request: neither the echo nor 100 KB logged', async () => {
    const echo = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        response.writeHead(502, { 'content-type': 'text/html' });
        response.end(
          `<html><pre>${Buffer.concat(chunks).toString()}</pre>${'x'.repeat(100_000)}</html>`,
        );
      });
    });
    servers.push(echo);
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const { gateway, written } = await gatewayLogging('info', {
      USERS_URL: `http://127.0.0.1:${(echo.address() as AddressInfo).port}/graphql`,
    });
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'echoed-page' },
      body: logInWith(`${secret}-echoed`),
    });
    expect(await response.json()).toMatchObject({
      errors: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
    });
    const masked = written.filter(
      (line) =>
        line.includes('masked an error as SERVICE_UNAVAILABLE') && line.includes('echoed-page'),
    );
    expect(masked).toHaveLength(1);
    expect(masked[0]).toContain('"status":502');
    expect(written.filter((line) => line.includes(secret))).toEqual([]);
    expect(Math.max(...written.map((line) => line.length))).toBeLessThan(8_192);
  });
});

/** Sends `head` (request line and headers, without the blank line) as raw bytes; the answer's text. */
async function rawExchange(url: string, head: Buffer): Promise<string> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(Buffer.concat([head, Buffer.from('\r\n\r\n')]));
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close', { signal: AbortSignal.timeout(5_000) });
  return Buffer.concat(chunks).toString('latin1');
}

describe('the X-Request-Id a client chose', () => {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const get = (id: Buffer) =>
    Buffer.concat([
      Buffer.from(
        'GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\napollo-require-preflight: true\r\nx-request-id: ',
      ),
      id,
    ]);

  it.each([
    ['with non-ASCII bytes', Buffer.from('caf\u00e9-\u2028-id', 'utf8')],
    ['with Latin-1 bytes', Buffer.from('caf\u00e9', 'latin1')],
    ['over 128 characters', Buffer.from('a'.repeat(129))],
    ['of 8 KB', Buffer.from('b'.repeat(8_192))],
    ['with spaces and quotes', Buffer.from('no "spaces" or quotes')],
    ['with a JSON break-out', Buffer.from('x","level":60,"msg":"forged')],
    ['sent twice', Buffer.from('first\r\nx-request-id: second')],
  ])('%s is replaced by one of the gateway’s own, echoed and logged alike', async (_, id) => {
    const { gateway, written, lines } = await gatewayLogging('debug');
    const answer = await rawExchange(gateway.url, get(id));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const echoed = /\r\nx-request-id: ([^\r\n]*)\r\n/i.exec(answer)?.[1];
    expect(echoed).toMatch(uuid);
    expect(answer.match(/\r\nx-request-id:/gi)).toHaveLength(1);
    const access = lines().filter((line) => line.msg === 'request completed');
    expect(access.map((line) => line.requestId)).toEqual([echoed]);
    // Each write is one JSON line, at the levels the service chose.
    for (const line of written) expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(lines().some((line) => line.msg === 'forged' || line.level === 60)).toBe(false);
  });

  it('with CR or LF in it is refused whole, and forges no header', async () => {
    const { gateway, lines } = await gatewayLogging('debug');
    for (const id of ['a\rSet-Cookie: forged=1', 'a\nSet-Cookie: forged=1']) {
      const answer = await rawExchange(gateway.url, get(Buffer.from(id)));
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).not.toMatch(/set-cookie/i);
    }
    expect(lines().filter((line) => JSON.stringify(line).includes('forged'))).toEqual([]);
  });
});
