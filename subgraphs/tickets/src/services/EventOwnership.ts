import type { Identity } from '@ticketing/auth';
import { currentRequestId, notFound, signedSubgraphHeaders } from '@ticketing/platform';
import { injectTraceContext } from '@ticketing/platform/telemetry';
import { failure } from '../errors.ts';

const organizerQuery =
  'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { organizer { id } } } }';

/**
 * Asks the events subgraph, on the caller's behalf, for an event's organizer. Like the
 * gateway, this service signs what it forwards with the events subgraph's secret (it is
 * configured with it for this one call), and the events subgraph applies its own
 * visibility: an event the caller may not see comes back as null. Used only to manage
 * tiers, so that selling never waits on the events service.
 */
export class EventOwnership {
  readonly #eventsUrl: string;
  readonly #eventsSecret: string;

  constructor(eventsUrl: string, eventsSecret: string) {
    this.#eventsUrl = eventsUrl;
    this.#eventsSecret = eventsSecret;
  }

  async organizerOf(eventId: string, caller: Identity): Promise<string> {
    const body = JSON.stringify({
      query: organizerQuery,
      variables: { r: [{ __typename: 'Event', id: eventId }] },
    });
    const requestId = currentRequestId();
    const traceHeaders: Record<string, string> = {};
    injectTraceContext(traceHeaders);
    let result: { data?: { _entities?: ({ organizer: { id: string } } | null)[] } };
    try {
      const response = await fetch(this.#eventsUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(requestId ? { 'x-request-id': requestId } : {}),
          ...traceHeaders,
          ...signedSubgraphHeaders({
            secret: this.#eventsSecret,
            subgraph: 'events',
            issuer: 'tickets',
            viewer: caller,
            requestId,
            body,
          }),
        },
        body,
        signal: AbortSignal.timeout(3_000),
      });
      if (!response.ok) throw new Error(`events answered ${response.status}`);
      result = await response.json();
    } catch {
      throw failure(
        'SERVICE_UNAVAILABLE',
        'The events service cannot be reached; try again shortly.',
      );
    }
    const organizerId = result.data?._entities?.[0]?.organizer.id;
    if (!organizerId) throw notFound(`No event has the id ${eventId}.`);
    return organizerId;
  }
}
