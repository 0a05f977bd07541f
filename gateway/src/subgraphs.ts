import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const repositoryRoot = resolve(import.meta.dirname, '..', '..');

export interface SubgraphSource {
  name: 'users' | 'events' | 'tickets';
  /** Where the gateway finds it unless `<NAME>_URL` says otherwise: compose's service name. */
  defaultUrl: string;
  schemaPath: string;
}

/** The subgraphs that make up the supergraph, in composition order. */
export const subgraphSources: readonly SubgraphSource[] = (
  [
    ['users', 4001],
    ['events', 4002],
    ['tickets', 4003],
  ] as const
).map(([name, port]) => ({
  name,
  defaultUrl: `http://${name}:${port}/graphql`,
  schemaPath: resolve(repositoryRoot, 'subgraphs', name, 'schema.graphql'),
}));

export function readSubgraphSdl(source: SubgraphSource): string {
  return readFileSync(source.schemaPath, 'utf8');
}
