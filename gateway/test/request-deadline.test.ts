// A gateway's deadlines with every subgraph frozen (a TCP server of the test's own that
// accepts and never answers) and the users service's key set slow to answer (a real HTTP
// server that answers late). A request's deadline counts from its arrival: waiting for the
// key set is part of it, so the answer still comes by REQUEST_TIMEOUT_MS, not that late plus
// it. Readiness answers `degraded` within its own wait, below its probe's timeout.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { accessTokenLifetimeSeconds, accessTokenType, signingAlgorithm } from '@ticketing/auth';
import type { RunningService } from '@ticketing/platform';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, subgraphReadinessWaitMs } from '../src/main.ts';

const requestTimeoutMs = 4_000;
const keySetDelayMs = 3_000;
const kid = randomUUID();
let privateKey: CryptoKey;
let gateway: RunningService;
const closers: (() => Promise<void>)[] = [];

async function listening<T extends { listen(port: number, host: string): unknown }>(server: T) {
  server.listen(0, '127.0.0.1');
  await once(server as unknown as NodeJS.EventEmitter, 'listening');
  return (server as unknown as { address(): { port: number } }).address().port;
}

beforeAll(async () => {
  const pair = await generateKeyPair(signingAlgorithm, { extractable: true });
  privateKey = pair.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid }] });
  const keySet = createServer((_request, response) => {
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    }, keySetDelayMs);
  });
  const keySetPort = await listening(keySet);
  const sockets = new Set<Socket>();
  const frozen = createTcpServer((socket) => sockets.add(socket));
  const frozenPort = await listening(frozen);
  closers.push(async () => {
    keySet.closeAllConnections();
    keySet.close();
    for (const socket of sockets) socket.destroy();
    frozen.close();
  });
  const subgraph = `http://127.0.0.1:${frozenPort}/graphql`;
  gateway = await startGateway({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DRAIN_DEADLINE_MS: '0',
    WARM_UP_TIMEOUT_MS: '0',
    REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
    SUBGRAPH_TIMEOUT_MS: String(requestTimeoutMs),
    AUTH_JWKS_URL: `http://127.0.0.1:${keySetPort}/.well-known/jwks.json`,
    USERS_URL: subgraph,
    EVENTS_URL: subgraph,
    TICKETS_URL: subgraph,
  });
});

afterAll(async () => {
  await gateway?.stop();
  for (const close of closers) await close();
});

async function accessToken(): Promise<string> {
  const issuedAt = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'CUSTOMER', sid: randomUUID() })
    .setProtectedHeader({ alg: signingAlgorithm, kid, typ: accessTokenType })
    .setIssuer('urn:ticketing:users')
    .setAudience('urn:ticketing:api')
    .setSubject(randomUUID())
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + accessTokenLifetimeSeconds)
    .setJti(randomUUID())
    .sign(privateKey);
}

describe('a signed-in request while the key set is slow and every subgraph is frozen', () => {
  it('is answered SERVICE_UNAVAILABLE by REQUEST_TIMEOUT_MS from its arrival', async () => {
    const token = await accessToken();
    const started = performance.now();
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ me { id } }' }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    const elapsed = performance.now() - started;

    expect(body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    // Room for a busy machine, and well short of the key set's wait on top of the deadline.
    expect(elapsed).toBeLessThan(requestTimeoutMs + 1_500);
  }, 40_000);
});

describe('readiness while every subgraph is frozen', () => {
  it('answers 200 degraded, naming each, within its wait for them', async () => {
    const started = performance.now();
    const response = await fetch(new URL('/health/ready', gateway.url), {
      signal: AbortSignal.timeout(30_000),
    });
    const elapsed = performance.now() - started;

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'degraded',
      problems: {
        users: 'unreachable (TimeoutError)',
        events: 'unreachable (TimeoutError)',
        tickets: 'unreachable (TimeoutError)',
      },
    });
    expect(elapsed).toBeLessThan(subgraphReadinessWaitMs + 1_000);
  }, 40_000);
});
