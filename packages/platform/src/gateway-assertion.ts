// The trust boundary between the gateway and the subgraphs. The gateway verifies the
// caller's access token once, then sends each subgraph a short-lived assertion of who is
// calling: a JWT (HS256) signed with that subgraph's own secret, naming the subgraph as its
// audience, bound to the exact request body, and usable once. A subgraph serves only
// requests that carry a valid one, so nothing that reaches it directly, around the gateway,
// can claim an identity, a client address, or even ask for its schema.
import { createHash, createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import { type Identity, roles } from '@ticketing/auth';
import { errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { ConfigurationError } from './config.ts';

/** The request header that carries the assertion. */
export const assertionHeader = 'x-gateway-assertion';

/**
 * How long an assertion is accepted after it was issued. It travels one hop on a private
 * network, so seconds suffice; the window only has to cover clock skew between hosts.
 */
export const assertionMaxAgeSeconds = 30;

const assertionType = 'gateway-assertion+jwt';

/** Production secrets must be at least this long: HS256 wants 256 bits of key. */
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

export type SubgraphName = 'users' | 'events' | 'tickets';

const audienceOf = (subgraph: string) => `urn:ticketing:subgraph:${subgraph}`;

/**
 * The secret shared by `subgraph` and whoever calls it, from `<NAME>_SUBGRAPH_SECRET`.
 * Outside production a fixed development secret stands in, so that `npm start` needs no
 * set-up; in production a missing or short secret stops the service at start-up.
 */
export function subgraphSecret(subgraph: SubgraphName, env: NodeJS.ProcessEnv): string {
  const variable = `${subgraph.toUpperCase()}_SUBGRAPH_SECRET`;
  const secret = env[variable];
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

const keys = new Map<string, KeyObject>();
function keyFor(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    keys.set(secret, key);
  }
  return key;
}

const bodyDigest = (body: string | Buffer) => createHash('sha256').update(body).digest('base64url');

export interface SignOptions extends ForwardedRequest {
  /** The secret of the subgraph called. */
  secret: string;
  /** The subgraph called: the assertion is good for it alone. */
  subgraph: SubgraphName;
  /** The exact request body that will be sent. */
  body: string;
  /** Who signs: the gateway, or a subgraph calling another on a caller's behalf. */
  issuer?: string;
  /** When the assertion is issued (seconds since the epoch); now by default. */
  issuedAt?: number;
}

/** The headers that let `subgraph` accept a request with `body` from a trusted caller. */
export async function signedSubgraphHeaders(options: SignOptions): Promise<Record<string, string>> {
  const { viewer } = options;
  const token = await new SignJWT({
    bdy: bodyDigest(options.body),
    ...(viewer ? { role: viewer.role, sid: viewer.sessionId } : {}),
    ...(options.clientAddress ? { cip: options.clientAddress } : {}),
    ...(options.requestId ? { rid: options.requestId } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: assertionType })
    .setIssuer(options.issuer ?? 'urn:ticketing:gateway')
    .setAudience(audienceOf(options.subgraph))
    .setIssuedAt(options.issuedAt)
    .setExpirationTime((options.issuedAt ?? Math.floor(Date.now() / 1000)) + assertionMaxAgeSeconds)
    .setJti(randomUUID())
    .setSubject(viewer?.userId ?? 'anonymous')
    .sign(keyFor(options.secret));
  return { [assertionHeader]: token };
}

const claimsSchema = z.object({
  jti: z.string().min(1),
  exp: z.number(),
  sub: z.string().min(1),
  bdy: z.string().min(1),
  role: z.enum(roles).optional(),
  sid: z.string().min(1).optional(),
  cip: z.string().min(1).max(100).optional(),
  rid: z.string().min(1).max(200).optional(),
});

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
 * Checks the assertions a subgraph receives. An assertion is accepted once: its id is kept
 * until it expires, so a captured request cannot be replayed inside the window either, and
 * outside the window it has expired.
 */
export class GatewayAssertionVerifier {
  readonly #key: KeyObject;
  readonly #audience: string;
  /** Ids seen, with when they expire (ms), in the order they were seen. */
  readonly #seen = new Map<string, number>();

  constructor(subgraph: SubgraphName, secret: string) {
    this.#key = keyFor(secret);
    this.#audience = audienceOf(subgraph);
  }

  /** The forwarded request, if `token` is a valid, unused assertion for `body`. */
  async verify(token: string | undefined, body: Buffer | string): Promise<VerifiedRequest> {
    if (!token) {
      throw new UntrustedRequestError(true, 'Requests must come through the gateway.');
    }
    let payload: z.infer<typeof claimsSchema>;
    try {
      const verified = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        typ: assertionType,
        audience: this.#audience,
        maxTokenAge: assertionMaxAgeSeconds,
        requiredClaims: ['iat', 'exp', 'jti', 'sub'],
      });
      payload = claimsSchema.parse(verified.payload);
    } catch (error) {
      const reason =
        error instanceof errors.JWTExpired ||
        (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iat')
          ? 'The gateway signature has expired.'
          : 'The gateway signature is not valid.';
      throw new UntrustedRequestError(false, reason);
    }
    if (payload.bdy !== bodyDigest(body)) {
      throw new UntrustedRequestError(false, 'The gateway signature is for another request.');
    }
    this.#forgetExpired();
    if (this.#seen.has(payload.jti)) {
      throw new UntrustedRequestError(false, 'The gateway signature was already used.');
    }
    this.#seen.set(payload.jti, payload.exp * 1000);

    const viewer =
      payload.sub === 'anonymous'
        ? null
        : payload.role && payload.sid
          ? { userId: payload.sub, role: payload.role, sessionId: payload.sid }
          : undefined;
    if (viewer === undefined) {
      throw new UntrustedRequestError(false, 'The gateway signature names no role or session.');
    }
    return { viewer, clientAddress: payload.cip, requestId: payload.rid };
  }

  #forgetExpired(now = Date.now()) {
    // Insertion order is close to expiry order: stop at the first id still live.
    for (const [jti, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(jti);
    }
  }
}
