import type { Identity } from '@ticketing/auth';
import { serviceUnavailable } from '@ticketing/platform';
import { callSubgraph, type SubgraphEndpoint } from '@ticketing/platform/subgraph-call';
import { failure } from '../errors.ts';

const closeAccountMutation = 'mutation { closeAccount }';

/**
 * The tickets service's side of deleting an account. Its `closeAccount` is `@inaccessible`:
 * the gateway never offers it to clients, and only a caller holding the tickets subgraph's
 * secret can reach it.
 */
export class TicketsAccounts {
  readonly #tickets: SubgraphEndpoint;

  constructor(ticketsUrl: string, ticketsSecret: string) {
    this.#tickets = {
      name: 'tickets',
      url: ticketsUrl,
      secret: ticketsSecret,
      description: 'The tickets service',
    };
  }

  /**
   * Closes the caller's account in the tickets service (see its AccountClosure.ts), or
   * throws: ACCOUNT_HAS_TICKETS, as it answered, or SERVICE_UNAVAILABLE.
   */
  async close(caller: Identity): Promise<void> {
    const result = await callSubgraph<{ closeAccount: boolean }>(
      'users',
      this.#tickets,
      caller,
      closeAccountMutation,
      {},
    );
    if (result.data?.closeAccount === true) return;
    const [error] = (result.errors ?? []) as { extensions?: Record<string, unknown> }[];
    if (error?.extensions?.code === 'ACCOUNT_HAS_TICKETS') {
      throw failure(
        'ACCOUNT_HAS_TICKETS',
        'The account holds tickets for events that are not over: refund or transfer them, or wait until the events are over, before deleting it.',
        { tickets: error.extensions.tickets },
      );
    }
    throw serviceUnavailable();
  }
}
