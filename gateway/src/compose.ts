import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { readSubgraphSdl, type SubgraphSource, subgraphSources } from './subgraphs.ts';

/** The committed supergraph that the gateway serves. */
export const supergraphPath = resolve(import.meta.dirname, '..', 'supergraph.graphql');

export class CompositionError extends Error {
  override name = 'CompositionError';
}

/**
 * Composes the subgraphs' SDL files into a supergraph, as `rover supergraph compose` would,
 * in-process. Throws a CompositionError listing every problem when they do not compose.
 */
export function composeSupergraph(
  sources: readonly SubgraphSource[] = subgraphSources,
  readSdl: (source: SubgraphSource) => string = readSubgraphSdl,
): string {
  const result = composeServices(
    sources.map((source) => ({
      name: source.name,
      url: source.defaultUrl,
      typeDefs: parse(readSdl(source)),
    })),
  );
  if (result.errors) {
    const problems = result.errors.map((error) => {
      const code = (error.extensions.code as string | undefined) ?? 'COMPOSITION_ERROR';
      return `  - [${code}] ${error.message}`;
    });
    throw new CompositionError(`The subgraphs do not compose:\n${problems.join('\n')}`);
  }
  return `${result.supergraphSdl.trimEnd()}\n`;
}

export function readCommittedSupergraph(): string {
  return readFileSync(supergraphPath, 'utf8');
}
