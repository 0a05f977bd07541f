// npm run schema:check: composition, the committed supergraph, breaking changes against the
// main branch's supergraph (unless acknowledged in gateway/schema/acknowledged-breaking-
// changes.json), the client operations in clients/operations, and the safelist manifest
// generated from them. Exits 1 on any failure.
//
//   SCHEMA_CHECK_BASE=<git ref>   compare against another ref than main
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCommittedSupergraph } from '../src/compose.ts';
import { manifestPath, readClientOperations } from '../src/safelist.ts';
import { checkSchema, formatReport } from '../src/schema-check.ts';
import { readSubgraphSdl, subgraphSources } from '../src/subgraphs.ts';

const root = resolve(import.meta.dirname, '..', '..');
const baseRef = process.env.SCHEMA_CHECK_BASE ?? 'main';

function baseSupergraph(): string | undefined {
  try {
    return execFileSync('git', ['show', `${baseRef}:gateway/supergraph.graphql`], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    console.log(`(no gateway/supergraph.graphql at ${baseRef}: breaking changes are not checked)`);
    return undefined;
  }
}

const results = checkSchema({
  sources: subgraphSources,
  readSdl: readSubgraphSdl,
  committedSupergraph: readCommittedSupergraph(),
  baseSupergraph: baseSupergraph(),
  acknowledged: JSON.parse(
    readFileSync(join(root, 'gateway', 'schema', 'acknowledged-breaking-changes.json'), 'utf8'),
  ),
  operations: readClientOperations(),
  committedManifest: existsSync(manifestPath) ? readFileSync(manifestPath, 'utf8') : undefined,
});
console.log(`Schema check against ${baseRef}\n${formatReport(results)}`);
process.exitCode = results.every((result) => result.ok) ? 0 : 1;
