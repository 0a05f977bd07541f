// Demo accounts (whose password the README publishes) never appear in a production
// deployment unless it asks for them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSubgraph } from '@ticketing/platform';
import { demoUsers } from '@ticketing/prisma/demo-data';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { usersDatabase } from '@ticketing/prisma/users';
import { usersSubgraph } from '@ticketing/users-subgraph/subgraph';
import { describe, expect, it } from 'vitest';

/** Starts the users service in production on a fresh database; the accounts it then holds. */
async function accountsAfterProductionStart(extra: NodeJS.ProcessEnv): Promise<string[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-demo-data-'));
  const url = uniqueTestDatabaseUrl('demo_users');
  try {
    const service = await startSubgraph(usersSubgraph, {
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
      DRAIN_DEADLINE_MS: '0',
      DATA_DIR: dataDir,
      AUTH_DEV_KEYS: 'true',
      USERS_DATABASE_URL: url,
      USERS_SUBGRAPH_SECRET: 'a-production-length-users-subgraph-secret-0123',
      TICKETS_SUBGRAPH_SECRET: 'a-production-length-tickets-subgraph-secret-01',
      ...extra,
    });
    await service.stop();
    const database = await usersDatabase.open({ kind: 'postgres', url }, { migrate: false });
    try {
      return (await database.prisma.user.findMany()).map((user) => user.email);
    } finally {
      await database.close();
    }
  } finally {
    await dropDatabase(url);
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe('demo data in production', () => {
  it('is not seeded by default', async () => {
    expect(await accountsAfterProductionStart({})).toEqual([]);
  });

  it('is seeded only when SEED_DEMO_DATA=true asks for it', async () => {
    const emails = await accountsAfterProductionStart({ SEED_DEMO_DATA: 'true' });
    expect(emails.sort()).toEqual(demoUsers.map((user) => user.email).sort());
  });
});
