// Password hashing with scrypt at OWASP's recommended cost (N=2^17, r=8, p=1), stored in
// the PHC string format so that the parameters travel with each hash and can be raised
// later without breaking existing ones.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (
  password: string | Buffer,
  salt: Buffer,
  keyLength: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export const passwordPolicy = { minLength: 12, maxLength: 1024 } as const;

export const scryptParameters = { logN: 17, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

/** scrypt needs 128·N·r bytes; Node's default 32 MiB cap is below OWASP's cost. */
function memoryFor(logN: number, r: number): number {
  return 128 * 2 ** logN * r * 2;
}

export interface PasswordHash {
  algorithm: 'scrypt';
  logN: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Unicode-normalised, so that the same password typed on another keyboard still matches. */
function normalize(password: string): string {
  return password.normalize('NFKC');
}

/** Whether a password meets the length policy, counted in characters, not bytes. */
export function passwordProblem(password: string): string | undefined {
  const length = [...normalize(password)].length;
  if (length < passwordPolicy.minLength) {
    return `Passwords need at least ${passwordPolicy.minLength} characters.`;
  }
  if (length > passwordPolicy.maxLength) {
    return `Passwords can have at most ${passwordPolicy.maxLength} characters.`;
  }
  return undefined;
}

export async function hashPassword(password: string): Promise<string> {
  const { logN, r, p, saltBytes, keyBytes } = scryptParameters;
  const salt = randomBytes(saltBytes);
  const key = await scryptAsync(normalize(password), salt, keyBytes, {
    N: 2 ** logN,
    r,
    p,
    maxmem: memoryFor(logN, r),
  });
  return `$scrypt$ln=${logN},r=${r},p=${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export function parsePasswordHash(encoded: string): PasswordHash | undefined {
  const match = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([\w-]+)\$([\w-]+)$/.exec(encoded);
  if (!match) return undefined;
  const [, logN, r, p, salt, key] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    algorithm: 'scrypt',
    logN: Number(logN),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(salt, 'base64url'),
    key: Buffer.from(key, 'base64url'),
  };
}

/** Checks a password against a stored hash in constant time. An unusable hash never matches. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const stored = parsePasswordHash(encoded);
  if (!stored) return false;
  const key = await scryptAsync(normalize(password), stored.salt, stored.key.length, {
    N: 2 ** stored.logN,
    r: stored.r,
    p: stored.p,
    maxmem: memoryFor(stored.logN, stored.r),
  });
  return timingSafeEqual(key, stored.key);
}

let decoyHash: Promise<string> | undefined;

/**
 * Spends the same work as checking a real password, for a login whose email matches no
 * account, so that response times do not reveal which emails have accounts.
 */
export async function verifyAgainstDecoy(password: string): Promise<false> {
  decoyHash ??= hashPassword(randomBytes(18).toString('base64url'));
  await verifyPassword(password, await decoyHash);
  return false;
}
