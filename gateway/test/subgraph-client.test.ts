import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { createLogger, serveGraphQL, shutdownSettings } from '@ticketing/platform';
import { afterEach, describe, expect, it } from 'vitest';
import { sendToSubgraph } from '../src/subgraph-client.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    }),
  );
});

async function serve(
  handle: (request: IncomingMessage, body: string) => { status: number; body: string },
): Promise<string> {
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const answer = handle(request, body);
    response.writeHead(answer.status, {
      'content-type': 'application/json',
      'cache-control': 'max-age=30, public',
    });
    response.end(answer.body);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

const post = (url: string, body: string, signal = AbortSignal.timeout(5_000)) =>
  sendToSubgraph(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gateway-assertion': 'v1.a.b' },
    body,
    signal,
  });

describe('sendToSubgraph', () => {
  it('sends the body and headers as given, and reads status, headers and JSON back', async () => {
    const url = await serve((request, body) => ({
      status: 200,
      body: JSON.stringify({ data: { body, assertion: request.headers['x-gateway-assertion'] } }),
    }));

    const response = await post(url, '{"query":"{ events { id } }"}');

    expect(response.ok).toBe(true);
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('max-age=30, public');
    expect(await response.json()).toEqual({
      data: { body: '{"query":"{ events { id } }"}', assertion: 'v1.a.b' },
    });
  });

  it('gives an HTTP error status as an answer, with its status text and body', async () => {
    const url = await serve(() => ({ status: 403, body: '{"errors":[{"message":"no"}]}' }));

    const response = await post(url, '{}');

    expect(response.ok).toBe(false);
    expect(response.statusText).toBe('Forbidden');
    expect(await response.text()).toBe('{"errors":[{"message":"no"}]}');
  });

  it('rejects with the reason when nothing listens', async () => {
    const url = await serve(() => ({ status: 200, body: '{}' }));
    const [server] = servers.splice(0);
    await new Promise((resolve) => server?.close(resolve));

    await expect(post(url, '{}')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects when its deadline passes before the answer', async () => {
    const server = createServer(() => {
      // Never answers.
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;

    await expect(post(url, '{}', AbortSignal.timeout(50))).rejects.toMatchObject({
      name: 'TimeoutError',
    });
  });

  // A subgraph replica that stops (a rolling update, a scale-in) leaves the connections its
  // callers pool for them to close, and closes those still open at its drain deadline, with
  // whatever request was just sent on one. Subgraphs advertise `Keep-Alive: timeout=75`
  // (meant for NGINX, which lets go after 4 s), and the pool followed it: a gateway held an
  // idle connection 73 s, so every subgraph stop ran to its deadline and closed it there.
  it('lets go of an idle connection before a stopping subgraph’s drain deadline', async () => {
    const subgraph = await serveGraphQL({
      name: 'stopping-subgraph',
      host: '127.0.0.1',
      port: 0,
      logger: createLogger('stopping-subgraph', 'silent'),
      createApolloServer: (plugins) =>
        new ApolloServer({
          typeDefs: 'type Query { hello: String }',
          resolvers: { Query: { hello: () => 'hi' } },
          plugins,
        }),
      context: async () => ({}),
    });
    const answer = await post(subgraph.url, '{"query":"{ hello }"}');
    expect(await answer.json()).toEqual({ data: { hello: 'hi' } });

    const stopping = Date.now();
    await subgraph.stop();
    const deadlineMs = shutdownSettings.parse({}).DRAIN_DEADLINE_MS;
    expect(Date.now() - stopping).toBeLessThan(deadlineMs - 2_000);
  });
});
