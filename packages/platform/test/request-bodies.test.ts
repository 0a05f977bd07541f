// What a client may say about its body, truly or not, at /graphql: an encoding, a charset,
// a length, an expectation, a body where none belongs. Each lie is answered with a 4xx and a
// JSON error with a stable code, reading no more than the answer needs, and leaves the
// service answering the next request. Sent as raw bytes: a client library would correct
// most of these lies.
import { once } from 'node:events';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyDeadlineMs,
  bodyIdleTimeoutMs,
  headersDeadlineMs,
  maxBodyBytes,
  type RunningService,
} from '../src/http.ts';
import { serveOkService } from '../src/testing.ts';

let service: RunningService;

beforeAll(async () => {
  service = await serveOkService('request-bodies-test');
});
afterAll(() => service?.stop());

interface Exchange {
  /** The status lines answered, in order (a 100 Continue included). */
  statuses: string[];
  /** The last answer's head and body. */
  head: string;
  body: string;
  closed: boolean;
}

/**
 * Writes `parts` on a new connection (a function part is given what has been answered, for a
 * client that waits for 100 Continue), and returns what came back once `answers`
 * final answers arrived and the connection closed, or `ms` passed.
 */
async function exchange(
  parts: (string | Buffer | ((answered: () => string) => Promise<string | Buffer>))[],
  { answers = 1, ms = 2_000 } = {},
): Promise<Exchange> {
  const socket = connect(service.port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  for (const part of parts) {
    const bytes = typeof part === 'function' ? await part(() => received) : part;
    if (socket.writable) socket.write(bytes);
  }
  const finals = () => (received.match(/HTTP\/1\.1 [2-5]\d\d /g) ?? []).length;
  const deadline = Date.now() + ms;
  while (
    Date.now() < deadline &&
    !(finals() >= answers && (closed || /\r\n\r\n\{.*\}\s*$/s.test(received)))
  ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!closed) await once(socket, 'close', { signal: AbortSignal.timeout(300) }).catch(() => {});
  socket.destroy();
  const last = received.lastIndexOf('HTTP/1.1 ');
  const [head = '', body = ''] = received.slice(last).split('\r\n\r\n');
  return { statuses: received.match(/HTTP\/1\.1 \d{3}/g) ?? [], head, body, closed };
}

const query = JSON.stringify({ query: '{ ok }' });
const post = (headers: string) =>
  `POST /graphql HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\n${headers}\r\n`;

/** The error's code in a JSON error body, or what the body was if it is not one. */
function codeOf(body: string): unknown {
  try {
    return JSON.parse(body).errors[0].extensions.code;
  } catch {
    return body;
  }
}

/** A request right after is answered as ever. */
async function expectHealthy() {
  const response = await fetch(service.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: query,
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ data: { ok: true } });
}

