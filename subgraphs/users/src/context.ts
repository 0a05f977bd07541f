import type { PrismaClient, User } from '@ticketing/prisma/users';
import DataLoader from 'dataloader';
import { UserRepository } from './repositories/UserRepository.ts';

export interface UsersContext {
  users: UserRepository;
  loaders: { userById: DataLoader<string, User | null> };
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(prisma: PrismaClient): UsersContext {
  const users = new UserRepository(prisma);
  return {
    users,
    loaders: { userById: new DataLoader((ids) => users.findByIds(ids)) },
  };
}
