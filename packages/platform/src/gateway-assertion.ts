// The trust boundary between the gateway and the subgraphs. The gateway verifies the
// caller's access token once, then sends each subgraph a short-lived assertion of who is
// calling, MACed with that subgraph's own secret (HMAC-SHA256), naming the subgraph,
// bound to the exact request body, and usable once. A subgraph serves only requests that
// carry a valid one, so nothing that reaches it directly, around the gateway, can claim an
// identity, a client address, or even ask for its schema.
//
// The format is `v1.<claims>.<mac>`: base64url JSON claims, and the MAC over the version,
// the claims and the body's SHA-256. It is a plain HMAC rather than a JWT because it is
// made and checked on every subgraph request: node:crypto does it synchronously in a few
// microseconds, where a JWT library's WebCrypto calls were the gateway's largest cost
// after I/O (docs/BENCHMARKS.md).
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Identity, roles } from '@ticketing/auth';
import { z } from 'zod';
import { ConfigurationError } from './config.ts';
import type { SubgraphName } from './services.ts';

/** The request header that carries the assertion. */
export const assertionHeader = 'x-gateway-assertion';

/**
 * How long an assertion is accepted after it was issued. It travels one hop on a private
 * network, so seconds suffice; the window only has to cover clock skew between hosts.
 */
export const assertionMaxAgeSeconds = 30;

const version = 'v1';

/** Production secrets must be at least this long: 256 bits for HMAC-SHA256. */
const minimumSecretLength = 32;

/** Who the request is for, as the gateway established it. */
export interface ForwardedRequest {
  /** The verified caller, or null for an anonymous request. */
  viewer: Identity | null;
  /** The client's address as the edge saw it, for throttling. */
  clientAddress?: string | undefined;
  /** The request id the edge assigned, for logs. */
  requestId?: string | undefined;
}

/** What a subgraph knows about one request, from a valid assertion. */
export interface VerifiedRequest {
  viewer: Identity | null;
  clientAddress: string | undefined;
  requestId: string | undefined;
}

type SecretVariable<Name extends SubgraphName> = `${Uppercase<Name>}_SUBGRAPH_SECRET`;

const secretVariable = <Name extends SubgraphName>(subgraph: Name) =>
  `${subgraph.toUpperCase()}_SUBGRAPH_SECRET` as SecretVariable<Name>;

/**
 * The `<NAME>_SUBGRAPH_SECRET` variables of the subgraphs named, for a service's settings
 * schema: a subgraph holds its own, a caller (the gateway, tickets for events) the callee's.
 * `subgraphSecret` then reads the validated settings.
 */
export function subgraphSecretSettings<const Name extends SubgraphName>(...subgraphs: Name[]) {
  const shape = Object.fromEntries(
    subgraphs.map((subgraph) => [secretVariable(subgraph), z.string().min(1).optional()]),
  );
  return z.object(shape as { [N in Name as SecretVariable<N>]: z.ZodOptional<z.ZodString> });
}

/**
 * The secret shared by `subgraph` and whoever calls it, from `<NAME>_SUBGRAPH_SECRET` in a
 * service's validated settings (see subgraphSecretSettings).
 * Outside production a fixed development secret stands in, so that `npm start` needs no
 * set-up; in production a missing or short secret stops the service at start-up.
 */
export function subgraphSecret(
  subgraph: SubgraphName,
  env: Readonly<Record<string, unknown>>,
): string {
  const variable = secretVariable(subgraph);
  const value = env[variable];
  const secret = typeof value === 'string' ? value : undefined;
  const production = env.NODE_ENV === 'production';
  if (secret) {
    if (production && secret.length < minimumSecretLength) {
      throw new ConfigurationError(
        `${variable} must be at least ${minimumSecretLength} characters long.`,
      );
    }
    return secret;
  }
  if (production) throw new ConfigurationError(`${variable} is required in production.`);
  return `development-only-${subgraph}-subgraph-secret`;
}

const sha256 = (body: string | Buffer) => createHash('sha256').update(body).digest();

