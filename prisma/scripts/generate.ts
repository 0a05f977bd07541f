// Generates each service's Prisma Client (prisma/<service>/generated).
//
// `prisma generate` fetches the schema-engine binary before it starts, although generating
// a client never runs it; on a machine that cannot download it, generation would fail.
// Pointing PRISMA_SCHEMA_ENGINE_BINARY at an existing file skips that download. Migrations
// do need the engine: this project runs its WebAssembly build (prisma/src/schema-engine.ts).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { serviceNames } from '../src/service.ts';

const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
};

for (const service of serviceNames) {
  execFileSync(
    process.execPath,
    [prismaCli, 'generate', '--no-hints', '--config', `${service}/prisma.config.ts`],
    { cwd: `${import.meta.dirname}/..`, env, stdio: 'inherit' },
  );
}
