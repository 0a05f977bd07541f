import type { ApolloServerPlugin } from '@apollo/server';
import {
  createSubgraphServer,
  DateTime,
  type Logger,
  readSchema,
  SafeInt,
} from '@ticketing/platform';
import type { TicketsContext } from './context.ts';
import type { Resolvers } from './generated/resolvers.ts';
import {
  CheckIn,
  CheckInEventFields,
  CheckInMutation,
  DoorStaff,
  OfflineScanResult,
  qrToken,
} from './resolvers/CheckIn.ts';
import { Event } from './resolvers/Event.ts';
import { Mutation } from './resolvers/Mutation.ts';
import { Query } from './resolvers/Query.ts';
import { OrderRefundFields, Refund, RefundMutation } from './resolvers/Refund.ts';
import { Attendee, EventSales, SalesEventFields, TierSales } from './resolvers/Sales.ts';
import { Hold, Order, Ticket, TicketTier } from './resolvers/Ticket.ts';
import {
  pendingTransfer,
  TicketTransfer,
  TransferMutation,
  TransferQuery,
} from './resolvers/Transfer.ts';
import { User } from './resolvers/User.ts';
import { WaitlistEntry, WaitlistMutation, WaitlistQuery } from './resolvers/Waitlist.ts';

export const typeDefs = readSchema(new URL('../schema.graphql', import.meta.url));

export const resolvers: Resolvers = {
  DateTime,
  SafeInt,
  Query: { ...Query, ...WaitlistQuery, ...TransferQuery },
  Mutation: {
    ...Mutation,
    ...CheckInMutation,
    ...TransferMutation,
    ...RefundMutation,
    ...WaitlistMutation,
  },
  Event: { ...Event, ...CheckInEventFields, ...SalesEventFields },
  User,
  Ticket: { ...Ticket, qrToken, pendingTransfer },
  TicketTier,
  Order: { ...Order, ...OrderRefundFields },
  Hold,
  DoorStaff,
  CheckIn,
  OfflineScanResult,
  EventSales,
  TierSales,
  Attendee,
  Refund,
  WaitlistEntry,
  TicketTransfer,
};

/**
 * The tickets subgraph, not yet listening: tests call `executeOperation` on it. Apollo
 * Server's own messages are lines of `logger`.
 */
export function createTicketsServer(
  plugins: ApolloServerPlugin<TicketsContext>[] = [],
  logger?: Logger,
) {
  return createSubgraphServer<TicketsContext>(typeDefs, resolvers, plugins, logger);
}
