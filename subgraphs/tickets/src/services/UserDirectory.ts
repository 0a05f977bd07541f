import type { Identity } from '@ticketing/auth';
import {
  callSubgraph,
  type SubgraphEndpoint,
  subgraphEndpoint,
} from '@ticketing/platform/subgraph-call';

const accountQuery = 'query ($email: String!) { accountIdByEmail(email: $email) }';

/**
 * Finds accounts by email in the users subgraph, which owns them. The field it asks for is
 * `@inaccessible`: the gateway never offers it to clients, and only a caller holding the
 * users subgraph's secret can reach it.
 */
export class UserDirectory {
  readonly #users: SubgraphEndpoint;

  constructor(usersUrl: string, usersSecret: string) {
    this.#users = subgraphEndpoint('users', usersUrl, usersSecret);
  }

  /** The id of the account with this email, or null when none has it. */
  async idByEmail(email: string, caller: Identity): Promise<string | null> {
    const result = await callSubgraph<{ accountIdByEmail: string | null }>(
      'tickets',
      this.#users,
      caller,
      accountQuery,
      { email },
    );
    return result.data?.accountIdByEmail ?? null;
  }
}