function mac(secret: string, claims: string, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${version}.${claims}.`).update(sha256(body)).digest();
}

export interface SignOptions extends ForwardedRequest {
  /** The secret of the subgraph called. */
  secret: string;
  /** The subgraph called: the assertion is good for it alone. */
  subgraph: SubgraphName;
  /** The exact request body that will be sent. */
  body: string;
  /** Who signs: the gateway, or a subgraph calling another on a caller's behalf. */
  issuer?: string;
  /** When the assertion is issued (ms since the epoch); now by default. */
  issuedAt?: number;
}

/** The headers that let `subgraph` accept a request with `body` from a trusted caller. */
export function signedSubgraphHeaders(options: SignOptions): Record<string, string> {
  const { viewer } = options;
  const claims: Claims = {
    iss: options.issuer ?? 'gateway',
    aud: options.subgraph,
    iat: options.issuedAt ?? Date.now(),
    jti: randomUUID(),
    sub: viewer?.userId ?? 'anonymous',
    ...(viewer ? { role: viewer.role, sid: viewer.sessionId } : {}),
    ...(options.clientAddress ? { cip: options.clientAddress } : {}),
    ...(options.requestId ? { rid: options.requestId } : {}),
  };
  const encoded = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = mac(options.secret, encoded, options.body).toString('base64url');
  return { [assertionHeader]: `${version}.${encoded}.${signature}` };
}

const claimsSchema = z.object({
  iss: z.string().min(1).max(100),
  aud: z.string().min(1),
  iat: z.number().int(),
  jti: z.string().min(1).max(100),
  sub: z.string().min(1).max(100),
  role: z.enum(roles).optional(),
  sid: z.string().min(1).max(100).optional(),
  cip: z.string().min(1).max(100).optional(),
  rid: z.string().min(1).max(200).optional(),
});
type Claims = z.infer<typeof claimsSchema>;

const alreadyUsed = () =>
  new UntrustedRequestError(false, 'The gateway signature was already used.');

/** Why a request was refused; the HTTP status and code the subgraph answers with. */
export class UntrustedRequestError extends Error {
  override name = 'UntrustedRequestError';
  readonly status: 401 | 403;
  readonly code: 'GATEWAY_SIGNATURE_REQUIRED' | 'GATEWAY_SIGNATURE_INVALID';

  constructor(missing: boolean, reason: string) {
    super(reason);
    this.status = missing ? 401 : 403;
    this.code = missing ? 'GATEWAY_SIGNATURE_REQUIRED' : 'GATEWAY_SIGNATURE_INVALID';
  }
}

/**
 * Where the ids of accepted assertions are kept so that every replica sees them: `claim`
 * records `id` for `ttlMs` and says whether it was new, or throws when the store cannot
 * answer (the verifier then relies on its own process, see below).
 */
export interface UsedAssertionStore {
  claim(id: string, ttlMs: number): Promise<boolean>;
}

/** The shared store on Redis: one `SET key 1 NX PX ttl`, atomic across every replica. */
export function redisUsedAssertions(client: {
  set(key: string, value: string, px: 'PX', ttl: number, nx: 'NX'): Promise<string | null>;
}): UsedAssertionStore {
  return {
    async claim(id, ttlMs) {
      return (await client.set(`ticketing:used-assertion:${id}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  };
}

export interface VerifierOptions {
  /** Shared memory of used ids (Redis); without it, this process's memory alone. */
  shared?: UsedAssertionStore | undefined;
  /** Told when the shared store fails and this process's memory stood in for it. */
  onSharedStoreError?: ((error: unknown) => void) | undefined;
  /** When this verifier started (ms since the epoch): older assertions are refused. */
  startedAt?: number;
  /** A clock that never steps (ms), for how long this verifier has run: `performance.now`. */
  monotonicNow?: () => number;
}

/**
 * Checks the assertions a subgraph receives. An assertion is accepted once, and this holds
 * across restarts and replicas by two rules:
 *
 * - every accepted id is claimed in the shared store (Redis `SET NX` with the assertion's
 *   remaining lifetime), so a replica that sees it again refuses it; and
 * - an assertion issued before this process started is refused, so a restart cannot
 *   forget an id it accepted: the ids it could have forgotten were all issued before it.
 *   The rule holds for the assertion's lifetime after the start, measured on a clock that
 *   never steps: past it, every assertion issued before the start is expired anyway, and a
 *   host clock stepped back (by its time service, or a virtual machine resumed) would
 *   otherwise make every request look older than the process, until the clock caught up.
 *
 * This process also remembers the ids it accepted until they expire. When the shared
 * store is unreachable, that memory and the start-time rule still refuse every replay to
 * this replica, restarts included; only a replay to another replica during the outage
 * gets through, which is what `degraded` readiness reports.
 */
