import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// graphql 16 ships CommonJS and ESM builds. Node resolves both `import` and `require` to the
// CommonJS one, but Vite would pick the ESM one for imports, and Apollo's packages, which
// require it, would then hold a second copy ("Cannot use GraphQLSchema from another module
// or realm"). Resolve it as Node does.
const graphql = createRequire(import.meta.url).resolve('graphql');

// One configuration, one project a workspace. `*.test.ts` are unit and integration tests
// (real PostgreSQL, servers in-process); `*.e2e.ts` start the real topology as processes.
export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: graphql }] },
  test: {
    globalSetup: ['test/global-setup.ts'],
    // The in-process gateways: as every launcher does, start them with Apollo's usage
    // reporting off (@apollo/gateway reads this from the process; see scripts/topology.ts).
    env: { APOLLO_TELEMETRY_DISABLED: 'true' },
    projects: [
      { test: { name: 'platform', include: ['packages/platform/test/**/*.test.ts'] } },
      {
        test: {
          name: 'auth',
          include: ['packages/auth/test/**/*.test.ts'],
          // A password hashed is scrypt's ~0.35 s of CPU, seconds on a busy machine. A test
          // that timed out left its hashes running, holding places on the one queue of the
          // module, and the tests after it found places taken that they counted as free.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'prisma',
          include: ['prisma/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      ...['users', 'events', 'tickets'].map((name) => ({
        test: {
          name,
          include: [`subgraphs/${name}/test/**/*.test.ts`],
          // The users service's tests sign up and log in many times, and each password
          // hashed or checked is scrypt's ~0.35 s of CPU: ten of them take over 25 s on a
          // busy 2-core machine. None of them measures how long that takes.
          testTimeout: name === 'users' ? 90_000 : 30_000,
          hookTimeout: 60_000,
        },
      })),
      { test: { name: 'gateway', include: ['gateway/test/**/*.test.ts'], testTimeout: 30_000 } },
      {
        test: {
          name: 'repository',
          include: ['test/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'supergraph',
          include: ['test/supergraph/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.ts'],
          // Each file runs the whole topology, and several measure how it copes with a
          // fault under load: one at a time, after every other project, so that no file's
          // deadlines are spent waiting for another's CPU on a 2-core machine.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
