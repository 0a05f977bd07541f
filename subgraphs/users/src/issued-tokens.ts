import type { ApolloServerPlugin } from '@apollo/server';
import { issuedAccessTokensExtension } from '@ticketing/auth';
import type { UsersContext } from './context.ts';

/**
 * Adds to an answer whose operation signed someone in the access token each sign-in issued,
 * by its root field's response key, selected by the client or not, so that the gateway can
 * fetch the fields under it (a user's tickets, their events) as the person who signed in.
 * Only the gateway reads this service's answers; it takes the extension out and never passes
 * it on (sign-in-identity.ts in the gateway).
 */
export function issuedTokensPlugin(): ApolloServerPlugin<UsersContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          const issued = contextValue.issuedAccessTokens;
          if (!issued?.size || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = {
            ...result.extensions,
            [issuedAccessTokensExtension]: Object.fromEntries(issued),
          };
        },
      };
    },
  };
}
