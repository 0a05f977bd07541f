import type { Identity } from '@ticketing/auth';
import { badUserInput, isUuid, pageSize } from '@ticketing/platform';
import { decodeCursor } from '../cursor.ts';
import { failure } from '../errors.ts';
import type { AttendeePage, SalesRepository } from '../repositories/SalesRepository.ts';
import type { EventOwnership } from './EventOwnership.ts';

/** An event whose sales the caller may see: what `Event.sales` hands its fields. */
export interface SalesReport {
  eventId: string;
}

/** The longest series `salesPerHour` answers: a week of hours. */
export const maxSalesHours = 168;

/**
 * Sales and attendee lists, for an event's organizer and admins only. The caller is checked
 * once, when the report is opened; its fields then read the tickets database alone.
 */
export class SalesService {
  readonly #sales: SalesRepository;
  readonly #ownership: EventOwnership;

  constructor(deps: { sales: SalesRepository; ownership: EventOwnership }) {
    this.#sales = deps.sales;
    this.#ownership = deps.ownership;
  }

  async report(viewer: Identity | null, eventId: string): Promise<SalesReport> {
    await this.#ownership.requireOrganizer(
      viewer,
      eventId,
      'Only the event’s organizer and admins see its sales.',
    );
    return { eventId };
  }

  gross({ eventId }: SalesReport) {
    return this.#sales.grossByCurrency(eventId);
  }

  salesPerHour({ eventId }: SalesReport, hours: number) {
    if (!Number.isInteger(hours) || hours < 1 || hours > maxSalesHours) {
      throw badUserInput(`\`hours\` must be between 1 and ${maxSalesHours}.`, 'hours');
    }
    return this.#sales.salesPerHour(eventId, hours);
  }

  async attendees(
    { eventId }: SalesReport,
    tierId: string,
    first: number,
    after: string | null | undefined,
  ): Promise<AttendeePage> {
    const size = pageSize(first);
    const position = after ? decodeCursor(after, 'attendees') : undefined;
    const page = isUuid(tierId)
      ? await this.#sales.attendeePage(eventId, tierId, size, position)
      : null;
    if (!page) {
      throw failure('NOT_FOUND', `This event has no tier with the id ${tierId}.`, {
        field: 'tierId',
      });
    }
    return page;
  }
}
