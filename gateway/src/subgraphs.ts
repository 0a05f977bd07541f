import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { composeServiceUrl, type SubgraphName, subgraphNames } from '@ticketing/platform';

const repositoryRoot = resolve(import.meta.dirname, '..', '..');

export interface SubgraphSource {
  name: SubgraphName;
  /** Where the gateway finds it unless `<NAME>_URL` says otherwise: compose's service name. */
  defaultUrl: string;
  schemaPath: string;
}

/** The subgraphs that make up the supergraph, in composition order (the service registry's). */
export const subgraphSources: readonly SubgraphSource[] = subgraphNames.map((name) => ({
  name,
  defaultUrl: composeServiceUrl(name),
  schemaPath: resolve(repositoryRoot, 'subgraphs', name, 'schema.graphql'),
}));

export function readSubgraphSdl(source: SubgraphSource): string {
  return readFileSync(source.schemaPath, 'utf8');
}
