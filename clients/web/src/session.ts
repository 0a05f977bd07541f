// The signed-in session: tokens kept in localStorage, so that a reload stays signed in, and
// a refresh that happens once however many requests need it at the same moment.
import { CombinedGraphQLErrors, ServerError, ServerParseError } from '@apollo/client/errors';
import { type FormattedExecutionResult, print } from 'graphql';
import { useSyncExternalStore } from 'react';
import { RefreshSessionDocument } from './gql/graphql.ts';

export interface SessionUser {
  id: string;
  name: string;
  email: string;
  role: 'CUSTOMER' | 'ORGANIZER' | 'ADMIN';
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  user: SessionUser;
}

const storageKey = 'ticketing.session';
const listeners = new Set<() => void>();

/**
 * The API endpoint: VITE_GRAPHQL_URL if set; under the dev server, the local topology's edge
 * (through CORS); otherwise the one named in index.html (a deployment may change it), which
 * is the same origin's /graphql.
 */
export const endpoint = new URL(
  import.meta.env.VITE_GRAPHQL_URL ??
    (import.meta.env.MODE === 'development'
      ? 'http://127.0.0.1:8080/graphql'
      : (document.querySelector<HTMLMetaElement>('meta[name="graphql-endpoint"]')?.content ??
        '/graphql')),
  location.href,
).href;

export function currentSession(): Session | null {
  const stored = localStorage.getItem(storageKey);
  return stored ? (JSON.parse(stored) as Session) : null;
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(storageKey, JSON.stringify(session));
  else localStorage.removeItem(storageKey);
  for (const listener of listeners) listener();
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// The same object for as long as the stored session is the same (React compares snapshots).
let snapshot: { raw: string | null; session: Session | null } = { raw: null, session: null };
function sessionSnapshot(): Session | null {
  const raw = localStorage.getItem(storageKey);
  if (raw !== snapshot.raw) snapshot = { raw, session: currentSession() };
  return snapshot.session;
}

/** The session, re-rendering when it changes (in this tab or another). */
export function useSession(): Session | null {
  return useSyncExternalStore(onSessionChange, sessionSnapshot);
}

// Another tab signed in, refreshed or signed out.
window.addEventListener('storage', (event) => {
  if (event.key === storageKey) for (const listener of listeners) listener();
});

/**
 * How long the page waits for any answer from the API. Past it the request fails as the
 * network does, and the page says so instead of waiting forever; a purchase sent again
 * after it carries the same idempotency key, so it cannot buy twice.
 */
export const requestDeadlineMs = 15_000;

/** `fetch` that gives up after `requestDeadlineMs`, or sooner when the caller aborts. */
export function fetchWithDeadline(input: RequestInfo | URL, init: RequestInit = {}) {
  const deadline = AbortSignal.timeout(requestDeadlineMs);
  const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
  return fetch(input, { ...init, signal });
}

/**
 * What a refresh came to: a new pair; the session over (the API refused the refresh token:
 * logged out elsewhere, expired, revoked); or the API not answering as it should (down,
 * busy, refusing for now, a lost answer), which says nothing about the session, so it is
 * kept, and the request that waited on the refresh fails with `unavailable`, the answer as
 * Apollo Client would have given it, so that the page says what it was.
 */
export type RefreshOutcome = 'refreshed' | 'ended' | { unavailable: unknown };

let refreshing: Promise<RefreshOutcome> | undefined;

/**
 * Whether the stored session is still the one `used` (its refresh token). Another tab may
 * have signed out, signed in as someone else, or refreshed it itself while this refresh was
 * on its way: what it stored stands, and this refresh's answer is of no use.
 */
function stillStored(used: Session): boolean {
  return currentSession()?.refreshToken === used.refreshToken;
}

/**
 * What another tab left stored while a refresh of `used` was on its way: the same person's
 * session, refreshed, which the waiting request may use; or none, or someone else's, as whom
 * a request made as `used`'s person is never sent: for it, the session ended.
 */
const storedByAnotherTab = (used: Session): RefreshOutcome =>
  currentSession()?.user.id === used.user.id ? 'refreshed' : 'ended';

/** Keeps the new pair the API answered with, or says why there is none. */
function settleRefresh(response: Response, bodyText: string, used: Session): RefreshOutcome {
  if (!stillStored(used)) return storedByAnotherTab(used);
  let body: {
    data?: { refreshSession?: Session | null } | null;
    errors?: { extensions?: { code?: unknown } }[];
  };
  try {
    body = JSON.parse(bodyText);
  } catch (parseError) {
    // Not JSON: a proxy's page, say.
    return { unavailable: new ServerParseError(parseError, { response, bodyText }) };
  }
  const next = body?.data?.refreshSession;
  if (next) {
    saveSession({
      accessToken: next.accessToken,
      refreshToken: next.refreshToken,
      user: next.user,
    });
    return 'refreshed';
  }
  if (body?.errors?.some((error) => error.extensions?.code === 'UNAUTHENTICATED')) {
    saveSession(null);
    return 'ended';
  }
  // Refused for now (TOO_MANY_ATTEMPTS), or an HTTP refusal (429, 503, ...) of the edge.
  if (response.ok && body?.errors?.length) {
    return { unavailable: new CombinedGraphQLErrors(body as FormattedExecutionResult) };
  }
  return {
    unavailable: new ServerError(`Received status code ${response.status}`, {
      response,
      bodyText,
    }),
  };
}

/**
 * Exchanges the refresh token for a new pair, once for all the requests that are waiting on
 * it. Another tab refreshing at the same moment gets the same successor from the API (its
 * grace window), so tabs never revoke each other's session.
 */
export function refreshSession(): Promise<RefreshOutcome> {
  refreshing ??= (async (): Promise<RefreshOutcome> => {
    const session = currentSession();
    if (!session) return 'ended';
    try {
      const response = await fetchWithDeadline(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: print(RefreshSessionDocument),
          operationName: 'RefreshSession',
          variables: { refreshToken: session.refreshToken },
        }),
      });
      const bodyText = await response.text();
      // Read after the answer came: another tab may have changed the session meanwhile.
      return settleRefresh(response, bodyText, session);
    } catch (error) {
      // The network, not the session, failed: keep it, and let the request fail, unless
      // another tab has stored another session meanwhile, which the request may use.
      if (!stillStored(session)) return storedByAnotherTab(session);
      return { unavailable: error };
    }
  })().finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}
