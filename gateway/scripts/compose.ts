// Composes subgraphs/*/schema.graphql into gateway/supergraph.graphql.
//
//   npm run compose              write the supergraph
//   npm run compose -- --check   fail if the committed supergraph is stale
import { existsSync, writeFileSync } from 'node:fs';
import {
  CompositionError,
  composeSupergraph,
  readCommittedSupergraph,
  supergraphPath,
} from '../src/compose.ts';

const check = process.argv.includes('--check');

let supergraph: string;
try {
  supergraph = composeSupergraph();
} catch (error) {
  if (!(error instanceof CompositionError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const current = existsSync(supergraphPath) ? readCommittedSupergraph() : undefined;
if (check) {
  if (current !== supergraph) {
    console.error('gateway/supergraph.graphql is stale: run `npm run compose` and commit it.');
    process.exit(1);
  }
  console.log('gateway/supergraph.graphql is up to date.');
} else if (current === supergraph) {
  console.log('gateway/supergraph.graphql is already up to date.');
} else {
  writeFileSync(supergraphPath, supergraph);
  console.log('Wrote gateway/supergraph.graphql.');
}
