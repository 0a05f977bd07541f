import type { Identity } from '@ticketing/auth';
import type { RequestInfo } from '@ticketing/platform';
import type {
  DoorStaff,
  EventSnapshot,
  Order,
  PrismaClient,
  Refund,
  Ticket,
  TicketTransferOffer,
} from '@ticketing/prisma/tickets';
import DataLoader from 'dataloader';
import { decodeCursor } from './cursor.ts';
import { type CheckInCounts, CheckInRepository } from './repositories/CheckInRepository.ts';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { OrderRepository } from './repositories/OrderRepository.ts';
import { RefundRepository } from './repositories/RefundRepository.ts';
import {
  type StockedTier,
  type TicketPage,
  TicketRepository,
} from './repositories/TicketRepository.ts';
import { TransferRepository } from './repositories/TransferRepository.ts';
import type { AccountClosure } from './services/AccountClosure.ts';
import type { CheckInService } from './services/CheckInService.ts';
import type { RefundService } from './services/RefundService.ts';
import type { SalesService } from './services/SalesService.ts';
import type { TicketingService } from './services/TicketingService.ts';
import type { TransferService } from './services/TransferService.ts';
import type { WaitlistService } from './services/WaitlistService.ts';

export interface TicketPageKey {
  ownerId: string;
  first: number;
  after: string | undefined;
}

export interface TicketsContext {
  viewer: Identity | null;
  service: TicketingService;
  /** The door and transfers; absent in a context built for the other fields alone. */
  doors?: CheckInService;
  transfers?: TransferService;
  /** Sales reports and attendee lists; absent like the door. */
  sales?: SalesService;
  /** Refunds; absent like the door. */
  refunds?: RefundService;
  /** The waitlist; absent, like the door, in a context built for the other fields alone. */
  waitlist?: WaitlistService;
  /** Closing a deleted account; absent like the door. */
  accounts?: AccountClosure;
  orders: OrderRepository;
  loaders: {
    orderById: DataLoader<string, Order | null>;
    ticketById: DataLoader<string, Ticket | null>;
    tierById: DataLoader<string, StockedTier | null>;
    tiersByEventId: DataLoader<string, StockedTier[]>;
    snapshotByEventId: DataLoader<string, EventSnapshot | null>;
    ticketsByOrderId: DataLoader<string, Ticket[]>;
    ticketPages: DataLoader<TicketPageKey, TicketPage, string>;
    checkInCountsByEventId: DataLoader<string, CheckInCounts>;
    doorStaffByEventId: DataLoader<string, DoorStaff[]>;
    refundsByOrderId: DataLoader<string, Refund[]>;
    ticketIdsByRefundId: DataLoader<string, string[]>;
    openTransferByTicketId: DataLoader<string, TicketTransferOffer | null>;
  };
}

/** Loads owners' pages in batches of keys that share `first` and `after`. */
async function loadTicketPages(tickets: TicketRepository, keys: readonly TicketPageKey[]) {
  const pages = new Map<TicketPageKey, TicketPage>();
  const groups = Map.groupBy(keys, (key) => `${key.first}|${key.after ?? ''}`);
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const [{ first, after }] = group as [TicketPageKey];
      const results = await tickets.pagesByOwner(
        group.map((key) => key.ownerId),
        first,
        after ? decodeCursor(after, 'tickets') : undefined,
      );
      for (const [index, key] of group.entries()) pages.set(key, results[index] as TicketPage);
    }),
  );
  return keys.map((key) => pages.get(key) as TicketPage);
}

/** A context a request: DataLoaders must not cache across requests. */
export function createContext(
  prisma: PrismaClient,
  service: TicketingService,
  { viewer }: RequestInfo,
  door:
    | {
        doors: CheckInService;
        transfers: TransferService;
        sales?: SalesService;
        refunds?: RefundService;
        waitlist?: WaitlistService;
        accounts?: AccountClosure;
      }
    | undefined = undefined,
): TicketsContext {
  const tickets = new TicketRepository(prisma);
  const snapshots = new EventSnapshotRepository(prisma);
  const orders = new OrderRepository(prisma);
  const checkIns = new CheckInRepository(prisma);
  const transfers = new TransferRepository(prisma);
  const refunds = door?.refunds?.refunds ?? new RefundRepository(prisma, service.purchases);
  return {
    viewer,
    service,
    ...door,
    orders,
    loaders: {
      orderById: new DataLoader((ids) => orders.findOrdersByIds(ids)),
      ticketById: new DataLoader((ids) => tickets.findTicketsByIds(ids)),
      tierById: new DataLoader((ids) => tickets.findTiersByIds(ids)),
      tiersByEventId: new DataLoader((ids) => tickets.findTiersByEventIds(ids)),
      snapshotByEventId: new DataLoader((ids) => snapshots.findByEventIds(ids)),
      ticketsByOrderId: new DataLoader((ids) => tickets.findTicketsByOrderIds(ids)),
      ticketPages: new DataLoader((keys) => loadTicketPages(tickets, keys), {
        cacheKeyFn: (key) => `${key.ownerId}|${key.first}|${key.after ?? ''}`,
      }),
      checkInCountsByEventId: new DataLoader((ids) => checkIns.countsByEventIds(ids)),
      doorStaffByEventId: new DataLoader((ids) => checkIns.staffByEventIds(ids)),
      refundsByOrderId: new DataLoader((ids) => refunds.findByOrderIds(ids)),
      ticketIdsByRefundId: new DataLoader((ids) => refunds.ticketIdsByRefundIds(ids)),
      openTransferByTicketId: new DataLoader((ids) => transfers.openByTicketIds(ids)),
    },
  };
}
