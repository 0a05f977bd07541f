import type { Identity } from '@ticketing/auth';
import { serviceUnavailable } from '@ticketing/platform';
import {
  callSubgraph,
  type SubgraphEndpoint,
  subgraphEndpoint,
} from '@ticketing/platform/subgraph-call';
import { failure } from '../errors.ts';

/**
 * The tickets service's side of deleting an account. Its `closeAccount` is `@inaccessible`:
 * the gateway never offers it to clients, and only a caller holding the tickets subgraph's
 * secret can reach it.
 */
export class TicketsAccounts {
  readonly #tickets: SubgraphEndpoint;

  constructor(ticketsUrl: string, ticketsSecret: string) {
    this.#tickets = subgraphEndpoint('tickets', ticketsUrl, ticketsSecret);
  }

  /**
   * Closes the caller's account in the tickets service (see its AccountClosure.ts), or
   * throws: ACCOUNT_HAS_EVENTS or ACCOUNT_HAS_TICKETS, as it answered, or SERVICE_UNAVAILABLE.
   */
  async close(caller: Identity): Promise<void> {
    const result = await this.#mutation(caller, 'closeAccount');
    if (result.data?.closeAccount === true) return;
    const [error] = (result.errors ?? []) as {
      message?: string;
      extensions?: Record<string, unknown>;
    }[];
    const { code, ...details } = error?.extensions ?? {};
    // What the account left that its deletion must wait for: passed on as the tickets service
    // said it.
    if ((code === 'ACCOUNT_HAS_TICKETS' || code === 'ACCOUNT_HAS_EVENTS') && error?.message) {
      throw failure(code, error.message, details);
    }
    throw serviceUnavailable();
  }

  /**
   * Undoes `close` in the tickets service (and the events service, which it asks): the
   * account was not deleted here after all. Safe to repeat; throws SERVICE_UNAVAILABLE.
   */
  async reopen(caller: Identity): Promise<void> {
    const result = await this.#mutation(caller, 'reopenAccount');
    if (result.data?.reopenAccount !== true) throw serviceUnavailable();
  }

  /** The tickets subgraph's answer to its mutation `field`, taking no arguments, as `caller`. */
  #mutation<Field extends 'closeAccount' | 'reopenAccount'>(caller: Identity, field: Field) {
    return callSubgraph<Record<Field, boolean>>(
      'users',
      this.#tickets,
      caller,
      `mutation { ${field} }`,
      {},
    );
  }
}
