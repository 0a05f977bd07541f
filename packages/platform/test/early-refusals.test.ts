// A request refused before its body has arrived (by its headers: a Content-Length over the
// limit, a content type no one reads, a method) leaves that body on the connection. Node
// would discard it as it came and keep the connection for the next request, so that a client
// declaring more than it sends, or sending it slowly, held the connection (and NGINX's pooled
// upstream connection with it). RFC 9112 §9.6: such an answer says `Connection: close`, and
// the connection is closed after it; a body that arrived whole is read past, never parsed as
// a request of its own.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxDeliveryBytes } from '../src/event-relay.ts';
import { maxBodyBytes, type RunningService } from '../src/http.ts';
import { signedBody } from '../src/signed-body.ts';
import { serveOkService } from '../src/testing.ts';

let service: RunningService;

/** Where the service reads a signed body, as the tickets service reads the relay's deliveries. */
const signedPath = '/signed';

beforeAll(async () => {
  service = await serveOkService('early-refusals-test', (app) => {
    app.post(
      signedPath,
      ...signedBody({
        check(request) {
          if (!request.headers['x-signature']) throw new Error('unsigned');
        },
        read: 'raw',
        limit: maxDeliveryBytes,
        verify() {},
        refuse(error, _request, response) {
          response.status(401).json({ error: (error as Error).message });
          return true;
        },
      }),
      (_request, response) => {
        response.json({ status: 'read' });
      },
    );
  });
});
afterAll(() => service?.stop());

/** A raw connection to the service, and everything it has answered so far. */
async function connection() {
  const socket = connect(service.port, '127.0.0.1');
  await once(socket, 'connect');
  const state = { received: '', closed: false };
  socket.on('data', (chunk: Buffer) => {
    state.received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    state.closed = true;
  });
  /** Waits until `count` answers have arrived (or the connection closed). */
  const answers = async (count: number, ms = 3_000) => {
    const deadline = Date.now() + ms;
    while (statusLines(state.received).length < count && !state.closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return statusLines(state.received);
  };
  /** Whether the service closed the connection within `ms`. */
  const closedWithin = async (ms: number) => {
    if (!state.closed) {
      await once(socket, 'close', { signal: AbortSignal.timeout(ms) }).catch(() => undefined);
    }
    return state.closed;
  };
  return { socket, state, answers, closedWithin };
}

const statusLines = (received: string) => received.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];

/** A whole request of its own, hidden in a body: never to be answered. */
const smuggled = 'GET /health/live?smuggled HTTP/1.1\r\nhost: x\r\n\r\n';
const liveRequest = 'GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n';

const postHead = (headers: string) => `POST /graphql HTTP/1.1\r\nhost: x\r\n${headers}\r\n`;

function write(socket: Socket, text: string) {
  return new Promise<void>((resolve) => socket.write(text, () => resolve()));
}

describe('a request refused before its body has all arrived', () => {
  it('a Content-Length over the limit, nothing of it sent: 413 at once, and the connection closed', async () => {
    const { socket, state, answers, closedWithin } = await connection();
    await write(socket, postHead('content-type: application/json\r\ncontent-length: 5000000\r\n'));
    const started = Date.now();
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 413 /)]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
    expect(state.received).toContain('"PAYLOAD_TOO_LARGE"');
    expect(await closedWithin(3_000)).toBe(true);
  });

  it('a body declared but not yet sent (a lying Content-Length): answered, then closed', async () => {
    const { socket, state, answers, closedWithin } = await connection();
    // Apollo refuses a POST that is not JSON without reading it.
    await write(socket, `${postHead('content-type: text/plain\r\ncontent-length: 1000\r\n')}abc`);
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 400 /)]);
    expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
    expect(await closedWithin(3_000)).toBe(true);
  });

  it('a body over the limit still being sent when the answer is written: the client reads the answer', async () => {
    // Closed at once, the connection would be reset under the client still sending, and
    // the answer lost with it: it is read for a while first, as NGINX lingers.
    const { socket, answers, closedWithin } = await connection();
    const body = 'x'.repeat(8 * 2 ** 20);
    socket.write(`${postHead(`content-type: text/plain\r\ncontent-length: ${body.length}\r\n`)}`);
    socket.write(body);
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 413 /)]);
    expect(await closedWithin(3_000)).toBe(true);
  });

  it('the rest of the body, holding a request, is never answered as one', async () => {
    const body = `${'x'.repeat(100)}${smuggled}`;
    const { socket, answers, closedWithin } = await connection();
    await write(
      socket,
      `${postHead(`content-type: text/plain\r\ncontent-length: ${body.length}\r\n`)}${body.slice(0, 50)}`,
    );
    expect(await answers(1)).toHaveLength(1);
    socket.write(`${body.slice(50)}${liveRequest}`);
    expect(await closedWithin(3_000)).toBe(true);
    expect(await answers(2, 200)).toHaveLength(1);
  });

  it('a chunked body refused before its last chunk: answered, then closed, its chunks never read as requests', async () => {
    const { socket, state, answers, closedWithin } = await connection();
    await write(
      socket,
      `${postHead('content-type: text/plain\r\ntransfer-encoding: chunked\r\n')}5\r\nhello\r\n`,
    );
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 400 /)]);
    expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
    socket.write(`${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n${liveRequest}`);
    expect(await closedWithin(3_000)).toBe(true);
    expect(statusLines(state.received)).toHaveLength(1);
  });

  it('a method the endpoint does not take, with a body on its way: answered, then closed', async () => {
    const { socket, state, answers, closedWithin } = await connection();
    await write(
      socket,
      'PUT /graphql HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n{',
    );
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 405 /)]);
    expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
    expect(await closedWithin(3_000)).toBe(true);
  });
});

