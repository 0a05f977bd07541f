// A subgraph that cannot start serving (its port taken by another process) stops what its
// set-up started before it closes its database: the users service's deletion sweeper and
// retention run at once and on a timer, and ran on, against a closed database, logging a
// failure with its stack ("PGlite is closed") for as long as the process lived.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSubgraph } from '@ticketing/platform';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import { describe, expect, it } from 'vitest';

describe('a subgraph whose port is taken', () => {
  it('stops its background work, then closes its database, and says why it did not start', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as { port: number };
    const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-start-failure-'));
    const url = uniqueTestDatabaseUrl('start_failure');
    // What happened to the service's set-up and database, in order.
    const steps: string[] = [];
    const observed: typeof usersSubgraph = {
      ...usersSubgraph,
      database: {
        ...usersSubgraph.database,
        async open(location, options) {
          const database = await usersSubgraph.database.open(location, options);
          return {
            ...database,
            async close() {
              steps.push('database closed');
              await database.close();
            },
          };
        },
      },
      async setUp(prisma, options) {
        const setup = await usersSubgraph.setUp(prisma, options);
        return {
          ...setup,
          async stop() {
            await setup.stop?.();
            steps.push('background work stopped');
          },
        };
      },
    };
    try {
      await expect(
        startSubgraph(observed, {
          NODE_ENV: 'test',
          LOG_LEVEL: 'silent',
          HOST: '127.0.0.1',
          PORT: String(port),
          DRAIN_DEADLINE_MS: '0',
          SEED_DEMO_DATA: 'false',
          DATA_DIR: dataDir,
          USERS_DATABASE_URL: url,
          REDIS_URL: '',
        }),
      ).rejects.toThrow(`PORT ${port}: it is already in use`);
      expect(steps).toEqual(['background work stopped', 'database closed']);
    } finally {
      holder.close();
      await dropDatabase(url);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
