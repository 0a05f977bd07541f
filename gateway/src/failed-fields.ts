import type { ApolloGateway } from '@apollo/gateway';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLFormattedError,
  Kind,
  parse,
  type SelectionSetNode,
} from 'graphql';

/** A step of a response path: a field's response name, or an index in a list. */
type PathStep = string | number;

/**
 * A subgraph fetch that got no GraphQL answer (unreachable, timed out, an HTTP error, a
 * body that is not GraphQL), or none the gateway can place (`assertPlaceable`), with what it
 * was to fill in: `cause` is what failed. `@apollo/gateway` reports such a fetch as one
 * error without `path`; the executor (`namingFailedFields`) replaces it with one error for
 * each field left null.
 */
export class FailedFetch extends Error {
  override name = 'FailedFetch';

  /** Where in the response the fetch's data goes, `@` standing for every item of a list. */
  readonly at: readonly PathStep[];
  /** The response names (aliases included) of the fields it fetched there. */
  readonly fields: readonly string[];

  /**
   * The subgraph's own error, when it answered one that names no field the gateway can
   * place: its code and message stand, at each field left null.
   */
  readonly answered: GraphQLFormattedError | undefined;

  constructor(cause: unknown, at: readonly PathStep[], fields: readonly string[]) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.at = at;
    this.fields = fields;
    this.answered = cause instanceof UnplacedAnswer ? cause.answered : undefined;
  }
}

/**
 * A root mutation fetch not sent, because one before it in the same operation failed at a
 * non-null field: the answer is null as a whole already, and nothing after that field may
 * run (serial execution, as one GraphQL server stops at it). Not an error of its own: the
 * executor (`namingFailedFields`) drops it, leaving the failure that stopped it.
 */
export class SkippedMutation extends Error {
  override name = 'SkippedMutation';

  constructor(subgraph: string) {
    super(`A mutation field before this ${subgraph} fetch failed; it was not sent`);
  }
}

/**
 * The requests (by their context) whose operation is a mutation that must run no further: a
 * root mutation fetch of theirs got no data back (its subgraph made the whole answer null
 * for a non-null field's error, or gave no GraphQL answer at all).
 */
const stoppedMutations = new WeakSet<object>();

/** Whether a subgraph operation is a mutation: a root mutation fetch, not an entity fetch. */
export function isMutation(operation: string | undefined): boolean {
  return operation !== undefined && /^\s*mutation\b/.test(operation);
}

/**
 * Runs one root mutation fetch of the request whose context is `context`, unless one before
 * it failed at a non-null field (`SkippedMutation`), and stops the request's later ones when
 * this one does: `send` rejects, or resolves to a result without data.
 */
export async function serialMutationFetch<Result extends { data?: unknown }>(
  context: object,
  subgraph: string,
  send: () => Promise<Result>,
): Promise<Result> {
  if (stoppedMutations.has(context)) throw new SkippedMutation(subgraph);
  try {
    const result = await send();
    if (result.data === null || result.data === undefined) stoppedMutations.add(context);
    return result;
  } catch (error) {
    stoppedMutations.add(context);
    throw error;
  }
}

/** A subgraph's result that gives its fetch nothing the gateway can place. */
export class UnplacedAnswer extends Error {
  override name = 'UnplacedAnswer';

  /** The subgraph's own error, if it answered one. */
  readonly answered: GraphQLFormattedError | undefined;

  constructor(subgraph: string, answered: GraphQLFormattedError | undefined) {
    super(
      answered
        ? `The ${subgraph} subgraph answered an error at no field: ${answered.message}`
        : `The ${subgraph} subgraph answered no GraphQL result`,
    );
    this.answered = answered;
  }
}

/**
 * Throws `UnplacedAnswer` when a subgraph's result has no data where its fetch needs it (no
 * object; for an entity fetch, no entity for each representation) and no error that
 * `@apollo/gateway` can put at a field instead: it would answer an error without `path`, or
 * at a path through its query plan (`["events", "edges", "@", "node", "_entities"]`), or
 * leave the fields null without a word when there is no error at all.
 */
export function assertPlaceable(
  subgraph: string,
  result: { data?: unknown; errors?: readonly GraphQLFormattedError[] | undefined },
  variables: Record<string, unknown> | undefined,
): void {
  const representations = variables?.representations;
  const entityFetch = Array.isArray(representations);
  const data = result.data as { _entities?: unknown } | null | undefined;
  const usable =
    typeof data === 'object' &&
    data !== null &&
    (!entityFetch ||
      (Array.isArray(data._entities) && data._entities.length === representations.length));
  // An entity fetch's error is placed by the index of its entity: `["_entities", 0, …]`.
  const placed = (error: GraphQLFormattedError) =>
    !!error.path?.length && (!entityFetch || typeof error.path[1] === 'number');
  const errors = result.errors ?? [];
  if (usable || errors.some(placed)) return;
  const [first] = errors;
  throw new UnplacedAnswer(
    subgraph,
    first && {
      message: first.message,
      extensions: { ...first.extensions, serviceName: subgraph },
    },
  );
}