describe('a compressed body', () => {
  it('is read inflated', async () => {
    const body = gzipSync(query);
    const result = await exchange([
      post(
        `content-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${body.length}\r\n`,
      ),
      body,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 200']);
    expect(JSON.parse(result.body)).toEqual({ data: { ok: true } });
  });

  it('that inflates past the limit (a gzip bomb) is a 413 by its inflated bytes', async () => {
    const inflated = Buffer.alloc(16 * maxBodyBytes, ' ');
    const bomb = gzipSync(inflated);
    expect(bomb.length).toBeLessThan(maxBodyBytes / 10);
    const result = await exchange([
      post(
        `content-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${bomb.length}\r\n`,
      ),
      bomb,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 413']);
    expect(codeOf(result.body)).toBe('PAYLOAD_TOO_LARGE');
    await expectHealthy();
  });

  it('that inflates past the limit and never ends, chunked: a 413 at once, and closed', async () => {
    const bomb = gzipSync(Buffer.alloc(4 * maxBodyBytes, ' ')).subarray(0, -8);
    const result = await exchange([
      post(
        'content-type: application/json\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n',
      ),
      `${bomb.length.toString(16)}\r\n`,
      bomb,
      '\r\n',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 413']);
    expect(result.head).toMatch(/\r\nconnection: close/i);
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('that is not what its encoding says: 400', async () => {
    const result = await exchange([
      post('content-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 10\r\n'),
      '0123456789',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    await expectHealthy();
  });

  it.each([
    ['gzip, chunked', 'gzip'],
    ['deflate,chunked', 'deflate'],
    // Two header lines, which Node joins into one: the body was read as it came, gzip ignored.
    ['gzip\r\ntransfer-encoding: chunked', 'gzip'],
  ])(
    'in a Transfer-Encoding of %j: 501 naming the coding, before a byte is read, and closed',
    async (codings, named) => {
      const result = await exchange([
        post(`content-type: application/json\r\ntransfer-encoding: ${codings}\r\n`),
        `${query.length.toString(16)}\r\n${query}\r\n0\r\n\r\n`,
      ]);
      expect(result.statuses).toEqual(['HTTP/1.1 501']);
      expect(JSON.parse(result.body)).toEqual({
        errors: [
          {
            message: `The transfer coding \`${named}\` is not supported: send the body with a Content-Length, or chunked.`,
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      });
      expect(result.closed).toBe(true);
      await expectHealthy();
    },
  );

  it('in an encoding no one reads: 415 before a byte is read, and closed', async () => {
    const result = await exchange([
      post(
        'content-type: application/json\r\ncontent-encoding: compress\r\ncontent-length: 1000\r\n',
      ),
      '{',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 415']);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    expect(result.closed).toBe(true);
    await expectHealthy();
  });
});

describe('a JSON body in a charset other than UTF-8', () => {
  it.each(['utf-16', 'latin1', 'utf-7'])(
    '%s: 415 before a byte is read, and closed',
    async (charset) => {
      const result = await exchange([
        post(`content-type: application/json; charset=${charset}\r\ncontent-length: 1000\r\n`),
        '{',
      ]);
      expect(result.statuses).toEqual(['HTTP/1.1 415']);
      expect(codeOf(result.body)).toBe('BAD_REQUEST');
      expect(result.closed).toBe(true);
      await expectHealthy();
    },
  );
});

describe('a Content-Length that disagrees with the body', () => {
  it(
    'longer than the body sent: 408 once no byte came for a while, and closed',
    async () => {
      // Node waited for the rest up to its requestTimeout (300 s): a subgraph, which no
      // proxy buffers bodies for, was held as long by a client that declared more.
      const started = Date.now();
      const result = await exchange(
        [post('content-type: application/json\r\ncontent-length: 100\r\n'), query],
        { ms: bodyIdleTimeoutMs + 3_000 },
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(bodyIdleTimeoutMs - 100);
      expect(result.statuses).toEqual(['HTTP/1.1 408']);
      expect(codeOf(result.body)).toBe('REQUEST_TIMEOUT');
      expect(result.closed).toBe(true);
      await expectHealthy();
    },
    bodyIdleTimeoutMs + 10_000,
  );

  it(
    'trickled a byte at a time under the idle timeout: 408 at the body deadline, and closed',
    async () => {
      // Each byte kept the idle timeout from firing: the body held the connection until
      // Node's requestTimeout (300 s), however slowly it came.
      const started = Date.now();
      const trickle = async (answered: () => string) => {
        if (answered().includes('HTTP/1.1 ')) return '';
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return ' ';
      };
      const result = await exchange(
        [
          post('content-type: application/json\r\ncontent-length: 100\r\n'),
          ...Array.from({ length: (bodyDeadlineMs + 10_000) / 1_000 }, () => trickle),
        ],
        { ms: 3_000 },
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(bodyDeadlineMs - 100);
      expect(elapsed).toBeLessThan(bodyDeadlineMs + 5_000);
      expect(result.statuses).toEqual(['HTTP/1.1 408']);
      expect(codeOf(result.body)).toBe('REQUEST_TIMEOUT');
      expect(result.closed).toBe(true);
      await expectHealthy();
    },
    bodyDeadlineMs + 20_000,
  );

  it('shorter than the body: the rest is never read as a request of its own', async () => {
    const result = await exchange([
      post('content-type: application/json\r\ncontent-length: 5\r\n'),
      query,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    await expectHealthy();
  });
});

describe('a request head trickled a byte at a time', () => {
  it(
    'is answered 408 at the headers deadline, and closed',
    async () => {
      // Node waited for the rest of a head up to its headersTimeout, which was 76 s.
      const started = Date.now();
      const trickle = async (answered: () => string) => {
        if (answered().includes('HTTP/1.1 ')) return '';
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return 'x';
      };
      const result = await exchange(
        [
          'GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: ',
          ...Array.from({ length: (headersDeadlineMs + 10_000) / 1_000 }, () => trickle),
        ],
        { ms: 3_000 },
      );
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(headersDeadlineMs - 100);
      expect(elapsed).toBeLessThan(headersDeadlineMs + 5_000);
      expect(result.statuses).toEqual(['HTTP/1.1 408']);
      expect(codeOf(result.body)).toBe('REQUEST_TIMEOUT');
      expect(result.closed).toBe(true);
      await expectHealthy();
    },
    headersDeadlineMs + 20_000,
  );

  it(
    'an idle kept-alive connection is no trickled head: it outlives the deadline',
    async () => {
      const socket = connect(service.port, '127.0.0.1');
      await once(socket, 'connect');
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      const live = 'GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n';
      socket.write(live);
      await new Promise((resolve) => setTimeout(resolve, headersDeadlineMs + 2_000));
      socket.write(live);
      for (
        let waited = 0;
        waited < 2_000 && (received.match(/HTTP\/1\.1 200/g) ?? []).length < 2;
        waited += 10
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      socket.destroy();
      expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    },
    headersDeadlineMs + 10_000,
  );
});

describe('a body on a GET', () => {
  it.each([
    ['JSON', 'application/json', query],
    ['not JSON', 'application/json', '{{{'],
    ['of another type', 'text/plain', 'hello'],
  ])('%s: 400, never read or parsed', async (_, type, body) => {
    const result = await exchange([
      `GET /graphql?query=%7Bok%7D HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\ncontent-type: ${type}\r\ncontent-length: ${body.length + 100}\r\n\r\n`,
      body,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(JSON.parse(result.body)).toEqual({
      errors: [{ message: 'A GET request has no body.', extensions: { code: 'BAD_REQUEST' } }],
    });
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('on a HEAD: 400 naming the HEAD, not the GET', async () => {
    const result = await exchange([
      `HEAD /graphql?query=%7Bok%7D HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\ncontent-type: application/json\r\ncontent-length: ${query.length}\r\n\r\n`,
      query,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    // A HEAD answer has no body: its length is the one of the body a GET would have had.
    const refusal = JSON.stringify({
      errors: [{ message: 'A HEAD request has no body.', extensions: { code: 'BAD_REQUEST' } }],
    });
    expect(result.head).toMatch(
      new RegExp(`\r\ncontent-length: ${Buffer.byteLength(refusal)}\r\n`, 'i'),
    );
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('an empty one (Content-Length: 0) is no body', async () => {
    const result = await exchange([
      'GET /graphql?query=%7Bok%7D HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\ncontent-length: 0\r\n\r\n',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 200']);
  });
});

describe('a POST whose Content-Type is not JSON', () => {
  it.each([
    ['missing', ''],
    ['text/plain', 'content-type: text/plain\r\n'],
    ['malformed', 'content-type: ;;;\r\n'],
  ])('%s: 400 with a JSON error, its body never read', async (_, header) => {
    const result = await exchange([post(`${header}content-length: 1000\r\n`), '{']);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    expect(result.closed).toBe(true);
    await expectHealthy();
  });
});

describe('Expect: 100-continue', () => {
  it('with a length over the limit: 413, never told to send the body', async () => {
    const result = await exchange([
      post(
        `content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: ${8 * maxBodyBytes}\r\n`,
      ),
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 413']);
    expect(codeOf(result.body)).toBe('PAYLOAD_TOO_LARGE');
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('with a method /graphql does not take: 405, never told to send the body', async () => {
    const result = await exchange([
      'PUT /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 15\r\n\r\n',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 405']);
    expect(result.closed).toBe(true);
  });

  it('with a body that will be read: told to send it, then answered', async () => {
    const result = await exchange([
      post(
        `content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: ${query.length}\r\n`,
      ),
      async (answered) => {
        for (let waited = 0; !answered().includes('100 Continue') && waited < 2_000; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return query;
      },
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 100', 'HTTP/1.1 200']);
  });
});

describe('an expectation other than 100-continue', () => {
  it('is ignored, as NGINX ignores it', async () => {
    const result = await exchange([
      post(
        `content-type: application/json\r\nexpect: something\r\ncontent-length: ${query.length}\r\n`,
      ),
      query,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 200']);
    expect(JSON.parse(result.body)).toEqual({ data: { ok: true } });
  });
});

describe('hostile HTTP straight at a service (no proxy in front)', () => {
  const withBody = (headers: string) =>
    `${post(`content-type: application/json\r\n${headers}`)}${query}`;
  const chunked = `${query.length.toString(16)}\r\n${query}\r\n0\r\n\r\n`;

  it.each([
    ['two Content-Lengths that differ', withBody(`content-length: 15\r\ncontent-length: 16\r\n`)],
    ['two equal Content-Lengths', withBody(`content-length: 15\r\ncontent-length: 15\r\n`)],
    ['a Content-Length list', withBody(`content-length: 15, 15\r\n`)],
    ['a Content-Length with a sign', withBody(`content-length: +15\r\n`)],
    ['a negative Content-Length', withBody(`content-length: -1\r\n`)],
    ['a Content-Length with a space inside', withBody(`content-length: 1 5\r\n`)],
    ['a Content-Length past 2^64', withBody(`content-length: ${'9'.repeat(25)}\r\n`)],
    [
      'a Content-Length and a Transfer-Encoding',
      `${post(`content-type: application/json\r\ncontent-length: 15\r\ntransfer-encoding: chunked\r\n`)}${chunked}`,
    ],
    ['chunked, then another coding', `${post('transfer-encoding: chunked, gzip\r\n')}${chunked}`],
    ['an obs-fold header line', withBody(`content-length: ${query.length}\r\nx-a: b\r\n c\r\n`)],
    ['a chunk size that is not hex', `${post('transfer-encoding: chunked\r\n')}zz\r\n`],
    ['a NUL in a header', 'GET /health/live HTTP/1.1\r\nhost: x\r\nx-a: a\0b\r\n\r\n'],
    ['bare LFs', 'GET /health/live HTTP/1.1\nhost: x\n\n'],
    ['an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])('%s: 400 in JSON, closed, and the next request after it never read', async (_, request) => {
    const result = await exchange([`${request}${liveRequestAfter}`]);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    expect(result.body).not.toMatch(/\bat \S+ \(|node:internal|\/src\//);
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('a Transfer-Encoding of identity: 501 naming it, and closed', async () => {
    const result = await exchange([
      `${withBody('transfer-encoding: identity\r\n')}${liveRequestAfter}`,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 501']);
    expect(JSON.parse(result.body).errors[0].message).toMatch(/`identity`/);
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it.each([
    [
      'thousands of headers',
      `GET /health/live HTTP/1.1\r\nhost: x\r\n${'a:1\r\n'.repeat(4_000)}\r\n`,
    ],
    [
      'a 20 KB request target',
      `GET /graphql?query=${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
    ],
  ])('%s: 431 in JSON, and closed', async (_, request) => {
    const result = await exchange([request]);
    expect(result.statuses).toEqual(['HTTP/1.1 431']);
    expect(codeOf(result.body)).toBe('HEADERS_TOO_LARGE');
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('an HTTP/1.1 request without Host: 400 in JSON naming Host', async () => {
    // Node answered it itself, before any handler: a bare 400 with an empty body.
    const result = await exchange(['GET /health/live HTTP/1.1\r\n\r\n']);
    expect(result.statuses).toEqual(['HTTP/1.1 400']);
    expect(JSON.parse(result.body)).toEqual({
      errors: [
        {
          message: 'The request must name its Host (a Host header, required in HTTP/1.1).',
          extensions: { code: 'BAD_REQUEST' },
        },
      ],
    });
    await expectHealthy();
  });

  it('an HTTP/1.0 request without Host is served, as HTTP/1.0 allows', async () => {
    const result = await exchange(['GET /health/live HTTP/1.0\r\n\r\n']);
    expect(result.statuses).toEqual(['HTTP/1.1 200']);
  });

  it('CONNECT: 405 in JSON, and closed', async () => {
    // Node closed the connection without a word: no listener takes a tunnel.
    const result = await exchange([
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 405']);
    expect(codeOf(result.body)).toBe('METHOD_NOT_ALLOWED');
    expect(result.closed).toBe(true);
    await expectHealthy();
  });

  it('an absolute-form target is served by its path, whatever its host', async () => {
    const result = await exchange([
      `POST http://elsewhere.example/graphql HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\ncontent-type: application/json\r\ncontent-length: ${query.length}\r\n\r\n${query}`,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 200']);
    expect(JSON.parse(result.body)).toEqual({ data: { ok: true } });
  });

  it('a request after one refused by its headers, on the same connection, is never answered', async () => {
    const result = await exchange([
      `${post('content-type: application/json\r\ncontent-length: 5000000\r\n')}${liveRequestAfter}`,
    ]);
    expect(result.statuses).toEqual(['HTTP/1.1 413']);
    expect(result.closed).toBe(true);
  });

  it('an expectation other than 100-continue, OPTIONS with odd headers: a 4xx or served, never a 5xx', async () => {
    const result = await exchange([
      'OPTIONS /graphql HTTP/1.1\r\nhost: x\r\norigin: null\r\naccess-control-request-method: PUT\r\naccess-control-request-headers: x-\u00ff, ,,, content-type\r\nexpect: 200-ok\r\n\r\n',
    ]);
    expect(result.statuses).toEqual([expect.stringMatching(/^HTTP\/1\.1 (2|4)\d\d$/)]);
    expect(codeOf(result.body)).toBe('BAD_REQUEST');
    await expectHealthy();
  });
});

/** A request pipelined behind a refused one: never to be answered. */
const liveRequestAfter = 'GET /health/live?after HTTP/1.1\r\nhost: x\r\n\r\n';
