// The gateways' key set (the users service's JWKS) when that service is down, refusing,
// failing or frozen: a real HTTP server of the test's own, closed or silenced. A valid token
// is never answered UNAUTHENTICATED for the key set's outage (a client would sign its user
// out), and keys already known keep verifying while it lasts.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AccessTokenVerifier,
  accessTokenLifetimeSeconds,
  accessTokenType,
  remoteKeySet,
  signingAlgorithm,
} from '../src/index.ts';

const parties = { issuer: 'urn:test:users', audience: 'urn:test:api' };
/** jose's wait for the key set (remoteKeySet's), and room for a busy machine. */
const keySetDeadlineMs = 5_000;
const marginMs = 2_000;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}
let current: SigningKey;
let next: SigningKey;

async function signingKey(): Promise<SigningKey> {
  const pair = await generateKeyPair(signingAlgorithm, { extractable: true });
  const kid = randomUUID();
  return { kid, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid } };
}

beforeAll(async () => {
  current = await signingKey();
  next = await signingKey();
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const close of closers.splice(0)) await close();
});

async function issue(key: SigningKey): Promise<string> {
  const issuedAt = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'CUSTOMER', sid: randomUUID() })
    .setProtectedHeader({ alg: signingAlgorithm, kid: key.kid, typ: accessTokenType })
    .setIssuer(parties.issuer)
    .setAudience(parties.audience)
    .setSubject(randomUUID())
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + accessTokenLifetimeSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}

/** Serves `keys` as a JWKS, or the status `failing` says; `silence` freezes it. */
async function keySetServer() {
  const state: { keys: JWK[]; failing?: number } = { keys: [current.jwk] };
  const server: Server = createServer((_request, response) => {
    if (state.failing) {
      response.writeHead(state.failing).end('unavailable');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: state.keys }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${port}/.well-known/jwks.json`, state, server };
}

/** A TCP server that accepts connections and never answers: a frozen service. */
async function silentServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  closers.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${port}/.well-known/jwks.json`;
}

/** A port that refuses connections: a service that is down. */
async function refusingUrl(): Promise<string> {
  const server = createTcpServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/.well-known/jwks.json`;
}

const verifierFor = (url: string) =>
  new AccessTokenVerifier(remoteKeySet(url), parties, { verifiedTokens: 0 });

/** How `authenticate` settled, and after how long. */
async function authenticate(verifier: AccessTokenVerifier, token: string) {
  const started = performance.now();
  try {
    const identity = await verifier.authenticate(`Bearer ${token}`);
    return { identity, ms: performance.now() - started };
  } catch (error) {
    const { code, http } = (error as { extensions: { code?: string; http?: { status?: number } } })
      .extensions;
    return { code, status: http?.status, ms: performance.now() - started };
  }
}

describe('a key set that cannot be fetched', () => {
  it.each([
    ['refuses connections', refusingUrl],
    [
      'answers 503',
      async () => {
        const { url, state } = await keySetServer();
        state.failing = 503;
        return url;
      },
    ],
    ['accepts and never answers', silentServer],
  ] as const)(
    'when its server %s, a valid token is SERVICE_UNAVAILABLE (503), within its deadline',
    async (_, serve) => {
      const verifier = verifierFor(await serve());
      const result = await authenticate(verifier, await issue(current));
      expect(result).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
      expect(result.ms).toBeLessThan(keySetDeadlineMs + marginMs);
    },
    20_000,
  );
});

describe('a key set past its age whose server is away', () => {
  /** A verifier that has loaded the key set, then the clock moved past the set's age. */
  async function loadedThenAged() {
    const keySet = await keySetServer();
    const verifier = verifierFor(keySet.url);
    expect((await authenticate(verifier, await issue(current))).identity).toBeTruthy();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    return { keySet, verifier };
  }

  it.each([
    [
      'fails',
      async (keySet: Awaited<ReturnType<typeof keySetServer>>) => {
        keySet.state.failing = 503;
      },
    ],
    [
      'is frozen',
      async (keySet: Awaited<ReturnType<typeof keySetServer>>) => {
        // Every connection it accepts from now on goes unanswered.
        keySet.server.removeAllListeners('request');
        keySet.server.closeIdleConnections();
      },
    ],
  ] as const)(
    'when it %s, keeps verifying tokens of the keys it has, without waiting',
    async (_, fault) => {
      const { keySet, verifier } = await loadedThenAged();
      await fault(keySet);
      for (let attempt = 0; attempt < 3; attempt++) {
        const result = await authenticate(verifier, await issue(current));
        expect(result.identity).toBeTruthy();
        expect(result.ms).toBeLessThan(marginMs);
      }
    },
    20_000,
  );

  it('still drops a withdrawn key once its server answers again', async () => {
    const { keySet, verifier } = await loadedThenAged();
    keySet.state.keys = [next.jwk];
    const deadline = performance.now() + keySetDeadlineMs;
    let result = await authenticate(verifier, await issue(current));
    while (result.identity && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      result = await authenticate(verifier, await issue(current));
    }
    expect(result).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect((await authenticate(verifier, await issue(next))).identity).toBeTruthy();
  }, 20_000);
});
