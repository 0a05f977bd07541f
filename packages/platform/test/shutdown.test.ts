// A stopping service behind a pooling proxy: it refuses new connections at once, answers
// on the ones it has with `Connection: close`, and leaves idle ones for the proxy to close.
// And the service, not Apollo, handles SIGTERM.
import { once } from 'node:events';
import { Agent, createServer, type RequestListener, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { drainOnStop } from '../src/drain.ts';
import { type RunningService, serveGraphQL } from '../src/http.ts';
import { createLogger } from '../src/logger.ts';
import { createSubgraphServer } from '../src/subgraph-server.ts';

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
  /** Whether the request went on a connection opened for an earlier one. */
  reusedConnection: boolean;
}

/** A client that keeps one keep-alive connection, as a proxy's pool does. */
function pooledClient(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, body?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: body ? { 'content-type': 'application/json' } : {},
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: text,
              connection: res.headers.connection,
              reusedConnection: req.reusedSocket,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    send,
    /** How many connections the client holds, idle ones included. */
    openConnections: () =>
      Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length,
    close: () => agent.destroy(),
  };
}

/** Resolves with the error code of a new connection to `port`, or 'connected'. */
async function connectOutcome(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  try {
    await once(socket, 'connect');
    return 'connected';
  } catch (error) {
    return (error as { code?: string }).code ?? 'error';
  } finally {
    socket.destroy();
  }
}

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** Told when a `slow` field starts: its request is in flight. */
let slowStarted = () => {};

const cleanUps: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanUps.splice(0)) await cleanUp();
});

describe('serveGraphQL stopping', () => {
  async function serve(): Promise<RunningService> {
    const service = await serveGraphQL({
      name: 'drain-test',
      host: '127.0.0.1',
      port: 0,
      logger: createLogger('drain-test', 'silent'),
      createApolloServer: (plugins) =>
        new ApolloServer({
          typeDefs: 'type Query { slow(ms: Int!): String }',
          resolvers: {
            Query: {
              slow: async (_: unknown, { ms }: { ms: number }) => {
                slowStarted();
                return sleep(ms).then(() => 'done');
              },
            },
          },
          plugins,
        }),
      context: async () => ({}),
    });
    cleanUps.push(() => service.stop());
    return service;
  }

  it('reports draining, on a connection it already had, and refuses new connections', async () => {
    const service = await serve();
    const client = pooledClient(service.port);
    cleanUps.push(client.close);
    expect((await client.send('GET', '/health/ready')).status).toBe(200);

    const stopped = service.stop();
    expect(await client.send('GET', '/health/ready')).toEqual({
      status: 503,
      body: JSON.stringify({ status: 'draining' }),
      connection: 'close',
      reusedConnection: true,
    });
    expect(await connectOutcome(service.port)).toBe('ECONNREFUSED');
    await stopped;
  });

  it('finishes a request in flight, answered with Connection: close', async () => {
    const service = await serve();
    const client = pooledClient(service.port);
    cleanUps.push(client.close);
    const started = new Promise<void>((resolve) => {
      slowStarted = resolve;
    });
    const inFlight = client.send(
      'POST',
      '/graphql',
      JSON.stringify({ query: '{ slow(ms: 300) }' }),
    );
    await started;
    const stopped = service.stop();
    expect(await inFlight).toEqual({
      status: 200,
      body: `${JSON.stringify({ data: { slow: 'done' } })}\n`,
      connection: 'close',
      reusedConnection: false,
    });
    await stopped;
  });

  it('answers a request that waited for 100 Continue, on a connection it had, with Connection: close', async () => {
    // Node hands such a request to the server's `checkContinue` listeners, not its `request`
    // ones, where the drain marks every answer: it must reach them too.
    const service = await serve();
    const socket = connect(service.port, '127.0.0.1');
    cleanUps.push(() => socket.destroy());
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const until = async (done: () => boolean) => {
      while (!done()) await sleep(10);
    };
    socket.write('GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n');
    await until(() => received.includes('{"status":"ok"}'));
    const stopped = service.stop();
    const body = JSON.stringify({ query: '{ slow(ms: 1) }' });
    received = '';
    socket.write(
      `POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: ${body.length}\r\n\r\n`,
    );
    await until(() => received.includes('100 Continue'));
    socket.write(body);
    await until(() => received.includes('"done"'));
    const answer = received.slice(received.lastIndexOf('HTTP/1.1 '));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    await stopped;
  });

  it('leaves an idle connection to its client, and stops once the client closed it', async () => {
    const service = await serve();
    const client = pooledClient(service.port);
    cleanUps.push(client.close);
    expect((await client.send('GET', '/health/live')).status).toBe(200);
    let stoppedAt = 0;
    const stopped = service.stop().then(() => {
      stoppedAt = Date.now();
    });
    await sleep(500);
    // The server has not closed the idle connection: a request on it is still answered.
    expect(client.openConnections()).toBe(1);
    expect(stoppedAt).toBe(0);
    const closedAt = Date.now();
    client.close();
    await stopped;
    expect(stoppedAt).toBeGreaterThanOrEqual(closedAt);
  });
});

describe('drainOnStop', () => {
  async function listen(handler: RequestListener) {
    const server = createServer(handler);
    const drainer = drainOnStop(server, { deadlineMs: 300 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanUps.push(() => server.closeAllConnections());
    return { server, drainer, port: (server.address() as AddressInfo).port };
  }

  it('closes the connections left at the deadline', async () => {
    const { drainer, port } = await listen((_req, res) => res.end('ok'));
    const client = pooledClient(port);
    cleanUps.push(client.close);
    await client.send('GET', '/');
    const began = Date.now();
    await drainer.drain();
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    // The client learns of the close when its socket's close event is handled.
    await vi.waitFor(() => expect(client.openConnections()).toBe(0), { timeout: 2_000 });
  });

  it('drains once however often it is asked to', async () => {
    const { drainer, server } = await listen((_req, res) => res.end('ok'));
    expect(drainer.draining).toBe(false);
    const first = drainer.drain();
    expect(drainer.drain()).toBe(first);
    expect(drainer.draining).toBe(true);
    await first;
    expect(server.listening).toBe(false);
  });
});

describe('createSubgraphServer', () => {
  it('leaves SIGTERM to the service, also outside tests', async () => {
    // Apollo installs its own handler unless NODE_ENV is "test"; it would stop the server and
    // raise the signal again, ending the process with code 1 before the service stopped.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    const listeners = process.listenerCount('SIGTERM');
    const server = createSubgraphServer(parse('type Query { a: Int }'), {});
    try {
      await server.start();
      expect(process.listenerCount('SIGTERM')).toBe(listeners);
    } finally {
      await server.stop();
      process.env.NODE_ENV = nodeEnv;
    }
  });
});
