import { inRequestedOrder, queryableIds } from '@ticketing/platform';
import type { Hold, Order, PrismaClient } from '@ticketing/prisma/tickets';

/** Where a page of a buyer's orders continues: after this time and id, newest first. */
export interface OrderPosition {
  createdAt: Date;
  id: string;
}

/** Rows after `position` in newest-first order (creation time, then id): a page's filter. */
export function olderThan(position: OrderPosition) {
  return {
    OR: [
      { createdAt: { lt: position.createdAt } },
      { createdAt: position.createdAt, id: { lt: position.id } },
    ],
  };
}

export interface OrderPage {
  orders: Order[];
  hasNextPage: boolean;
  totalCount: number;
}

/** Reads orders and a buyer's live holds (stock changes: PurchaseRepository). */
export class OrderRepository {
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async findOrdersByIds(ids: readonly string[]): Promise<(Order | null)[]> {
    const orders = await this.#prisma.order.findMany({ where: { id: { in: queryableIds(ids) } } });
    return inRequestedOrder(ids, orders, (order) => order.id);
  }

  /** A page of one buyer's orders, newest first (found through the buyer's unique key index). */
  async pageByBuyer(
    buyerId: string,
    first: number,
    after: OrderPosition | undefined,
  ): Promise<OrderPage> {
    const where = { buyerId };
    const [rows, totalCount] = await Promise.all([
      this.#prisma.order.findMany({
        where: after ? { ...where, ...olderThan(after) } : where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: first + 1,
      }),
      this.#prisma.order.count({ where }),
    ]);
    return { orders: rows.slice(0, first), hasNextPage: rows.length > first, totalCount };
  }

  /** A user's holds that still reserve stock, soonest to expire first. */
  activeHolds(userId: string): Promise<Hold[]> {
    return this.#prisma.hold.findMany({
      where: { userId, status: 'ACTIVE', expiresAt: { gt: new Date() } },
      orderBy: [{ expiresAt: 'asc' }, { id: 'asc' }],
    });
  }
}
