// What the web app says for each refusal and failure the API's HTTP answers can be
// (clients/web/src/errors.ts), with the errors Apollo Client makes of them.
import { CombinedGraphQLErrors, ServerError, ServerParseError } from '@apollo/client/errors';
import { InvariantError } from '@apollo/client/utilities/invariant';
import { eventsErrorCodes } from '@ticketing/events-subgraph/errors';
import { commonErrorCodes } from '@ticketing/platform';
import { ticketsErrorCodes } from '@ticketing/tickets-subgraph/errors';
import { usersErrorCodes } from '@ticketing/users-subgraph/errors';
import { describe, expect, it } from 'vitest';
import { describeError } from '../clients/web/src/errors.ts';

/** What Apollo Client throws for an HTTP answer that is not a GraphQL result. */
function httpAnswer(status: number, bodyText: string, headers: Record<string, string> = {}) {
  const response = new Response(bodyText, { status, headers });
  return new ServerError(`Response not successful: Received status code ${status}`, {
    response,
    bodyText,
  });
}

const edgeError = (code: string, extensions: Record<string, unknown> = {}) =>
  JSON.stringify({ errors: [{ message: 'Refused.', extensions: { code, ...extensions } }] });

describe('describeError', () => {
  it('says every code a service answers in a sentence of its own, not the one for anything else', () => {
    const answered = (code: string) =>
      describeError(
        new CombinedGraphQLErrors({
          data: null,
          errors: [{ message: 'Refused.', extensions: { code } }],
        }),
      );
    const anythingElse = answered('A_CODE_NO_SERVICE_HAS')?.message;
    // BAD_USER_INPUT shows the API's own words.
    const codes = [
      ...commonErrorCodes,
      ...usersErrorCodes,
      ...eventsErrorCodes,
      ...ticketsErrorCodes,
    ];
    const unsaid = codes.filter(
      (code) => code !== 'BAD_USER_INPUT' && answered(code)?.message === anythingElse,
    );
    expect(unsaid).toEqual([]);
  });

  it('says nothing of a request Apollo Client cancelled for a reset cache, which it asks again', () => {
    expect(
      describeError(
        new InvariantError('Store reset while query was in flight (not completed in link chain)'),
      ),
    ).toBeNull();
  });

  it('says when to try again for a spent budget or too many attempts, from the extension', () => {
    const graphql = (code: string, retryAfterSeconds: number) =>
      new CombinedGraphQLErrors({
        data: null,
        errors: [{ message: 'Refused.', extensions: { code, retryAfterSeconds } }],
      });
    expect(describeError(graphql('TOO_MANY_REQUESTS', 12))).toEqual({
      code: 'TOO_MANY_REQUESTS',
      message: 'Too many requests: try again in 12 seconds.',
    });
    expect(describeError(graphql('TOO_MANY_ATTEMPTS', 1))).toEqual({
      code: 'TOO_MANY_ATTEMPTS',
      message: 'Too many attempts: try again in 1 second.',
    });
  });

  it('says when to try again from Retry-After when the body gives no time', () => {
    expect(
      describeError(httpAnswer(429, edgeError('TOO_MANY_REQUESTS'), { 'retry-after': '30' })),
    ).toEqual({
      code: 'TOO_MANY_REQUESTS',
      message: 'Too many requests: try again in 30 seconds.',
    });
    expect(describeError(httpAnswer(429, 'Too Many Requests', { 'retry-after': '5' }))).toEqual({
      code: 'TOO_MANY_REQUESTS',
      message: 'Too many requests: try again in 5 seconds.',
    });
    expect(describeError(httpAnswer(503, '{"status":"draining"}', { 'retry-after': '2' }))).toEqual(
      {
        code: 'SERVICE_UNAVAILABLE',
        message: 'A service is unavailable: try again in 2 seconds.',
      },
    );
  });

  it('names each HTTP refusal by its code, never as an unreachable service', () => {
    const cases: [ServerError, string, RegExp][] = [
      [httpAnswer(413, edgeError('PAYLOAD_TOO_LARGE')), 'PAYLOAD_TOO_LARGE', /larger than/],
      [httpAnswer(413, edgeError('DOCUMENT_TOO_LARGE')), 'DOCUMENT_TOO_LARGE', /larger than/],
      [httpAnswer(400, edgeError('BAD_REQUEST')), 'BAD_REQUEST', /could not read the request/],
      [
        httpAnswer(429, edgeError('TOO_MANY_REQUESTS', { retryAfterSeconds: 1 })),
        'TOO_MANY_REQUESTS',
        /try again in 1 second\./,
      ],
      [httpAnswer(502, edgeError('SERVICE_UNAVAILABLE')), 'SERVICE_UNAVAILABLE', /unavailable/],
      [httpAnswer(504, edgeError('SERVICE_UNAVAILABLE')), 'SERVICE_UNAVAILABLE', /took too long/],
      [
        httpAnswer(504, '<html>504 Gateway Time-out</html>'),
        'SERVICE_UNAVAILABLE',
        /took too long/,
      ],
      [httpAnswer(502, '<html>502 Bad Gateway</html>'), 'SERVICE_UNAVAILABLE', /unavailable/],
      [
        httpAnswer(413, '<html>413 Request Entity Too Large</html>'),
        'PAYLOAD_TOO_LARGE',
        /larger than/,
      ],
      [httpAnswer(500, '<html>oops</html>'), 'INTERNAL_SERVER_ERROR', /went wrong/],
    ];
    for (const [error, code, message] of cases) {
      const shown = describeError(error);
      expect(shown?.code, error.bodyText).toBe(code);
      expect(shown?.message, error.bodyText).toMatch(message);
      expect(shown?.message).not.toMatch(/cannot be reached/);
    }
  });

  it('says an answer that is not JSON could not be read', () => {
    const bodyText = '<html><body>Sign in to the network</body></html>';
    const response = new Response(bodyText, {
      status: 200,
      headers: { 'content-type': 'text/html' },
    });
    const error = new ServerParseError(new SyntaxError('Unexpected token <'), {
      response,
      bodyText,
    });
    expect(describeError(error)?.code).toBe('UNREADABLE_RESPONSE');
  });

  it('says the service cannot be reached only when no answer came', () => {
    expect(describeError(new TypeError('Failed to fetch'))?.code).toBe('NETWORK_ERROR');
    expect(describeError(new DOMException('timed out', 'TimeoutError'))?.message).toMatch(
      /cannot be reached/,
    );
  });

  it('keeps an input error beside its field, and a tier in use says why', () => {
    expect(
      describeError(
        new CombinedGraphQLErrors({
          errors: [
            {
              message: 'input.title must not be blank.',
              extensions: { code: 'BAD_USER_INPUT', field: 'input.title' },
            },
          ],
        }),
      ),
    ).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'input.title must not be blank.',
      field: 'input.title',
    });
    expect(
      describeError(
        new CombinedGraphQLErrors({
          errors: [{ message: 'In use.', extensions: { code: 'TIER_IN_USE' } }],
        }),
      )?.message,
    ).toMatch(/cannot be deleted: end its sales instead/);
  });
  it('says each refusal of a ticket transfer in plain words of its own', () => {
    const refusal = (code: string) =>
      describeError(
        new CombinedGraphQLErrors({
          data: null,
          errors: [{ message: 'Refused.', extensions: { code } }],
        }),
      )?.message;
    const expected: [string, RegExp][] = [
      ['TRANSFER_PENDING', /offered to someone already.*cancel that offer first/i],
      ['TRANSFER_EXPIRED', /offer has expired/i],
      ['TRANSFER_NOT_PENDING', /no longer open.*declined, cancelled or accepted/i],
      ['RECIPIENT_NOT_FOUND', /no account has this email/i],
      ['TRANSFER_TO_SELF', /yours already/i],
      ['PURCHASE_LIMIT_REACHED', /most tickets one person may/i],
      ['EVENT_STARTED', /event has started/i],
      ['TICKET_CHECKED_IN', /admitted at the door/i],
      ['TICKET_CANCELLED', /ticket is cancelled/i],
    ];
    const sentences = expected.map(([code, words]) => {
      const message = refusal(code);
      expect(message, code).toMatch(words);
      expect(message, code).not.toMatch(/something went wrong/i);
      return message;
    });
    // No two codes say the same thing.
    expect(new Set(sentences).size).toBe(sentences.length);
  });
});