/**
 * The parts of an assertion of the right shape (`v1.<claims>.<mac>`), or the refusal of a
 * request that has none (401) or one of another shape (403). Needs no secret and no body:
 * a subgraph checks it before it reads a request's body, which it reads for no one else.
 */
export function assertionParts(token: string | undefined): { encoded: string; signature: string } {
  if (!token) {
    throw new UntrustedRequestError(true, 'Requests must come through the gateway.');
  }
  const [tokenVersion, encoded, signature, ...rest] = token.split('.');
  if (tokenVersion !== version || !encoded || !signature || rest.length > 0) {
    throw new UntrustedRequestError(false, 'The gateway signature is not valid.');
  }
  return { encoded, signature };
}

export class GatewayAssertionVerifier {
  readonly #subgraph: SubgraphName;
  readonly #secret: string;
  readonly #shared: UsedAssertionStore | undefined;
  readonly #onSharedStoreError: ((error: unknown) => void) | undefined;
  readonly #startedAt: number;
  readonly #monotonicNow: () => number;
  /** `#monotonicNow()` at the start. */
  readonly #startedAtMonotonic: number;
  /** Ids seen, with when they stop being acceptable (ms), in the order they were seen. */
  readonly #seen = new Map<string, number>();

  constructor(subgraph: SubgraphName, secret: string, options: VerifierOptions = {}) {
    this.#subgraph = subgraph;
    this.#secret = secret;
    this.#shared = options.shared;
    this.#onSharedStoreError = options.onSharedStoreError;
    this.#startedAt = options.startedAt ?? Date.now();
    this.#monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.#startedAtMonotonic = this.#monotonicNow();
  }

  /** The forwarded request, if `token` is a valid, unused assertion for `body`. */
  async verify(
    token: string | undefined,
    body: Buffer | string,
    now = Date.now(),
  ): Promise<VerifiedRequest> {
    const { encoded, signature } = assertionParts(token);
    const expected = mac(this.#secret, encoded, body);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      // A wrong secret and another body look the same: the MAC covers both.
      throw new UntrustedRequestError(
        false,
        'The gateway signature is not valid for this subgraph and request.',
      );
    }
    let claims: Claims;
    try {
      claims = claimsSchema.parse(JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')));
    } catch {
      throw new UntrustedRequestError(false, 'The gateway signature is not valid.');
    }
    if (claims.aud !== this.#subgraph) {
      throw new UntrustedRequestError(false, 'The gateway signature is for another subgraph.');
    }
    const windowMs = assertionMaxAgeSeconds * 1000;
    if (Math.abs(now - claims.iat) > windowMs) {
      throw new UntrustedRequestError(false, 'The gateway signature has expired.');
    }
    if (
      claims.iat < this.#startedAt &&
      this.#monotonicNow() - this.#startedAtMonotonic <= windowMs
    ) {
      throw new UntrustedRequestError(
        false,
        'The gateway signature was issued before this service started.',
      );
    }
    const viewer =
      claims.sub === 'anonymous'
        ? null
        : claims.role && claims.sid
          ? { userId: claims.sub, role: claims.role, sessionId: claims.sid }
          : undefined;
    if (viewer === undefined) {
      throw new UntrustedRequestError(false, 'The gateway signature names no role or session.');
    }
    this.#forgetExpired(now);
    if (this.#seen.has(claims.jti)) throw alreadyUsed();
    const expiresAt = claims.iat + windowMs;
    this.#seen.set(claims.jti, expiresAt);
    if (this.#shared) {
      let fresh = true;
      try {
        fresh = await this.#shared.claim(
          `${claims.aud}:${claims.jti}`,
          Math.max(1, expiresAt - now),
        );
      } catch (error) {
        // Unreachable or slow: this process's memory and the start-time rule stand in.
        this.#onSharedStoreError?.(error);
      }
      if (!fresh) throw alreadyUsed();
    }
    return { viewer, clientAddress: claims.cip, requestId: claims.rid };
  }

  #forgetExpired(now: number) {
    // Insertion order is close to expiry order: stop at the first id still live.
    for (const [jti, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(jti);
    }
  }
}
