import type { ApolloServerPlugin } from '@apollo/server';
import type { TicketsContext } from './context.ts';

/**
 * After a mutation that did something (purchases, holds, releases, cancellations, tier
 * changes), tells the gateways' response cache that stock may have moved, before the
 * mutation answers. A mutation whose every field failed moved nothing.
 */
export function invalidateStockPlugin(
  invalidate: () => Promise<void>,
): ApolloServerPlugin<TicketsContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, response }) {
          if (operation?.operation !== 'mutation' || response.body.kind !== 'single') return;
          const data = response.body.singleResult.data ?? {};
          if (Object.values(data).some((value) => value !== null)) await invalidate();
        },
      };
    },
  };
}
