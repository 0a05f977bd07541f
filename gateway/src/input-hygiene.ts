// Malformed input is the caller's error, answered BAD_USER_INPUT with the field at fault,
// at the gateway, before anything is planned: never a database error (INTERNAL_SERVER_ERROR)
// or a subgraph's refusal (which would read as SERVICE_UNAVAILABLE).
import { type ApolloServerPlugin, type BaseContext, HeaderMap } from '@apollo/server';
import { checkedDateTime, InvalidInputValue } from '@ticketing/platform';
import {
  type ASTNode,
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  getVariableValues,
  isNonNullType,
  isScalarType,
  Kind,
  type OperationDefinitionNode,
  TypeInfo,
  ValidationContext,
  visit,
} from 'graphql';

/**
 * Gives the API schema's DateTime the subgraphs' checks (the supergraph declares it
 * without any), so that a bad one fails validation or variable coercion here.
 */
export function checkScalars(apiSchema: GraphQLSchema): void {
  const dateTime = apiSchema.getType('DateTime');
  if (isScalarType(dateTime)) Object.assign(dateTime, checkedDateTime);
}

/**
 * The argument and input-field names leading to `target` in `document`, dot-separated, with
 * list positions in brackets as graphql-js writes a variable's path: `scans[1].token`.
 */
function fieldPathOf(document: DocumentNode, target: ASTNode): string | undefined {
  let found: string | undefined;
  visit(document, {
    enter(node, _key, parent, path, ancestors) {
      if (found !== undefined) return false;
      if (node !== target) return undefined;
      // `ancestors` stops short of `parent`; `path[i]` leads from `chain[i]` to the next.
      const chain = [...ancestors, parent ?? [], node];
      found = chain
        .map((item, i) => {
          if (!('kind' in item)) {
            const owner = chain[i - 1];
            return owner && 'kind' in owner && owner.kind === Kind.LIST ? `[${path[i]}]` : '';
          }
          return item.kind === Kind.ARGUMENT || item.kind === Kind.OBJECT_FIELD
            ? `.${item.name.value}`
            : '';
        })
        .join('')
        .replace(/^\./, '');
      return false;
    },
  });
  return found || undefined;
}

/** The kinds of node a validation error points at when a literal value is at fault. */
const valueKinds = new Set<string>([
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
  Kind.OBJECT_FIELD,
]);

/**
 * A literal that did not coerce, as graphql-js's validation says it (GRAPHQL_VALIDATION_FAILED,
 * no field): `Int cannot represent non 32-bit signed integer value: 2147483648`, an unknown
 * enum value or input field, a required input field left out. Written in a variable, the
 * same value is BAD_USER_INPUT naming the field; so it is here, with the path to the value
 * (and to the missing field), and the message without long quoted values.
 */
function literalFailure(
  error: GraphQLError,
  document: DocumentNode,
): { field: string; message: string } | undefined {
  const node = error.nodes?.[0];
  if (
    error.extensions.code !== 'GRAPHQL_VALIDATION_FAILED' ||
    !node ||
    !valueKinds.has(node.kind)
  ) {
    return undefined;
  }
  const path = fieldPathOf(document, node);
  if (!path) return undefined;
  const missing = /^Field "\w+\.(\w+)" of required type "[^"]+" was not provided\.$/.exec(
    error.message,
  )?.[1];
  const message = clipValues(error.message);
  return {
    field: missing ? `${path}.${missing}` : path,
    message: message.length > 300 ? `${message.slice(0, 299)}…` : message,
  };
}

/** `Variable "$first" of non-null type "Int!" must not be null.` → first. */
function fieldOfVariableMessage(message: string): string | undefined {
  return /^Variable "\$([\w]+)"/.exec(message)?.[1];
}

/**
 * `reason` with each quoted value, and each number written in the document, over 40
 * characters cut short: enough to recognise it. (A literal such as `quantity: 999…9` is
 * printed unquoted, and was echoed 240 digits long.)
 */
function clipValues(reason: string): string {
  return reason
    .replace(/"((?:[^"\\]|\\.){40})(?:[^"\\]|\\.)+"/g, '"$1…"')
    .replace(/(-?\d[\d.eE+-]{39})[\d.eE+-]+/g, '$1…');
}

/**
 * A variable that did not coerce, as graphql-js says it: `Variable "$input" got invalid
 * value { email: …, password: "…", … }; Field "role" is not defined …`. That printed the
 * whole variable, a password beside the field at fault, into an error that clients log and
 * show, and a 500 KB value twice. Read from the end, where the reason (`originalError`) and
 * the path are, so that nothing in the value can pass for them: the field at fault, and the
 * message written again without the value, long quoted values in the reason cut short.
 */
