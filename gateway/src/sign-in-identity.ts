// The fields under a sign-in (`signUp`, `logIn`, `refreshSession`), such as `user { tickets }`,
// are fetched as the person who signed in. The request's caller (anonymous, at a sign-in)
// is who every other fetch runs as: other root fields, whatever their alias, included.
//
// Who signed in is known only from the access token the users subgraph issued, which it
// names in its answer's `extensions` by the root field's response key (issued-tokens.ts in
// the users subgraph), selected by the client or not. The gateway takes the extension out
// of the users subgraph's answer (a client never sees it), and verifies each token as it
// verifies a bearer token (same keys, same checks, revocation included). It is read only
// from the users subgraph, only at a mutation's root fetch, and only for a response key
// that names one of those three fields in the client's operation.
import { type Identity, issuedAccessTokensExtension } from '@ticketing/auth';
import { cutForLog, type Logger } from '@ticketing/platform';
import {
  type DocumentNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

const signInFields = new Set(['signUp', 'logIn', 'refreshSession']);

/** What verifies an access token: the one that verifies bearer tokens. */
export interface AccessTokens {
  verify(token: string): Promise<Identity>;
}

/** What a fetch is told of the client's request. */
interface IncomingRequest {
  operation?: OperationDefinitionNode;
  document?: DocumentNode;
  overallCachePolicy: { restrict(hint: { scope: 'PRIVATE' }): void };
}

/** Who signed in, by root response key, for each request (its context) that signed someone in. */
const signedIn = new WeakMap<object, Map<string, Identity>>();

/** The response keys of the operation's root fields that sign someone in, fragments included. */
function signInKeys(
  operation: OperationDefinitionNode,
  document: DocumentNode | undefined,
): Set<string> {
  const keys = new Set<string>();
  const fragments = new Map(
    (document?.definitions ?? []).flatMap((definition) =>
      definition.kind === Kind.FRAGMENT_DEFINITION
        ? [[definition.name.value, definition.selectionSet] as const]
        : [],
    ),
  );
  const visited = new Set<string>();
  const walk = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (signInFields.has(selection.name.value)) {
          keys.add(selection.alias?.value ?? selection.name.value);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) walk(selection.selectionSet);
      else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) walk(fragment);
      }
    }
  };
  walk(operation.selectionSet);
  return keys;
}

/**
 * Takes the issued tokens out of a users subgraph's answer and, for a mutation's root fetch,
 * remembers who signed in at each sign-in field the client asked for and got an answer to.
 * A token that does not verify gives no one: the fields under it run as the caller.
 */
export async function takeSignIns(
  fetch: {
    context: object | undefined;
    incomingRequestContext: IncomingRequest | undefined;
    pathInIncomingRequest: readonly (string | number)[] | undefined;
  },
  response: { data?: Record<string, unknown> | null; extensions?: Record<string, unknown> },
  accessTokens: AccessTokens,
  logger: Logger,
): Promise<void> {
  const offered = response.extensions?.[issuedAccessTokensExtension];
  if (offered === undefined) return;
  delete response.extensions?.[issuedAccessTokensExtension];
  const { context, incomingRequestContext: request, pathInIncomingRequest: path } = fetch;
  const operation = request?.operation;
  if (!context || !operation || operation.operation !== 'mutation' || path?.length !== 0) return;
  if (typeof offered !== 'object' || offered === null) return;
  const keys = signInKeys(operation, request.document);
  for (const [key, token] of Object.entries(offered)) {
    if (!keys.has(key) || typeof token !== 'string' || response.data?.[key] == null) continue;
    let identity: Identity;
    try {
      identity = await accessTokens.verify(token);
    } catch (error) {
      logger.warn({ err: error, field: cutForLog(key) }, 'a sign-in’s access token did not verify');
      continue;
    }
    const byKey = signedIn.get(context) ?? new Map<string, Identity>();
    signedIn.set(context, byKey.set(key, identity));
    // What it holds was read as that person: no shared cache may keep it.
    request.overallCachePolicy.restrict({ scope: 'PRIVATE' });
  }
}

/**
 * Who a fetch runs as: the person who signed in, for a fetch under a sign-in's root field
 * (its path in the response starts with that field's response key); the request's caller
 * otherwise.
 */
export function callerOf(
  context: { viewer?: Identity | null } | undefined,
  pathInIncomingRequest: readonly (string | number)[] | undefined,
): Identity | null {
  if (!context) return null;
  const key = pathInIncomingRequest?.[0];
  const identity = typeof key === 'string' ? signedIn.get(context)?.get(key) : undefined;
  return identity ?? context.viewer ?? null;
}
