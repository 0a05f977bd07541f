// Apollo Client over the one endpoint, with the access token on every request and a
// transparent refresh: a request answered UNAUTHENTICATED (expired token) is sent again once
// after the session is refreshed. A failed login is INVALID_CREDENTIALS and never refreshes.
// Every request has a deadline (`requestDeadlineMs`). Tabs of one browser share the session
// and keep each other up to date: see `onSessionChange` and `changes` below.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import { OperationTypeNode } from 'graphql';
import { catchError, defer, from, mergeMap, type Observable, of, tap, throwError } from 'rxjs';
import { pagedConnection, refetchesMerge } from './connections.ts';
import {
  currentSession,
  endpoint,
  fetchWithDeadline,
  onSessionChange,
  refreshSession,
} from './session.ts';

/**
 * Sends the access token, unless the operation's context says `anonymous: true`: a public
 * page asked for anonymously can be answered from the gateways' shared response cache,
 * which never serves a request with a token.
 */
const withToken = new ApolloLink((operation, forward) => {
  if (operation.getContext().anonymous) return forward(operation);
  const token = currentSession()?.accessToken;
  operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  }));
  return forward(operation);
});

function isUnauthenticated(errors: readonly { extensions?: Record<string, unknown> }[] = []) {
  return errors.some((error) => error.extensions?.code === 'UNAUTHENTICATED');
}

const refreshOnUnauthenticated = new ApolloLink((operation, forward) => {
  const send = () => defer(() => forward(operation));
  const retry = <T>(fallback: Observable<T>): Observable<T> =>
    currentSession() && !operation.getContext().retried
      ? from(refreshSession()).pipe(
          mergeMap((outcome) => {
            if (outcome === 'ended') return fallback;
            // Still signed in, but the API could not say so: the request fails with the
            // refresh's own answer (a refusal says when to try again), and the next one
            // tries the refresh again.
            if (outcome !== 'refreshed') return throwError(() => outcome.unavailable);
            operation.setContext({ retried: true });
            return send() as Observable<T>;
          }),
        )
      : fallback;
  return send().pipe(
    mergeMap((result) => (isUnauthenticated(result.errors) ? retry(of(result)) : of(result))),
    catchError((error: unknown) =>
      (ServerError.is(error) && error.statusCode === 401) ||
      (CombinedGraphQLErrors.is(error) && isUnauthenticated(error.errors))
        ? retry(throwError(() => error))
        : throwError(() => error),
    ),
  );
});

/**
 * What this person changed in one tab (a hold, a purchase, a cancelled ticket, an offer
 * answered), said to their other tabs, which ask again for what they show: their hold, their
 * tickets and the availability catch up without a reload. Only the same person's tabs listen.
 */
const changes = new BroadcastChannel('ticketing.changes');

const announceChanges = new ApolloLink((operation, forward) => {
  if (operation.operationType !== OperationTypeNode.MUTATION) return forward(operation);
  const by = currentSession()?.user.id;
  return forward(operation).pipe(
    tap((result) => {
      if (by && !result.errors?.length) changes.postMessage({ by });
    }),
  );
});

export const client = new ApolloClient({
  defaultOptions: refetchesMerge,
  link: ApolloLink.from([
    announceChanges,
    refreshOnUnauthenticated,
    withToken,
    new HttpLink({ uri: endpoint, fetch: fetchWithDeadline }),
  ]),
  cache: new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          // "Load more" appends the next page to the list already shown; a poll or a
          // refetch of the first page keeps the pages loaded after it.
          events: pagedConnection(['filter', 'orderBy']),
          myOrders: pagedConnection(),
          myTickets: pagedConnection(),
          myTicketTransfers: pagedConnection(),
        },
      },
      User: { fields: { organizedEvents: pagedConnection() } },
    },
  }),
});

changes.addEventListener('message', (message: MessageEvent<{ by?: string }>) => {
  if (message.data?.by && message.data.by === currentSession()?.user.id) {
    void client.refetchQueries({ include: 'active' });
  }
});

/**
 * The person the cache was read as. When it is someone else now (signed in or out here, or
 * in another tab), nothing read before is shown again: the cache is emptied and what the
 * page shows is asked for again, as the person signed in now or as nobody. A refresh keeps
 * the person, and the cache.
 */
let readAs = currentSession()?.user.id;
onSessionChange(() => {
  const now = currentSession()?.user.id;
  if (now === readAs) return;
  readAs = now;
  // A request on its way as the person before is cancelled, and asked again by the reset: its
  // cancellation is no failure to show (`describeError`).
  void client.resetStore().catch(() => undefined);
});
