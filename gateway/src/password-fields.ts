import { type ApolloServerPlugin, type BaseContext, HeaderMap } from '@apollo/server';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * The mutations that cost a password hash (about a third of a second of a core each). A
 * request may hold one: aliases would otherwise multiply one request's cost. Checked at
 * the gateway, because the query planner may send root fields to the users subgraph in
 * separate fetches (when another subgraph's field lies between them). `updateProfile`
 * checks the current password when it changes the email; a correct one gives its attempt
 * back to the throttle, so aliases of it alone would run a check each, without end.
 */
export const passwordFields: ReadonlySet<string> = new Set([
  'signUp',
  'logIn',
  'changePassword',
  'deleteAccount',
  'updateProfile',
]);

/** The mutations among them that hash a new password (the users service's `hashing` queue). */
export const newPasswordFields: ReadonlySet<string> = new Set(['signUp', 'changePassword']);

/**
 * How many password fields `operation` runs at its root: the distinct response keys
 * (alias or name) of such fields, through fragments, since GraphQL runs a key once.
 */
export function countPasswordFields(
  operation: OperationDefinitionNode,
  document: DocumentNode,
): number {
  return passwordFieldKeys(operation, document).length;
}

/**
 * The response keys (alias or name) of the root fields of `operation` named in `fields`,
 * through fragments, each once.
 */
export function passwordFieldKeys(
  operation: OperationDefinitionNode,
  document: DocumentNode,
  fields: ReadonlySet<string> = passwordFields,
): string[] {
  return rootFieldKeys(operation, document, (name) => fields.has(name));
}

/**
 * The response keys (alias or name) of the root fields of `operation` whose name `counts`,
 * through fragments, each once: GraphQL runs a key once, however often it is selected.
 */
export function rootFieldKeys(
  operation: OperationDefinitionNode,
  document: DocumentNode,
  counts: (name: string) => boolean,
): string[] {
  const fragments = new Map(
    document.definitions
      .filter(
        (definition): definition is FragmentDefinitionNode =>
          definition.kind === Kind.FRAGMENT_DEFINITION,
      )
      .map((fragment) => [fragment.name.value, fragment]),
  );
  const keys = new Set<string>();
  const expanded = new Set<string>();
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (counts(selection.name.value)) {
          keys.add(selection.alias?.value ?? selection.name.value);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment && !expanded.has(fragment.name.value)) {
          expanded.add(fragment.name.value);
          collect(fragment.selectionSet);
        }
      }
    }
  };
  collect(operation.selectionSet);
  return [...keys];
}

/**
 * Refuses, before planning, a mutation with more than one password field:
 * `PASSWORD_FIELDS_LIMIT`, HTTP 400.
 */
export function passwordFieldsPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  // Typed loosely, as in safelist.ts: Apollo needs a HeaderMap in `http`.
  const refusal: Record<string, unknown> = {
    code: 'PASSWORD_FIELDS_LIMIT',
    http: { status: 400, headers: new HeaderMap() },
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document }) {
          if (operation?.operation !== 'mutation') return;
          if (countPasswordFields(operation, document) > 1) {
            throw new GraphQLError(
              `A request may hold only one of ${[...passwordFields].join(', ')}: each costs a password hash.`,
              { extensions: refusal },
            );
          }
        },
      };
    },
  };
}
