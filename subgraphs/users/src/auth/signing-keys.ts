// The users service's signing keys. Keys come from configuration (AUTH_SIGNING_KEYS, or a
// file named by AUTH_SIGNING_KEYS_FILE) as {"active": kid, "keys": [private Ed25519 JWK…]}.
// Every key is published in the JWKS; only the active one signs. Rotation: add the new key
// (published, not yet signing), wait for verifiers' caches to pick it up (10 min), make it
// active, and remove the old key once the last token it signed has expired (15 min + 30 s).
import { hkdfSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { signingAlgorithm } from '@ticketing/auth';
import { ConfigurationError, type Logger } from '@ticketing/platform';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';

const privateKeySchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  kid: z.string().min(1),
  x: z.string().min(1),
  d: z.string().min(1),
});

const keyRingSchema = z
  .object({ active: z.string().min(1), keys: z.array(privateKeySchema).min(1) })
  .refine((ring) => ring.keys.some((key) => key.kid === ring.active), {
    message: 'the active kid names none of the keys',
  })
  .refine((ring) => new Set(ring.keys.map((key) => key.kid)).size === ring.keys.length, {
    message: 'kids must be unique',
  });

export type KeyRingFile = z.infer<typeof keyRingSchema>;

export interface SigningKeys {
  readonly activeKid: string;
  readonly signingKey: CryptoKey;
  /** What /.well-known/jwks.json serves: public parts only. */
  readonly publicJwks: JSONWebKeySet;
  /** Verifies this service's own tokens without a round trip to itself. */
  readonly keySet: JWTVerifyGetKey;
  /**
   * Derive refresh tokens' successors (see successorRefreshToken), one from each private
   * key, the active key's first: key material that only this service holds.
   */
  readonly successorKeys: readonly Uint8Array[];
}

/** A key for refresh tokens' successors from a private signing key, for nothing else. */
function successorKeyFrom(key: { d: string }): Uint8Array {
  return new Uint8Array(
    hkdfSync(
      'sha256',
      Buffer.from(key.d, 'base64url'),
      '',
      'ticketing refresh-token successor',
      32,
    ),
  );
}

/** A new Ed25519 private key as a JWK, named by its creation time. */
export async function generateSigningKey(
  kid = `ed25519-${new Date().toISOString()}`,
): Promise<JWK> {
  const { privateKey } = await generateKeyPair(signingAlgorithm, {
    crv: 'Ed25519',
    extractable: true,
  });
  return { ...(await exportJWK(privateKey)), kid };
}

export async function keyRingFrom(file: KeyRingFile): Promise<SigningKeys> {
  const active = file.keys.find((key) => key.kid === file.active) as JWK;
  const publicJwks: JSONWebKeySet = {
    keys: file.keys.map(({ d: _private, ...key }) => ({
      ...key,
      alg: signingAlgorithm,
      use: 'sig',
    })),
  };
  return {
    activeKid: file.active,
    signingKey: (await importJWK(active, signingAlgorithm)) as CryptoKey,
    publicJwks,
    keySet: createLocalJWKSet(publicJwks),
    successorKeys: [active, ...file.keys.filter((key) => key.kid !== file.active)].map((key) =>
      successorKeyFrom(key as { d: string }),
    ),
  };
}

function parseKeyRing(json: string, source: string): KeyRingFile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new ConfigurationError(`${source} is not valid JSON`);
  }
  const result = keyRingSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigurationError(
      `${source} is not a signing key ring: ${z.prettifyError(result.error)}`,
    );
  }
  return result.data;
}

export interface KeySettings {
  AUTH_SIGNING_KEYS?: string | undefined;
  AUTH_SIGNING_KEYS_FILE?: string | undefined;
  /** Generate and keep a key when none is configured (development only). */
  AUTH_DEV_KEYS: boolean;
  /** Where a generated development key is kept. */
  devKeyPath: string;
}

/** Loads the configured keys, or in development generates one at first start and keeps it. */
export async function loadSigningKeys(settings: KeySettings, logger: Logger): Promise<SigningKeys> {
  if (settings.AUTH_SIGNING_KEYS) {
    return keyRingFrom(parseKeyRing(settings.AUTH_SIGNING_KEYS, 'AUTH_SIGNING_KEYS'));
  }
  if (settings.AUTH_SIGNING_KEYS_FILE) {
    const json = await readFile(settings.AUTH_SIGNING_KEYS_FILE, 'utf8');
    return keyRingFrom(parseKeyRing(json, settings.AUTH_SIGNING_KEYS_FILE));
  }
  if (!settings.AUTH_DEV_KEYS) {
    throw new ConfigurationError(
      'No signing keys: set AUTH_SIGNING_KEYS or AUTH_SIGNING_KEYS_FILE (npm run auth:keygen makes one).',
    );
  }
  const path = settings.devKeyPath;
  let ring: KeyRingFile;
  try {
    ring = parseKeyRing(await readFile(path, 'utf8'), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const key = await generateSigningKey();
    ring = parseKeyRing(JSON.stringify({ active: key.kid, keys: [key] }), 'generated key');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${JSON.stringify(ring, null, 2)}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
  }
  logger.warn(
    { path },
    'signing access tokens with a development key kept on local disk; configure AUTH_SIGNING_KEYS in production',
  );
  return keyRingFrom(ring);
}
