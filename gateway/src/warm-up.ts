// The gateway's warm-up at start, before it listens: the operations clients send (the
// committed persisted-query manifest, as Apollo Router warms its query-plan cache from its
// manifest) run once through the whole request path, so that the first client request finds
// its document parsed and validated, its plan in the plan cache, the code that plans and
// executes compiled, and keep-alive connections open to the subgraphs.
//
// - Only queries run, anonymously, with placeholder variables: a query reads, and a
//   placeholder id finds nothing. Mutations are never sent (planning one through
//   @apollo/gateway means executing it).
// - Nothing a client sees changes: the response cache neither reads nor stores a warm-up's
//   answer (`warmingUp` in the context), and no client state is touched.
// - It has a deadline, shared by every subgraph request it makes. Past it, or with a
//   subgraph down, the gateway logs what it could not warm and starts anyway.
import { randomUUID } from 'node:crypto';
import type { ApolloServer, BaseContext } from '@apollo/server';
import type { Logger } from '@ticketing/platform';
import {
  type OperationDefinitionNode,
  parse,
  type TypeNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { PersistedQueryManifest } from './safelist.ts';

/** What the warm-up sets in the context of each operation it runs. */
export interface WarmUpContext {
  viewer: null;
  clientAddress: undefined;
  requestId: string;
  deadline: number;
  /** Set on the warm-up's operations: the response cache neither reads nor stores them. */
  warmingUp: true;
}

export interface WarmUpOptions {
  /** The operations clients send; only its queries run. */
  manifest: PersistedQueryManifest;
  /** How long the whole warm-up may take, in ms. */
  timeoutMs: number;
  logger: Logger;
}

/** What one warm-up did, for the log line and the tests. */
export interface WarmUpReport {
  /**
   * Queries that went the whole way: planned, and answered by their subgraphs. An answer
   * that refuses the placeholders or the anonymous caller (NOT_FOUND, UNAUTHENTICATED, …)
   * counts: the subgraphs gave it.
   */
  warmed: string[];
  /**
   * Queries that did not: a subgraph unavailable, or the operation refused. By name, the
   * code; TIMED_OUT for the one in flight when the deadline passed.
   */
  failed: Record<string, string>;
  /** Queries not run: no placeholder for a variable, or the deadline had passed. */
  skipped: string[];
  timedOut: boolean;
  ms: number;
}

/**
 * Error codes that say an operation did not go the whole way: a subgraph gave no answer,
 * something broke (an error without a code of its own), or the document was refused.
 */
const notWarmed = new Set([
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
]);

/** A required variable's placeholder, by its type's name; none for other types. */
const placeholders: Record<string, unknown> = {
  ID: '00000000-0000-0000-0000-000000000000',
  String: '',
  Int: 1,
  Float: 1,
  Boolean: false,
};

/**
 * Placeholder values for an operation's required variables (non-null, without a default),
 * or undefined if one has a type without a placeholder (an input object, an enum, a custom
 * scalar): the gateway would refuse the operation before planning it.
 */
export function placeholderVariables(
  operation: OperationDefinitionNode,
): Record<string, unknown> | undefined {
  const variables: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    if (!required(definition)) continue;
    const value = placeholderFor(definition.type);
    if (value === undefined) return undefined;
    variables[definition.variable.name.value] = value;
  }
  return variables;
}

const required = (definition: VariableDefinitionNode) =>
  definition.type.kind === 'NonNullType' && definition.defaultValue === undefined;

function placeholderFor(type: TypeNode): unknown {
  if (type.kind === 'NonNullType') return placeholderFor(type.type);
  if (type.kind === 'ListType') return [];
  return placeholders[type.name.value];
}

/** The operation `name` in `body`; none if it does not parse (the gateway would refuse it). */
function operationIn(body: string, name: string): OperationDefinitionNode | undefined {
  try {
    return parse(body).definitions.find(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === 'OperationDefinition' && definition.name?.value === name,
    );
  } catch {
    return undefined;
  }
}

/**
 * Runs the manifest's queries once through `server`, one after another, within
 * `timeoutMs`. Never rejects: whatever fails is in the report (and the log).
 */
export async function warmUp<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  { manifest, timeoutMs, logger }: WarmUpOptions,
): Promise<WarmUpReport> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  const report: WarmUpReport = { warmed: [], failed: {}, skipped: [], timedOut: false, ms: 0 };
  const queries = manifest.operations.filter((operation) => operation.type === 'query');
  // Set when the deadline passes: the query then in flight is reported as timed out, and
  // those not reached as skipped, so that the report names every query it did not warm.
  let over = false;
  let inFlight: string | undefined;
  const run = async () => {
    for (const { name, body } of queries) {
      if (over) return;
      if (Date.now() >= deadline) {
        report.skipped.push(name);
        continue;
      }
      const operation = operationIn(body, name);
      const variables = operation && placeholderVariables(operation);
      if (operation?.operation !== 'query' || !variables) {
        report.skipped.push(name);
        continue;
      }
      const contextValue: WarmUpContext = {
        viewer: null,
        clientAddress: undefined,
        requestId: randomUUID(),
        deadline,
        warmingUp: true,
      };
      inFlight = name;
      try {
        const response = await server.executeOperation(
          { query: body, operationName: name, variables },
          // The gateway's context, with `warmingUp` besides, which the response cache reads.
          { contextValue: contextValue as unknown as TContext },
        );
        const errors =
          response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
        const failure = errors
          ?.map((error) => String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR'))
          .find((code) => notWarmed.has(code));
        if (over) return;
        if (failure) report.failed[name] = failure;
        else report.warmed.push(name);
      } catch (error) {
        if (over) return;
        report.failed[name] = (error as Error).name;
      } finally {
        inFlight = undefined;
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    report.timedOut = (await Promise.race([run(), timeout])) === 'timeout';
  } finally {
    clearTimeout(timer);
  }
  if (report.timedOut) {
    over = true;
    if (inFlight) report.failed[inFlight] = 'TIMED_OUT';
    const reported = new Set([...report.warmed, ...Object.keys(report.failed), ...report.skipped]);
    for (const { name } of queries) if (!reported.has(name)) report.skipped.push(name);
  }
  report.ms = performance.now() - started;
  const summary = {
    warmed: report.warmed.length,
    failed: report.failed,
    skipped: report.skipped,
    ms: Math.round(report.ms),
  };
  if (report.timedOut || Object.keys(report.failed).length > 0) {
    logger.warn(summary, 'warm-up incomplete: starting anyway');
  } else {
    logger.info(summary, 'warm-up done');
  }
  return report;
}

/**
 * `server`, with `warm` run right after it starts, inside its `start()`: whoever starts it
 * (and reports ready once it has) waits for the warm-up too. Apollo Server runs no
 * operation until it has started, so a start-up plugin cannot do this.
 */
export function warmedOnStart<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  warm: (server: ApolloServer<TContext>) => Promise<unknown>,
): ApolloServer<TContext> {
  const start = server.start.bind(server);
  server.start = async () => {
    await start();
    await warm(server);
  };
  return server;
}
