import { forbidden, type Identity, unauthenticated } from '@ticketing/auth';
import { isUuid, notFound } from '@ticketing/platform';
import { callSubgraph, type SubgraphEndpoint } from './SubgraphCall.ts';

const managedEventQuery =
  'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { status startsAt endsAt organizer { id } } } }';

/** What managing an event's tiers needs to know of it, as the events service says now. */
export interface ManagedEvent {
  organizerId: string;
  status: 'DRAFT' | 'PUBLISHED' | 'CANCELLED';
  startsAt: Date;
  endsAt: Date | null;
}

/**
 * Asks the events subgraph, on the caller's behalf, for an event's organizer. Like the
 * gateway, this service signs what it forwards with the events subgraph's secret (it is
 * configured with it for this one call), and the events subgraph applies its own
 * visibility: an event the caller may not see comes back as null. Used only to manage
 * tiers and door staff, so that selling never waits on the events service.
 */
export class EventOwnership {
  readonly #events: SubgraphEndpoint;

  constructor(eventsUrl: string, eventsSecret: string) {
    this.#events = {
      name: 'events',
      url: eventsUrl,
      secret: eventsSecret,
      description: 'The events service',
    };
  }

  async organizerOf(eventId: string, caller: Identity): Promise<string> {
    return (await this.managedEvent(eventId, caller)).organizerId;
  }

  /**
   * The event with its organizer, status and times; `missing` (NOT_FOUND naming the event by
   * default) when the caller cannot see it.
   */
  async managedEvent(
    eventId: string,
    caller: Identity,
    missing: () => Error = () => notFound(`No event has the id ${eventId}.`),
  ): Promise<ManagedEvent> {
    const result = await callSubgraph<{
      _entities?: ({
        status: ManagedEvent['status'];
        startsAt: string;
        endsAt: string | null;
        organizer: { id: string };
      } | null)[];
    }>(this.#events, caller, managedEventQuery, { r: [{ __typename: 'Event', id: eventId }] });
    const event = result.data?._entities?.[0];
    if (!event?.organizer.id) throw missing();
    return {
      organizerId: event.organizer.id,
      status: event.status,
      startsAt: new Date(event.startsAt),
      endsAt: event.endsAt === null ? null : new Date(event.endsAt),
    };
  }

  /**
   * The event's organizer or an admin, signed in; anyone else is FORBIDDEN with `refusal`.
   * An event the caller cannot see is NOT_FOUND, as one that does not exist. Returns the caller.
   */
  async requireOrganizer(
    viewer: Identity | null,
    eventId: string,
    refusal: string,
  ): Promise<Identity> {
    if (!viewer) throw unauthenticated('Log in first.', 'required');
    if (viewer.role !== 'ORGANIZER' && viewer.role !== 'ADMIN') throw forbidden(refusal);
    if (!isUuid(eventId)) throw notFound(`No event has the id ${eventId}.`);
    const organizerId = await this.organizerOf(eventId, viewer);
    if (organizerId !== viewer.userId && viewer.role !== 'ADMIN') throw forbidden(refusal);
    return viewer;
  }
}