/**
 * The response names of the fields a subgraph operation fills in where its data goes: its
 * root fields, or, for an entity fetch, the fields selected on `_entities`.
 */
export function fetchedFields(operation: DocumentNode | string): string[] {
  const document = typeof operation === 'string' ? parse(operation) : operation;
  const fragments = new Map<string, FragmentDefinitionNode>();
  let root: SelectionSetNode | undefined;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    } else if (definition.kind === Kind.OPERATION_DEFINITION) {
      root ??= definition.selectionSet;
    }
  }
  // Fields through inline fragments and fragment spreads, as they land in the response.
  const fieldsOf = (
    selectionSet: SelectionSetNode | undefined,
  ): Map<string, SelectionSetNode | undefined> => {
    const fields = new Map<string, SelectionSetNode | undefined>();
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        fields.set(selection.alias?.value ?? selection.name.value, selection.selectionSet);
      } else {
        const inner =
          selection.kind === Kind.INLINE_FRAGMENT
            ? selection.selectionSet
            : fragments.get(selection.name.value)?.selectionSet;
        for (const [name, set] of fieldsOf(inner)) fields.set(name, set);
      }
    }
    return fields;
  };
  const rootFields = fieldsOf(root);
  const entities = rootFields.get('_entities');
  const fields = entities && rootFields.size === 1 ? fieldsOf(entities) : rootFields;
  // The gateway asks for `__typename` itself; it is never null, and never what failed.
  return [...fields.keys()].filter((name) => name !== '__typename');
}

/**
 * The paths of the fields a failed fetch left null in `data`: each of its fields at each
 * object it was to complete, or the nearest field above that is null (a non-null field
 * missing makes its parent null); the root field when `data` itself is null. None only when
 * the fetch names no field.
 */
export function failedPaths(failed: FailedFetch, data: unknown): PathStep[][] {
  const paths = new Map<string, PathStep[]>();
  const add = (path: PathStep[]) => paths.set(JSON.stringify(path), path);
  const visit = (value: unknown, rest: readonly PathStep[], path: PathStep[]) => {
    if (value === null) {
      if (path.length > 0) add(path);
      // No data at all: a non-null root field is missing, this fetch's or the one it is under.
      else if (failed.at[0] !== undefined) add([failed.at[0]]);
      else for (const field of failed.fields) add([field]);
      return;
    }
    if (typeof value !== 'object' || value === undefined) return;
    const [step, ...after] = rest;
    if (step === undefined) {
      const object = value as Record<string, unknown>;
      for (const field of failed.fields) if (object[field] === null) add([...path, field]);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, step === '@' ? after : rest, [...path, index]);
      });
    } else if (step !== '@') {
      visit((value as Record<string, unknown>)[step], after, [...path, step]);
    }
  };
  visit(data, failed.at, []);
  if (paths.size > 0) return [...paths.values()];
  // Nothing left null where it would go: the part of its path that the response has.
  const list = failed.at.indexOf('@');
  const reached: PathStep[] = failed.at.slice(0, list < 0 ? undefined : list);
  if (reached.length > 0) return [reached];
  return failed.fields.slice(0, 1).map((field) => [field]);
}

type Executor = Awaited<ReturnType<ApolloGateway['load']>>['executor'];

/**
 * The gateway's executor, whose failed fetches each become one error for each field they
 * left null, with its path as the client wrote it (aliases included), so that a client can
 * tell which part of its answer is missing. The error keeps the fetch's failure as its
 * original error, for the log (errors.ts masks it).
 */
export function namingFailedFields(executor: Executor): Executor {
  return async (requestContext) => {
    const result = await executor(requestContext);
    // The executor hands on what a fetch threw as it was, not as a GraphQLError.
    const failedFetch = (error: unknown) =>
      error instanceof FailedFetch || error instanceof SkippedMutation
        ? error
        : (error as GraphQLError).originalError;
    const named = (error: unknown) => {
      const failed = failedFetch(error);
      return failed instanceof FailedFetch || failed instanceof SkippedMutation;
    };
    if (!result.errors?.some(named)) return result;
    const errors = result.errors.flatMap((error) => {
      const failed = failedFetch(error);
      // A mutation field not run: the field that failed before it has the error.
      if (failed instanceof SkippedMutation) return [];
      if (!(failed instanceof FailedFetch)) return [error];
      const { message, extensions } = failed.answered ?? {
        message: failed.message,
        extensions: failed.cause instanceof GraphQLError ? failed.cause.extensions : {},
      };
      const paths = failedPaths(failed, result.data);
      // A fetch that names no field at all (none but `__typename`) keeps its one error.
      return (paths.length > 0 ? paths : [undefined]).map(
        (path) => new GraphQLError(message, { path, originalError: failed, extensions }),
      );
    });
    return { ...result, errors };
  };
}
