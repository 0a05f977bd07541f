import { createLogger } from '@ticketing/platform';
import { executorFor } from '@ticketing/platform/testing';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateSigningKey, type KeyRingFile, keyRingFrom } from '../src/auth/signing-keys.ts';
import { createContext } from '../src/context.ts';
import { UserRepository } from '../src/repositories/UserRepository.ts';
import { createUsersServer } from '../src/server.ts';
import { createUsersServices } from '../src/subgraph.ts';

let database: TestDatabase<PrismaClient>;
const server = createUsersServer();
const ada = {
  id: '0190a000-0000-7000-8000-000000000001',
  email: 'ada@example.com',
  name: 'Ada',
  role: 'ORGANIZER' as const,
};
const alan = {
  id: '0190a000-0000-7000-8000-000000000003',
  email: 'alan@example.com',
  name: 'Alan',
  role: 'CUSTOMER' as const,
};

beforeAll(async () => {
  database = await createTestDatabase(usersDatabase);
  await database.prisma.user.createMany({ data: [ada, alan] });
  await server.start();
});
afterAll(async () => {
  await server.stop();
  await database?.close();
});

async function testKeyRing(): Promise<KeyRingFile> {
  const key = await generateSigningKey('test');
  return { active: 'test', keys: [key] } as KeyRingFile;
}

describe('User references', () => {
  it('resolve in one batched query, in the order asked, with unknown ids as null', async () => {
    const batch = vi.spyOn(UserRepository.prototype, 'findByIds');
    const ids = [alan.id, '0190a000-0000-7000-8000-00000000ffff', ada.id];
    const services = createUsersServices(
      database.prisma,
      await keyRingFrom(await testKeyRing()),
      { issuer: 'test', audience: 'test' },
      createLogger('users', 'silent'),
    );
    const run = executorFor(server, () =>
      createContext(services, { viewer: null, clientAddress: undefined, requestId: undefined }),
    );
    const { data, errors } = await run<{ _entities: unknown[] }>(
      /* GraphQL */ `
        query ($representations: [_Any!]!) {
          _entities(representations: $representations) { ... on User { id name } }
        }
      `,
      { representations: ids.map((id) => ({ __typename: 'User', id })) },
    );
    expect(errors).toBeUndefined();
    expect(data?._entities).toEqual([
      { id: alan.id, name: 'Alan' },
      null,
      { id: ada.id, name: 'Ada' },
    ]);
    expect(batch).toHaveBeenCalledTimes(1);
  });
});
