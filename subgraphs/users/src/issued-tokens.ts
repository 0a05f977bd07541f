import type { ApolloServerPlugin } from '@apollo/server';
import type { UsersContext } from './context.ts';

/**
 * The answer's extension naming the access token each sign-in (`signUp`, `logIn`,
 * `refreshSession`) issued, by the root field's response key, so that the gateway can
 * verify it and fetch the fields under that field (a user's tickets, their events) as the
 * person who signed in, whether or not the client selected `accessToken`. Only the gateway
 * reads this service's answers: it takes the extension out, and never passes it on
 * (sign-in-identity.ts in the gateway).
 */
export const issuedAccessTokensExtension = 'issuedAccessTokens';

/** Adds the extension to an answer whose operation signed someone in. */
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
