import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import type { PrismaClient, Ticket, TicketTier } from '@ticketing/prisma/tickets';

/** The only code in this service that queries the tickets database. */
export class TicketRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async findTicketsByIds(ids: readonly string[]): Promise<(Ticket | null)[]> {
    const tickets = await this.#prisma.ticket.findMany({
      where: { id: { in: queryableIds(ids) } },
    });
    return inRequestedOrder(ids, tickets, (ticket) => ticket.id);
  }

  async findTiersByIds(ids: readonly string[]): Promise<(TicketTier | null)[]> {
    const tiers = await this.#prisma.ticketTier.findMany({
      where: { id: { in: queryableIds(ids) } },
    });
    return inRequestedOrder(ids, tiers, (tier) => tier.id);
  }

  /** The tiers of each event, cheapest first, in the order the events were asked for. */
  async findTiersByEventIds(eventIds: readonly string[]): Promise<TicketTier[][]> {
    const tiers = await this.#prisma.ticketTier.findMany({
      where: { eventId: { in: queryableIds(eventIds) } },
      orderBy: [{ priceCents: 'asc' }, { id: 'asc' }],
    });
    const byEvent = Map.groupBy(tiers, (tier) => tier.eventId);
    return eventIds.map((id) => byEvent.get(id) ?? []);
  }
}

/** Tickets of a tier that can still be bought. */
export function availableInTier(tier: TicketTier): number {
  return tier.capacity - tier.sold;
}
