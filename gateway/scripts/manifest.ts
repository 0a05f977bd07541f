// npm run operations:manifest: writes clients/persisted-query-manifest.json, the safelist,
// from the operations in clients/operations. schema:check fails when it is stale.
import { writeFileSync } from 'node:fs';
import {
  buildManifest,
  formatManifest,
  manifestPath,
  readClientOperations,
} from '../src/safelist.ts';

const manifest = buildManifest(readClientOperations());
writeFileSync(manifestPath, formatManifest(manifest));
console.log(`Wrote ${manifest.operations.length} operations to the safelist manifest.`);
