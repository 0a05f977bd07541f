import type { TicketsContext } from '../context.ts';
import { encodeCursor } from '../cursor.ts';
import type {
  AttendeeResolvers,
  EventSalesResolvers,
  TierSalesResolvers,
} from '../generated/resolvers.ts';
import { availableInTier } from '../repositories/TicketRepository.ts';

function salesOf(context: TicketsContext) {
  if (!context.sales) throw new Error('This context was built without the sales report');
  return context.sales;
}

/** This subgraph's sales field of the Event entity: the caller is checked here, once. */
export const SalesEventFields = {
  sales: (event: { id: string }, _: unknown, context: TicketsContext) =>
    salesOf(context).report(context.viewer, event.id),
};

// Each field is one statement (tiers and check-ins through the request's DataLoaders).
export const EventSales: EventSalesResolvers = {
  tiers: (report, _, { loaders }) => loaders.tiersByEventId.load(report.eventId),

  gross: (report, _, context) => salesOf(context).gross(report),

  checkIns: (report, _, { loaders }) => loaders.checkInCountsByEventId.load(report.eventId),

  salesPerHour: (report, { hours }, context) => salesOf(context).salesPerHour(report, hours),

  async attendees(report, { tierId, first, after }, context) {
    const page = await salesOf(context).attendees(report, tierId, first, after);
    const edges = page.attendees.map((row) => ({
      cursor: encodeCursor('attendees', row),
      node: row,
    }));
    return {
      edges,
      totalCount: page.totalCount,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
    };
  },
};

export const TierSales: TierSalesResolvers = {
  tier: (tier) => tier,
  held: (tier) => tier.holds.reduce((sum, hold) => sum + hold.quantity, 0),
  available: (tier) => availableInTier(tier),
};

export const Attendee: AttendeeResolvers = {
  ticketId: (row) => row.id,
  /** The users subgraph resolves the rest of the holder, once for the whole page. */
  holder: (row) => ({ __typename: 'User', id: row.ownerId }),
  checkedIn: (row) => row.checkedInAt !== null,
};
