import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { serviceUnavailable } from './errors.ts';

/** The header that carries a request's id: set by NGINX, echoed, and forwarded to subgraphs. */
export const requestIdHeader = 'x-request-id';

/**
 * The ids taken from a caller: short and free of spaces, quotes and control characters, so
 * that a header cannot forge or bloat log lines. NGINX's template accepts the same set, so
 * that the edge and the gateway agree on which id a request has.
 */
export const acceptableRequestId = /^[\w.:@/+=-]{1,128}$/;

/** The id a request arrived with, when acceptable; otherwise a new one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && acceptableRequestId.test(header) ? header : randomUUID();
}

/** The id `serveGraphQL` gave the request (kept on it as `req.id`). */
export function requestIdOf(request: IncomingMessage): string {
  return String((request as { id?: unknown }).id ?? '');
}

/**
 * Health probes and metrics scrapes: frequent and uninteresting, so kept out of the access
 * log and out of traces.
 */
export function isOperationalPath(path: string | undefined): boolean {
  return path !== undefined && (path.startsWith('/health/') || path.startsWith('/metrics'));
}

interface RequestScope {
  requestId: string;
  /** Aborted when the client goes away before its answer was sent. */
  abandoned: AbortSignal | undefined;
}

const scope = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `next` (the rest of the request's handling) with `requestId` as the current request
 * id, which every log line written meanwhile carries, however deep in the call tree, and
 * with `abandoned`, which says whether the client is still waiting for the answer.
 */
export function runWithRequestId(
  requestId: string,
  next: () => void,
  abandoned?: AbortSignal,
): void {
  scope.run({ requestId, abandoned }, next);
}

/** The id of the request being handled, or undefined outside one (start-up, timers). */
export function currentRequestId(): string | undefined {
  return scope.getStore()?.requestId;
}

/**
 * Whether the client of the request being handled went away before its answer (a gateway
 * past its deadline for this subgraph closes the connection): a write begun after that is
 * one the client was told had failed.
 */
export function currentRequestAbandoned(): boolean {
  return scope.getStore()?.abandoned?.aborted ?? false;
}

/**
 * `work`, for a write's transaction, refusing last to commit once the client stopped
 * waiting: the gateway, past its deadline for this subgraph, answered SERVICE_UNAVAILABLE,
 * and a client told that tries again. Committed anyway, the retry would meet the first
 * attempt's write (a second hold or draft, an accepted transfer answered
 * TRANSFER_NOT_PENDING, a publication INVALID_STATE_TRANSITION): it is rolled back.
 */
export function whileAwaited<TTransaction, T>(
  work: (tx: TTransaction) => Promise<T>,
): (tx: TTransaction) => Promise<T> {
  return async (tx) => {
    const outcome = await work(tx);
    if (currentRequestAbandoned()) throw serviceUnavailable();
    return outcome;
  };
}
