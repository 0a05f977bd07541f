import { failure, notFound } from '@ticketing/platform';

/**
 * Asks the events subgraph, as the caller, for an event's organizer. The events subgraph
 * applies its own visibility: an event the caller may not see comes back as null. Used
 * only to manage tiers, so that selling never waits on the events service.
 */
export class EventOwnership {
  readonly #eventsUrl: string;

  constructor(eventsUrl: string) {
    this.#eventsUrl = eventsUrl;
  }

  async organizerOf(eventId: string, authorization: string | undefined): Promise<string> {
    let body: { data?: { _entities?: ({ organizer: { id: string } } | null)[] } };
    try {
      const response = await fetch(this.#eventsUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(authorization ? { authorization } : {}),
        },
        body: JSON.stringify({
          query:
            'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { organizer { id } } } }',
          variables: { r: [{ __typename: 'Event', id: eventId }] },
        }),
        signal: AbortSignal.timeout(3_000),
      });
      body = await response.json();
    } catch {
      throw failure(
        'SERVICE_UNAVAILABLE',
        'The events service cannot be reached; try again shortly.',
      );
    }
    const organizerId = body.data?._entities?.[0]?.organizer.id;
    if (!organizerId) throw notFound(`No event has the id ${eventId}.`);
    return organizerId;
  }
}