function coercionFailure(error: GraphQLError): { field: string; message: string } | undefined {
  const variable = /^Variable "\$(\w+)" got invalid value /.exec(error.message)?.[1];
  const reason = error.originalError?.message;
  if (!variable || reason === undefined || !error.message.endsWith(`; ${reason}`)) {
    return undefined;
  }
  const before = error.message.slice(0, -(reason.length + 2));
  const path = / at "([\w.[\]]+)"$/.exec(before)?.[1];
  return {
    field: path ?? variable,
    message: `Variable "$${variable}" got an invalid value${path ? ` at "${path}"` : ''}: ${clipValues(reason)}`,
  };
}

/**
 * What makes a string unstorable, if anything: a NUL (PostgreSQL refuses it), or an
 * unpaired surrogate, which JSON can carry but UTF-8 cannot: it would be written as U+FFFD,
 * so that two different values (two idempotency keys, two passwords) would become one.
 */
function unstorable(text: string): string | undefined {
  if (text.includes('\0')) return 'contains a NUL character';
  if (!text.isWellFormed()) return 'contains an unpaired surrogate (not valid Unicode)';
  return undefined;
}

/** The first string in a JSON value that cannot be stored: its path, and why. */
function unstorablePath(
  value: unknown,
  path: string,
): { path: string; reason: string } | undefined {
  if (typeof value === 'string') {
    const reason = unstorable(value);
    return reason ? { path, reason } : undefined;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = unstorablePath(item, `${path}[${index}]`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = unstorablePath(item, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * What `nulLiteralIn` found in each document: Apollo Server hands the same parsed document
 * to every request with the same text (its document cache), so each is walked once.
 */
const nulLiterals = new WeakMap<DocumentNode, ASTNode | null>();

/** A string literal in `document` that contains a NUL character (the last), if any. */
function nulLiteralIn(document: DocumentNode): ASTNode | undefined {
  const known = nulLiterals.get(document);
  if (known !== undefined) return known ?? undefined;
  let found: ASTNode | undefined;
  visit(document, {
    StringValue(node) {
      if (node.value.includes('\0')) {
        found = node;
        return false;
      }
      return undefined;
    },
  });
  nulLiterals.set(document, found ?? null);
  return found;
}

/** Refuses the request before execution: HTTP 400 (Apollo needs a HeaderMap there). */
function refusal(code: string, message: string, field: string | undefined): GraphQLError {
  const extensions: Record<string, unknown> = {
    code,
    ...(field ? { field } : {}),
    http: { status: 400, headers: new HeaderMap() },
  };
  return new GraphQLError(message, { extensions });
}

function badInput(message: string, field: string | undefined): GraphQLError {
  return refusal('BAD_USER_INPUT', message, field);
}

/**
 * Why no operation of `document` can run, if none can: `operationName` names none of its
 * operations (or is missing where it has several), the operation's type is one the API
 * does not offer, or it declares the variable the gateway keeps for itself. Left to the
 * gateway, each fails its planning or execution with a server error.
 */
function unrunnableOperation(
  operation: OperationDefinitionNode | undefined,
  operationName: string | undefined,
  schema: GraphQLSchema,
): GraphQLError | undefined {
  if (!operation) {
    // The name is not echoed: it is the client's text, of any length.
    // An empty name is a name too: graphql-js looks for an operation called "".
    const message =
      operationName !== undefined && operationName !== null
        ? 'The document has no operation of the name given in operationName.'
        : 'The document has several operations: say which to run in operationName.';
    return refusal('GRAPHQL_VALIDATION_FAILED', message, 'operationName');
  }
  if (!schema.getRootType(operation.operation)) {
    return refusal(
      'GRAPHQL_VALIDATION_FAILED',
      `This API has no ${operation.operation}s.`,
      undefined,
    );
  }
  // The gateway sends the entities it fetches from a subgraph as `$representations`, and
  // fails such a fetch, with a server error, when a client's variable has that name.
  const reserved = operation.variableDefinitions?.find(
    (definition) => definition.variable.name.value === reservedVariable,
  );
  if (reserved) {
    return refusal(
      'GRAPHQL_VALIDATION_FAILED',
      `The variable name "$${reservedVariable}" is kept for the gateway's own use: give the variable another name.`,
      reservedVariable,
    );
  }
  return undefined;
}

/** The variable the gateway's entity fetches use (`_entities(representations: …)`). */
const reservedVariable = 'representations';

/** What `valueRequiredOf` found for each operation (Apollo Server caches parsed documents). */
const valueRequired = new WeakMap<OperationDefinitionNode, ReadonlySet<string>>();

/**
 * The nullable variables of `operation` used where a value is required: validation lets
 * them in when they have a default (or the place has one), which stands in only when the
 * variable is left out. An explicit null there failed in the gateway's executor, as an
 * internal error.
 */
function valueRequiredOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): ReadonlySet<string> {
  const known = valueRequired.get(operation);
  if (known) return known;
  const nullable = new Set(
    (operation.variableDefinitions ?? [])
      .filter((definition) => definition.type.kind !== Kind.NON_NULL_TYPE)
      .map((definition) => definition.variable.name.value),
  );
  const context = new ValidationContext(schema, document, new TypeInfo(schema), () => {});
  const names = new Set(
    context
      .getRecursiveVariableUsages(operation)
      .filter((usage) => usage.type && isNonNullType(usage.type))
      .map((usage) => usage.node.name.value)
      .filter((name) => nullable.has(name)),
  );
  valueRequired.set(operation, names);
  return names;
}

/** The first variable given as null where `operation` requires a value, if any. */
function nullWhereRequired(
  variables: Record<string, unknown>,
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): string | undefined {
  const nulls = Object.keys(variables).filter((name) => variables[name] === null);
  if (nulls.length === 0) return undefined;
  const required = valueRequiredOf(schema, document, operation);
  return nulls.find((name) => required.has(name));
}

/**
 * The most errors a request's variables get, as graphql-js's own execution allows. The
 * gateway checks the variables without a limit: one error an item of a list, so that 800 KB
 * of bad items held the gateway's thread for 20 s, and its answer was a hundred times larger.
 */
export const maxVariableErrors = 50;

/**
 * When the variables have more than `maxVariableErrors` errors, one refusal naming the first
 * of them; undefined otherwise (the gateway answers each error itself).
 */
function tooManyVariableErrors(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
): GraphQLError | undefined {
  const definitions = operation.variableDefinitions ?? [];
  if (definitions.length === 0) return undefined;
  const { errors } = getVariableValues(schema, definitions, variables, {
    maxErrors: maxVariableErrors,
  });
  const [first] = errors ?? [];
  if (!first || (errors?.length ?? 0) <= maxVariableErrors) return undefined;
  const coercion = coercionFailure(first);
  const message = coercion?.message ?? clipValues(first.message);
  return badInput(
    `${message} More than ${maxVariableErrors} values are invalid; only the first is named.`,
    coercion?.field ?? fieldOfVariableMessage(first.message),
  );
}

/**
 * - Refuses NUL characters in any string, variable or literal (PostgreSQL cannot store
 *   them; nothing legitimate contains one), and unpaired surrogates in variables (the
 *   parser refuses them in literals).
 * - Refuses an operation that cannot run: an operationName the document lacks, a
 *   subscription, a variable named `$representations` (HTTP 400,
 *   GRAPHQL_VALIDATION_FAILED).
 * - Refuses an explicit null for a variable used where a value is required (its default
 *   let it in), as BAD_USER_INPUT naming it.
 * - Answers variables with more than `maxVariableErrors` errors with one, for the first.
 * - Answers a value a scalar refused (InvalidInputValue) as BAD_USER_INPUT with its field,
 *   whether it came as a literal (a validation error) or a variable.
 */
export function inputHygienePlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation, schema }) {
          const unrunnable = unrunnableOperation(operation, request.operationName, schema);
          if (unrunnable) throw unrunnable;
          const nullVariable =
            operation && nullWhereRequired(request.variables ?? {}, schema, document, operation);
          if (nullVariable) {
            throw badInput(
              `Variable "$${nullVariable}" must not be null: it is used where a value is required.`,
              nullVariable,
            );
          }
          const tooMany =
            operation && tooManyVariableErrors(schema, operation, request.variables ?? {});
          if (tooMany) throw tooMany;
          const inVariables = unstorablePath(request.variables ?? {}, '');
          if (inVariables) {
            throw badInput(`\`${inVariables.path}\` ${inVariables.reason}.`, inVariables.path);
          }
          const inLiteral = nulLiteralIn(document);
          if (inLiteral) {
            const field = fieldPathOf(document, inLiteral);
            throw badInput(`\`${field ?? 'A string'}\` contains a NUL character.`, field);
          }
        },
        async didEncounterErrors({ errors, document }) {
          for (const error of errors) {
            // Not every error here is a GraphQLError with extensions (a failed subgraph
            // fetch is not): throwing here would turn the answer into a server error.
            if (!(error instanceof GraphQLError)) continue;
            const literal = document && literalFailure(error, document);
            if (literal) {
              error.message = literal.message;
              Object.assign(error.extensions, { code: 'BAD_USER_INPUT', field: literal.field });
              continue;
            }
            const refusedByScalar = error.originalError instanceof InvalidInputValue;
            // A variable's value that did not coerce: the gateway says BAD_USER_INPUT, and
            // the message names the variable and the path inside it.
            const badVariable =
              error.extensions.code === 'BAD_USER_INPUT' && error.message.startsWith('Variable "$');
            if (!refusedByScalar && !badVariable) continue;
            if (error.extensions.field !== undefined) continue;
            const coercion = badVariable ? coercionFailure(error) : undefined;
            if (coercion) error.message = coercion.message;
            const node = error.nodes?.[0];
            const field =
              coercion?.field ??
              fieldOfVariableMessage(error.message) ??
              (document && node ? fieldPathOf(document, node) : undefined);
            Object.assign(error.extensions, {
              code: 'BAD_USER_INPUT',
              ...(field ? { field } : {}),
            });
          }
        },
      };
    },
  };
}
