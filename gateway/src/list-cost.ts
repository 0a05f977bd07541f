import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxPageSize } from '@ticketing/platform';
import {
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  GraphQLError,
  type GraphQLSchema,
  getVariableValues,
  Kind,
  type OperationDefinitionNode,
  TypeInfo,
  validate,
  valueFromAST,
  visit,
  visitWithTypeInfo,
} from 'graphql';

/**
 * The operation as graphql-armor's cost estimate should read it: every field that takes a
 * page size (`first`) with the size it will be asked for written out as a number, from a
 * variable, the variable's default or the argument's own default, at most `maxPageSize`.
 * graphql-armor multiplies a list's cost by `first` only when the document writes it as a
 * number, so `first: $n` and a `first` left out counted as one item. Reads the variables
 * that give page sizes and no other; undefined when those do not coerce (the operation is
 * refused for that, and never runs).
 */
export function withPageSizesWritten(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): DocumentNode | undefined {
  const pageVariables = new Set(pageSizeVariables(document));
  const { coerced } = getVariableValues(
    schema,
    (operation.variableDefinitions ?? []).filter((definition) =>
      pageVariables.has(definition.variable.name.value),
    ),
    variables,
  );
  if (!coerced) return undefined;
  // Only the operation that runs, with the fragments it may spread.
  const definitions = document.definitions.filter(
    (definition) => definition === operation || definition.kind === Kind.FRAGMENT_DEFINITION,
  );
  const typeInfo = new TypeInfo(schema);
  return visit(
    { ...document, definitions },
    visitWithTypeInfo(typeInfo, {
      Field(node: FieldNode) {
        const argument = typeInfo.getFieldDef()?.args.find(({ name }) => name === 'first');
        if (!argument) return undefined;
        const written = node.arguments?.find(({ name }) => name.value === 'first')?.value;
        const first =
          written === undefined ||
          (written.kind === Kind.VARIABLE && !(written.name.value in coerced))
            ? argument.defaultValue
            : valueFromAST(written, argument.type, coerced);
        if (typeof first !== 'number') return undefined;
        // A larger page is refused by its subgraph (BAD_USER_INPUT naming `first`) before it
        // lists anything: it costs no more than the largest one served.
        const size: ArgumentNode = {
          kind: Kind.ARGUMENT,
          name: { kind: Kind.NAME, value: 'first' },
          value: { kind: Kind.INT, value: String(Math.min(first, maxPageSize)) },
        };
        return {
          ...node,
          arguments: [size, ...(node.arguments ?? []).filter((a) => a.name.value !== 'first')],
        };
      },
    }),
  );
}

/** The names of the variables an operation's document passes as a page size (`first`). */
function pageSizeVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Argument(node) {
      if (node.name.value === 'first' && node.value.kind === Kind.VARIABLE) {
        names.add(node.value.name.value);
      }
    },
  });
  return [...names];
}

/** The most verdicts kept for one operation: one for each set of page sizes it was sent with. */
const maxVerdictsPerOperation = 64;

/**
 * Refuses, before planning, an operation whose cost (graphql-armor's estimate, each list at
 * the page size it will be asked for) is over `maxCost`: GRAPHQL_VALIDATION_FAILED, HTTP 400.
 * The verdict depends on the document and the page sizes alone, and is kept for the
 * operation's parsed document (which Apollo keeps too): a poll of the same operation costs
 * a lookup, not a walk of its document.
 */
export function listCostPlugin<TContext extends BaseContext>(options: {
  maxCost: number;
}): ApolloServerPlugin<TContext> {
  // Typed loosely, as in safelist.ts: Apollo needs a HeaderMap in `http`.
  const refusal: Record<string, unknown> = {
    code: 'GRAPHQL_VALIDATION_FAILED',
    http: { status: 400, headers: new HeaderMap() },
  };
  const known = new WeakMap<
    OperationDefinitionNode,
    { variables: string[]; verdicts: Map<string, string | undefined> }
  >();

  /** Why the operation is refused with these variables, or undefined when it is not. */
  function costRefusal(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown>,
  ): string | undefined {
    const sized = withPageSizesWritten(schema, document, operation, variables);
    if (!sized) return undefined;
    let refused: GraphQLError | undefined;
    validate(schema, sized, [
      costLimitRule({
        maxCost: options.maxCost,
        propagateOnRejection: false,
        onReject: [
          (_, error) => {
            refused = error;
          },
        ],
      }),
    ]);
    return refused?.message.replace(/^Syntax Error: /, '');
  }

  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation, schema }) {
          if (!operation) return;
          const variables = request.variables ?? {};
          let entry = known.get(operation);
          if (!entry) {
            entry = { variables: pageSizeVariables(document), verdicts: new Map() };
            known.set(operation, entry);
          }
          // Sizes left out (their defaults apply), null or numbers; anything else does not
          // coerce, is refused for that, and is not kept.
          const sizes = entry.variables.map((name) =>
            name in variables ? variables[name] : 'default',
          );
          const key = sizes.every(
            (size) => size === 'default' || size === null || typeof size === 'number',
          )
            ? JSON.stringify(sizes)
            : undefined;
          let verdict = key === undefined ? undefined : entry.verdicts.get(key);
          if (key === undefined || !entry.verdicts.has(key)) {
            verdict = costRefusal(schema, document, operation, variables);
            if (entry.verdicts.size >= maxVerdictsPerOperation) entry.verdicts.clear();
            if (key !== undefined) entry.verdicts.set(key, verdict);
          }
          if (verdict) throw new GraphQLError(verdict, { extensions: refusal });
        },
      };
    },
  };
}
