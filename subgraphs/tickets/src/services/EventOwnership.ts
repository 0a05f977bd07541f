import { forbidden, type Identity, unauthenticated } from '@ticketing/auth';
import { isUuid, notFound, serviceUnavailable } from '@ticketing/platform';
import {
  callSubgraph,
  type SubgraphEndpoint,
  subgraphEndpoint,
} from '@ticketing/platform/subgraph-call';
import DataLoader from 'dataloader';

const managedEventQuery =
  'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Event { status startsAt endsAt organizer { id } } } }';

/** An event as the events subgraph answers `managedEventQuery`. */
interface RemoteEvent {
  status: ManagedEvent['status'];
  startsAt: string;
  endsAt: string | null;
  organizer: { id: string };
}

/**
 * NOT_FOUND for an event, naming `field`: the argument that gave its id (`eventId`), or, for
 * an id the client did not give (an Event entity's own field), none.
 */
export const eventNotFound = (eventId: string, field?: string) =>
  notFound(`No event has the id ${eventId}.`, field);

/** The most events one call asks about: a request's questions beyond go in further calls. */
const maxEventsPerCall = 500;

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
 * tiers and door staff, so that selling never waits on the events service. The events one
 * request asks about together (a page of events, each with its door staff and sales) go
 * in one call, not one an event and field.
 */
export class EventOwnership {
  readonly #events: SubgraphEndpoint;
  readonly #batches = new WeakMap<Identity, DataLoader<string, RemoteEvent | null>>();

  constructor(eventsUrl: string, eventsSecret: string) {
    this.#events = subgraphEndpoint('events', eventsUrl, eventsSecret);
  }

  /**
   * Closes the caller as an organizer in the events service: how many published events not
   * over they organize, and when none, none of theirs can be published from now on.
   */
  async closeOrganizer(caller: Identity): Promise<number> {
    const count = (await this.#mutation(caller, 'closeOrganizer'))?.closeOrganizer;
    if (typeof count !== 'number') throw serviceUnavailable();
    return count;
  }

  /** Undoes closeOrganizer: the caller's account stays. */
  async reopenOrganizer(caller: Identity): Promise<void> {
    const done = (await this.#mutation(caller, 'reopenOrganizer'))?.reopenOrganizer;
    if (done !== true) throw serviceUnavailable();
  }

  /** The data of the events subgraph's mutation `field`, taking no arguments, as `caller`. */
  async #mutation<Field extends 'closeOrganizer' | 'reopenOrganizer'>(
    caller: Identity,
    field: Field,
  ): Promise<Record<Field, unknown> | null | undefined> {
    const query = `mutation { ${field} }`;
    return (await callSubgraph<Record<Field, unknown>>('tickets', this.#events, caller, query, {}))
      .data;
  }

  async organizerOf(eventId: string, caller: Identity, field?: string): Promise<string> {
    return (await this.managedEvent(eventId, caller, () => eventNotFound(eventId, field)))
      .organizerId;
  }

  /**
   * The event with its organizer, status and times; `missing` (NOT_FOUND naming the event by
   * default) when the caller cannot see it.
   */
  async managedEvent(
    eventId: string,
    caller: Identity,
    missing: () => Error = () => eventNotFound(eventId),
  ): Promise<ManagedEvent> {
    const event = await this.#batchOf(caller).load(eventId);
    if (!event?.organizer.id) throw missing();
    return {
      organizerId: event.organizer.id,
      status: event.status,
      startsAt: new Date(event.startsAt),
      endsAt: event.endsAt === null ? null : new Date(event.endsAt),
    };
  }

  /**
   * The events one request asks about in one tick, sent as one call. A request's caller is
   * its own object (the subgraph reads it from the request's assertion), so a batch never
   * mixes two requests or two callers. Nothing is cached: each question is asked anew.
   */
  #batchOf(caller: Identity): DataLoader<string, RemoteEvent | null> {
    let batch = this.#batches.get(caller);
    if (!batch) {
      batch = new DataLoader((ids) => this.#fetch(ids, caller), {
        cache: false,
        maxBatchSize: maxEventsPerCall,
      });
      this.#batches.set(caller, batch);
    }
    return batch;
  }

  async #fetch(ids: readonly string[], caller: Identity): Promise<(RemoteEvent | null)[]> {
    const unique = [...new Set(ids)];
    const result = await callSubgraph<{ _entities?: (RemoteEvent | null)[] }>(
      'tickets',
      this.#events,
      caller,
      managedEventQuery,
      { r: unique.map((id) => ({ __typename: 'Event', id })) },
    );
    const entities = result.data?._entities ?? [];
    const byId = new Map(unique.map((id, index) => [id, entities[index] ?? null]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /**
   * The event's organizer or an admin, signed in; anyone else is FORBIDDEN with `refusal`.
   * An event the caller cannot see is NOT_FOUND, as one that does not exist, naming `field`
   * when the client gave the id as an argument. Returns the caller.
   */
  async requireOrganizer(
    viewer: Identity | null,
    eventId: string,
    refusal: string,
    field?: string,
  ): Promise<Identity> {
    if (!viewer) throw unauthenticated('Log in first.', 'required');
    if (viewer.role !== 'ORGANIZER' && viewer.role !== 'ADMIN') throw forbidden(refusal);
    if (!isUuid(eventId)) throw eventNotFound(eventId, field);
    const organizerId = await this.organizerOf(eventId, viewer, field);
    if (organizerId !== viewer.userId && viewer.role !== 'ADMIN') throw forbidden(refusal);
    return viewer;
  }
}
