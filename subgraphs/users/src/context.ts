import type { Identity } from '@ticketing/auth';
import type { RequestInfo } from '@ticketing/platform';
import type { User } from '@ticketing/prisma/users';
import DataLoader from 'dataloader';
import type { UserRepository } from './repositories/UserRepository.ts';
import type { AccountService } from './services/AccountService.ts';

export interface UsersContext {
  viewer: Identity | null;
  clientAddress: string | undefined;
  /** Set by a mutation that just logged the caller in, who may then read their own account. */
  authenticatedUserId?: string;
  /**
   * The access token each sign-in of this request issued, by its root field's response key:
   * answered to the gateway in `extensions` (issued-tokens.ts), never to a client.
   */
  issuedAccessTokens?: Map<string, string>;
  accounts: AccountService;
  loaders: { userById: DataLoader<string, User | null> };
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(
  services: { users: UserRepository; accounts: AccountService },
  request: RequestInfo,
): UsersContext {
  return {
    ...request,
    accounts: services.accounts,
    loaders: { userById: new DataLoader((ids) => services.users.findByIds(ids)) },
  };
}
