import { GraphQLError } from 'graphql';

// Expected failures, each with a stable `extensions.code` that clients can branch on.

/** Input the caller can fix; `field` names the argument or input field at fault. */
export function badUserInput(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) },
  });
}

/**
 * Nothing with this id, or nothing the caller may see; `field` names the argument or input
 * field that gave the id, when the client gave one.
 */
export function notFound(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'NOT_FOUND', ...(field ? { field } : {}) },
  });
}

/** The codes every service may answer with, besides its own (README: Error codes). */
export const commonErrorCodes = ['BAD_USER_INPUT', 'NOT_FOUND', 'SERVICE_UNAVAILABLE'] as const;

export type CommonErrorCode = (typeof commonErrorCodes)[number];

/** An application-specific failure, e.g. EMAIL_TAKEN or TOO_MANY_ATTEMPTS. */
export function failure(
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/**
 * `failure` restricted to one service's codes: `const failure = failures<TicketsErrorCode>()`
 * in the service's errors.ts, so that a code not in its union (a typo, a code another service
 * owns) fails the type check.
 */
export function failures<Code extends string>() {
  return (
    code: Code | CommonErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
  ): GraphQLError => failure(code, message, extensions);
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot name a row and must not reach a uuid column. */
export function isUuid(id: string): boolean {
  return uuidPattern.test(id);
}

/**
 * PostgreSQL's SQLSTATEs that say the database could not do the work now, not that the work
 * was wrong: a lost or refused connection (class 08), the service's role refused at log-in
 * (class 28: its password changed, or it may no longer log in; an operator's to fix, not the
 * client's), a server shutting down or starting (57P01–57P03), too many connections or no
 * resources (class 53), a statement or lock deadline (57014, 55P03), a deadlock or
 * serialization failure (40P01, 40001), and a write refused by a server that is read-only
 * (25006: a standby, or a primary set read-only during a failover), which refuses it whole
 * and serves reads meanwhile. A refusal at connect of another class is below.
 */
const unavailableStates = /^(08|28|53)|^(57P0[1-3]|57014|55P03|40P01|40001|25006)$/;

/** Driver and client errors of the same kind: what pg, Prisma's adapter and Prisma say. */
const unavailableKinds = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TransactionWriteConflict',
  'TransactionAlreadyClosed',
]);
const unavailableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);
/** Prisma's codes for an unreachable server, a pool or transaction timeout, a conflict. */
const unavailablePrismaCodes = new Set([
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  'P2028',
  'P2034',
]);
const unavailableMessages =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|connect ECONNREFUSED/i;

/**
 * A refusal at connect outside class 28: the role's CONNECT on its database revoked (42501,
 * which a statement denied a table's privilege shares, so told by its message). An
 * operator's to fix, as a refused log-in is.
 */
const refusedAtConnect = (code: string, message: unknown) =>
  code === '42501' && typeof message === 'string' && /permission denied for database/.test(message);

/** The fields of an error, or of what it wraps, that say what kind of failure it is. */
interface ErrorShape {
  code?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  message?: unknown;
  cause?: unknown;
  meta?: { driverAdapterError?: unknown };
  originalError?: unknown;
}

/** Whether `error` or anything it wraps (causes, Prisma's adapter errors) passes `test`. */
function anyCause(error: unknown, test: (candidate: ErrorShape) => boolean): boolean {
  const seen = new Set<unknown>();
  const pending: unknown[] = [error];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const candidate = current as ErrorShape;
    if (test(candidate)) return true;
    pending.push(candidate.cause, candidate.meta?.driverAdapterError, candidate.originalError);
  }
  return false;
}

const codesOf = (candidate: ErrorShape) =>
  [candidate.code, candidate.originalCode].filter((code) => typeof code === 'string');

/**
 * Whether `error` (or anything it wraps) says the database is unreachable, restarting,
 * overloaded or past a deadline: a failure that clears by itself, reported to clients as
 * SERVICE_UNAVAILABLE rather than as an internal error.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return anyCause(
    error,
    (candidate) =>
      codesOf(candidate).some(
        (code) =>
          unavailableStates.test(code) ||
          refusedAtConnect(code, candidate.message) ||
          unavailableSocketCodes.has(code) ||
          unavailablePrismaCodes.has(code),
      ) ||
      (typeof candidate.kind === 'string' && unavailableKinds.has(candidate.kind)) ||
      (typeof candidate.message === 'string' && unavailableMessages.test(candidate.message)),
  );
}

/**
 * The CHECK constraint that `error` (or anything it wraps) says a statement violated
 * (SQLSTATE 23514), as Prisma's adapter reports it: PostgreSQL names it only in the message.
 */
export function violatedCheck(error: unknown): string | undefined {
  let constraint: string | undefined;
  anyCause(error, (candidate) => {
    if (!codesOf(candidate).includes('23514') || typeof candidate.message !== 'string') {
      return false;
    }
    constraint = /violates check constraint "([^"]+)"/.exec(candidate.message)?.[1];
    return constraint !== undefined;
  });
  return constraint;
}

/** A deadlock or serialization failure, as PostgreSQL (40P01, 40001) and Prisma (P2034) say it. */
const conflictCodes = new Set(['40P01', '40001', 'P2034']);

/**
 * Whether `error` (or anything it wraps) is a deadlock or serialization failure: PostgreSQL
 * rolled the whole transaction back, so running it again from the start is safe. (A lost
 * connection is not one: its transaction may have committed.)
 */
export function isTransactionConflict(error: unknown): boolean {
  return anyCause(
    error,
    (candidate) =>
      codesOf(candidate).some((code) => conflictCodes.has(code)) ||
      candidate.kind === 'TransactionWriteConflict',
  );
}

/**
 * Whether `error` (or anything it wraps) is a unique index refusing a second row, as Prisma
 * (P2002) or PostgreSQL (23505) says it: for a creation with an idempotency key, the index on
 * (owner, key) standing behind its lock (`tryLockKey`).
 */
export function isDuplicateKey(error: unknown): boolean {
  return anyCause(error, (candidate) =>
    codesOf(candidate).some((code) => code === 'P2002' || code === '23505'),
  );
}

/**
 * Whether `error` (or anything it wraps) is the tickets database refusing something new for
 * an account that was closed as it was deleted (SQLSTATE TKA01, migration `closed_accounts`).
 */
export function isClosedAccount(error: unknown): boolean {
  return anyCause(error, (candidate) => codesOf(candidate).includes('TKA01'));
}

/** What a client sees when the database cannot serve a request now. */
export function serviceUnavailable(): GraphQLError {
  return new GraphQLError('A service is unavailable; try again shortly.', {
    extensions: { code: 'SERVICE_UNAVAILABLE' },
  });
}

/**
 * Runs `transaction` (a whole database transaction) again while it fails with a deadlock or
 * serialization failure, `attempts` times in all: PostgreSQL rolled the failed attempt back
 * whole, and lock cycles between transactions that lock rows in different orders (a waitlist
 * offer and its waiter's own purchase) clear on the next try. Other errors pass through.
 */
export async function retryOnConflict<T>(transaction: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transaction();
    } catch (error) {
      if (attempt >= attempts || !isTransactionConflict(error)) throw error;
    }
  }
}