describe('a chunked body that goes over the limit', () => {
  // Without a Content-Length, the limit is crossed only as the body arrives: body-parser
  // then read the rest of it to its end before answering, so that a client trickling an
  // endless chunked body held the connection (and a request's worth of work) for ever.
  const chunk = (size: number) => `${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`;

  it.each([
    ['/graphql', '', maxBodyBytes],
    [signedPath, 'x-signature: s\r\n', maxDeliveryBytes],
  ])(
    'at %s: 413 once the limit is crossed, the rest never waited for, and the connection closed',
    async (path, headers, limit) => {
      const { socket, state, answers, closedWithin } = await connection();
      await write(
        socket,
        `POST ${path} HTTP/1.1\r\nhost: x\r\n${headers}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
      );
      // Over the limit, and more on its way as long as the connection is open.
      await write(socket, chunk(limit + 1));
      const trickle = setInterval(() => socket.writable && socket.write(chunk(1024)), 20);
      try {
        expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 413 /)]);
        expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
        if (path === '/graphql') expect(state.received).toContain('"PAYLOAD_TOO_LARGE"');
        expect(await closedWithin(3_000)).toBe(true);
      } finally {
        clearInterval(trickle);
      }
      const live = await fetch(new URL('/health/live', service.url));
      expect(live.status).toBe(200);
    },
  );
});

describe('a method /graphql does not take', () => {
  it.each(['PUT', 'PATCH', 'DELETE'])(
    '%s with a JSON body on its way: 405 before a byte of it is read, and closed',
    async (method) => {
      const { socket, state, answers, closedWithin } = await connection();
      await write(
        socket,
        `${method} /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
      );
      expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 405 /)]);
      expect(state.received).toMatch(/\r\nallow: GET, POST\r\n/i);
      expect(state.received).toMatch(/\r\nconnection: close\r\n/i);
      expect(state.received).toContain('"METHOD_NOT_ALLOWED"');
      expect(await closedWithin(3_000)).toBe(true);
    },
  );

  it('without a body: 405 in the usual JSON shape, no stack trace, and the connection kept', async () => {
    const { socket, state, answers } = await connection();
    socket.write('DELETE /graphql HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 405 /)]);
    const body = JSON.parse(state.received.slice(state.received.indexOf('\r\n\r\n') + 4));
    expect(body).toEqual({
      errors: [
        { message: 'This method is not allowed here.', extensions: { code: 'METHOD_NOT_ALLOWED' } },
      ],
    });
    socket.write(liveRequest);
    expect(await answers(2)).toHaveLength(2);
    socket.destroy();
  });
});

describe('a request without a body', () => {
  it('keeps the connection, answered at once as it is', async () => {
    const { socket, state, answers } = await connection();
    socket.write(liveRequest);
    expect(await answers(1)).toHaveLength(1);
    socket.write(liveRequest);
    expect(await answers(2)).toHaveLength(2);
    expect(state.received).not.toMatch(/connection: close/i);
    socket.destroy();
  });
});

describe('a refusal once the body was read', () => {
  it('keeps the connection: the next request on it is answered', async () => {
    const body = JSON.stringify({ query: '{ nothingHere }' });
    const { socket, answers } = await connection();
    socket.write(
      `${postHead(`content-type: application/json\r\ncontent-length: ${body.length}\r\n`)}${body}`,
    );
    expect(await answers(1)).toHaveLength(1);
    socket.write(liveRequest);
    expect(await answers(2)).toEqual([
      expect.stringMatching(/^HTTP\/1\.1 400 /),
      expect.stringMatching(/^HTTP\/1\.1 200 /),
    ]);
    socket.destroy();
  });
});

describe('a refused request whose whole body was sent with its head', () => {
  it('never has the request its body holds answered', async () => {
    const body = `${'x'.repeat(100)}${smuggled}`;
    const { socket, state, answers, closedWithin } = await connection();
    socket.write(
      `${postHead(`content-type: text/plain\r\ncontent-length: ${body.length}\r\n`)}${body}`,
    );
    expect(await answers(1)).toEqual([expect.stringMatching(/^HTTP\/1\.1 400 /)]);
    socket.write(liveRequest);
    // Answered on a kept connection, or the connection closed: never the hidden request.
    await answers(2);
    await closedWithin(1_500);
    expect(state.received.split('{"status":"ok"}').length).toBeLessThanOrEqual(2);
    socket.destroy();
  });
});
