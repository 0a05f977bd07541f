// The checks that keep the supergraph safe to change, without a hosted registry: the
// subgraphs compose, the committed supergraph is current, the public API has no breaking
// change that was not acknowledged, and every operation a client sends still validates.
import { relative } from 'node:path';
import { Supergraph } from '@apollo/federation-internals';
import { composeServices as composeWithGuild } from '@theguild/federation-composition';
import {
  type BreakingChange,
  findBreakingChanges,
  type GraphQLSchema,
  parse,
  Source,
  validate,
} from 'graphql';
import { CompositionError, composeSupergraph } from './compose.ts';
import { buildManifest, formatManifest, manifestPath } from './safelist.ts';
import type { SubgraphSource } from './subgraphs.ts';

/** A breaking change accepted on purpose, with the reason, in a committed file. */
export interface AcknowledgedChange {
  type: string;
  description: string;
  reason: string;
}

export interface ClientOperation {
  /** Where it lives, for the report (e.g. clients/operations/Checkout.graphql). */
  file: string;
  document: string;
}

export interface SchemaCheckInput {
  sources: readonly SubgraphSource[];
  readSdl(source: SubgraphSource): string;
  /** The supergraph committed in this change. */
  committedSupergraph: string;
  /** The supergraph on the main branch, to diff the public API against; none for a first one. */
  baseSupergraph: string | undefined;
  acknowledged: readonly AcknowledgedChange[];
  operations: readonly ClientOperation[];
  /** The committed safelist manifest, which must be the one the operations generate. */
  committedManifest: string | undefined;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** One line each: what is wrong, or what passed with a note. */
  details: string[];
}

/** The schema clients see: the supergraph without federation's join and link machinery. */
export function apiSchema(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema();
}

export function checkSchema(input: SchemaCheckInput): CheckResult[] {
  let composed: string;
  try {
    composed = composeSupergraph(input.sources, input.readSdl);
  } catch (error) {
    if (!(error instanceof CompositionError)) throw error;
    return [
      {
        name: 'composition',
        ok: false,
        details: error.message
          .split('\n')
          .slice(1)
          .map((line) => line.trim()),
      },
    ];
  }
  const results: CheckResult[] = [
    { name: 'composition', ok: true, details: [] },
    portability(input, composed),
  ];

  results.push({
    name: 'committed supergraph',
    ok: composed === input.committedSupergraph,
    details:
      composed === input.committedSupergraph
        ? []
        : ['gateway/supergraph.graphql is stale: run `npm run compose` and commit it.'],
  });

  const api = apiSchema(composed);
  if (input.baseSupergraph === undefined) {
    results.push({
      name: 'breaking changes',
      ok: true,
      details: ['no base supergraph to compare with'],
    });
  } else {
    const changes = findBreakingChanges(apiSchema(input.baseSupergraph), api);
    const isAcknowledged = (change: BreakingChange) =>
      input.acknowledged.some(
        (ack) => ack.type === change.type && ack.description === change.description,
      );
    const unacknowledged = changes.filter((change) => !isAcknowledged(change));
    results.push({
      name: 'breaking changes',
      ok: unacknowledged.length === 0,
      details: [
        ...unacknowledged.map((change) => `${change.type}: ${change.description}`),
        ...changes
          .filter(isAcknowledged)
          .map((change) => `acknowledged ${change.type}: ${change.description}`),
      ],
    });
  }

  const failures = input.operations.flatMap((operation) => {
    let document: ReturnType<typeof parse>;
    try {
      document = parse(new Source(operation.document, operation.file));
    } catch (error) {
      return [`${operation.file}: ${(error as Error).message}`];
    }
    return validate(api, document).map((error) => {
      const location = error.locations?.[0];
      return `${operation.file}${location ? `:${location.line}:${location.column}` : ''}: ${error.message}`;
    });
  });
  results.push({ name: 'client operations', ok: failures.length === 0, details: failures });
  if (failures.length === 0) {
    const fresh = formatManifest(buildManifest(input.operations));
    results.push({
      name: 'safelist manifest',
      ok: fresh === input.committedManifest,
      details:
        fresh === input.committedManifest
          ? []
          : [
              `${relative(process.cwd(), manifestPath)} is ${input.committedManifest === undefined ? 'missing' : 'stale'}: run npm run operations:manifest`,
            ],
    });
  }
  return results;
}

/**
 * The subgraphs composed by a second, independent composer (The Guild's, which Hive Gateway
 * and other routers use), which must succeed and give clients the same API as Apollo's. A
 * schema that only Apollo's composer accepts would tie the supergraph to one router.
 */
function portability(input: SchemaCheckInput, composed: string): CheckResult {
  const name = 'composition (@theguild/federation-composition)';
  const result = composeWithGuild(
    input.sources.map((source) => ({
      name: source.name,
      url: source.defaultUrl,
      typeDefs: parse(input.readSdl(source)),
    })),
  );
  if (result.errors) {
    return {
      name,
      ok: false,
      details: result.errors.map(
        (error) => `[${String(error.extensions.code ?? 'COMPOSITION_ERROR')}] ${error.message}`,
      ),
    };
  }
  const apollo = apiSchema(composed);
  const guild = apiSchema(result.supergraphSdl);
  const differences = [
    ...findBreakingChanges(apollo, guild),
    ...findBreakingChanges(guild, apollo),
  ].map((change) => `the two composers disagree: ${change.type}: ${change.description}`);
  return { name, ok: differences.length === 0, details: differences };
}

/** The results as a terminal report: one line a check, its details indented below. */
export function formatReport(results: readonly CheckResult[]): string {
  return results
    .flatMap((result) => [
      `${result.ok ? '✔' : '✖'} ${result.name}`,
      ...result.details.map((detail) => `    ${detail}`),
    ])
    .join('\n');
}
