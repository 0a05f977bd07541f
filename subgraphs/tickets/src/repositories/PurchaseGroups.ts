import {
  isDatabaseUnavailable,
  isTransactionConflict,
  retryOnConflict,
  serviceUnavailable,
} from '@ticketing/platform';
import type { SendPrepared } from '@ticketing/prisma/tickets';
import {
  type PurchaseOutcome,
  type PurchaseRequest,
  type PurchaseRow,
  purchaseColumns,
  purchaseOutcome,
} from './PurchaseRepository.ts';

/** Group commit's settings. */
export interface PurchaseGroupSettings {
  /**
   * The most purchases sent in one statement.
   * @default 32
   */
  maxSize: number;
  /**
   * The longest a purchase waits in its tier's queue before it is sent; past it, the buyer is
   * told to retry. Below the gateway's subgraph deadline, so that a purchase the gateway gave
   * up on is never sent.
   * @default 10_000
   */
  queueWaitMs: number;
}

export const defaultPurchaseGroupSettings: PurchaseGroupSettings = {
  maxSize: 32,
  queueWaitMs: 10_000,
};

/** A tier purchase waiting for its group. */
interface Member {
  request: PurchaseRequest & { source: { kind: 'tier' } };
  queuedAt: number;
  settle(outcome: Promise<PurchaseOutcome>): void;
}

/** A row of `purchase_tickets_group`: the member it answers (from 1), then the purchase's row. */
type GroupRow = PurchaseRow & { member: number };

/**
 * Group commit for a hot tier: the purchases of one tier that arrive within one tick of the
 * event loop, or while that tier's previous group is at the database, are sent together as
 * one statement, the database's `purchase_tickets_group` (migration `purchase_group`), in
 * groups of at most `maxSize`. The tier's row is then updated once a group instead of once a
 * purchase, and each buyer still gets their own outcome.
 *
 * A group of one goes to `purchase_tickets` as before. A member the group function answers
 * `retryAlone` (only expired holds stand in its way) is sent alone, and so is every member
 * of a group whose statement failed in a way one member could cause, so that one bad member
 * fails only itself. When the failure says the database is unavailable (unreachable,
 * restarting, out of connections, past a statement deadline), every member is answered
 * SERVICE_UNAVAILABLE at once: resent alone, each would fail the same way, one statement
 * and one deadline a member. A lock cycle that outlasted its retries is not that: its
 * members are sent alone. One group per tier is at the database at a time: the next waits for it
 * (it would wait for the tier's row anyway), and each wait is bounded, at the database by
 * the statement's deadlines, here by `queueWaitMs`.
 */
export class PurchaseGroups {
  readonly #purchaseStatement: SendPrepared;
  readonly #alone: (request: PurchaseRequest) => Promise<PurchaseOutcome>;
  readonly #settings: PurchaseGroupSettings;
  /** The purchases waiting for each tier's next group (tier id and cap: one statement's). */
  readonly #queues = new Map<string, Member[]>();

  constructor(
    purchaseStatement: SendPrepared,
    alone: (request: PurchaseRequest) => Promise<PurchaseOutcome>,
    settings: PurchaseGroupSettings = defaultPurchaseGroupSettings,
  ) {
    this.#purchaseStatement = purchaseStatement;
    this.#alone = alone;
    this.#settings = settings;
  }

  /** Buys as `purchase_tickets` does, in the tier's next group. */
  purchase(request: Member['request']): Promise<PurchaseOutcome> {
    const { promise, resolve } = Promise.withResolvers<PurchaseOutcome>();
    const key = `${request.source.tierId}/${request.perUserCap}`;
    const queue = this.#queues.get(key);
    const member = { request, queuedAt: performance.now(), settle: resolve };
    if (queue) {
      queue.push(member);
    } else {
      // The first of a tier's purchases: the others of this tick join it before it is sent.
      this.#queues.set(key, [member]);
      setImmediate(() => void this.#drain(key));
    }
    return promise;
  }

  /** Sends the tier's queue, a group at a time, until it is empty. */
  async #drain(key: string): Promise<void> {
    for (;;) {
      const queue = this.#queues.get(key) ?? [];
      if (queue.length === 0) {
        this.#queues.delete(key);
        return;
      }
      const now = performance.now();
      const group: Member[] = [];
      for (const member of queue.splice(0, this.#settings.maxSize)) {
        if (now - member.queuedAt > this.#settings.queueWaitMs) {
          member.settle(Promise.reject(serviceUnavailable()));
        } else {
          group.push(member);
        }
      }
      await this.#send(group);
    }
  }

  async #send(group: Member[]): Promise<void> {
    if (group.length === 1) return this.#settle(group, [this.#alone((group[0] as Member).request)]);
    let rows: GroupRow[];
    try {
      rows = await this.#statement(group);
    } catch (error) {
      // The database is down, restarting or past a deadline: each purchase alone would fail
      // the same way, one statement (and one wait) a member. Every member gets the error at
      // once, which the server answers as SERVICE_UNAVAILABLE (and logs).
      if (isDatabaseUnavailable(error) && !isTransactionConflict(error)) {
        return this.#settle(
          group,
          group.map(() => Promise.reject(error)),
        );
      }
      // A failure one member may have caused, or a lock cycle that outlasted its retries:
      // each purchase alone, so that the one that caused it fails alone.
      return this.#settle(
        group,
        group.map((member) => this.#alone(member.request)),
      );
    }
    return this.#settle(
      group,
      group.map((member, index) => {
        const mine = rows.filter((row) => row.member === index + 1);
        return mine[0]?.outcome === 'retryAlone'
          ? this.#alone(member.request)
          : (async () => purchaseOutcome(member.request, mine))();
      }),
    );
  }

  /**
   * Gives each member its outcome, and waits for them all, so that the tier's next group
   * does not race a purchase of this one sent alone to the tier's row.
   */
  async #settle(group: Member[], outcomes: Promise<PurchaseOutcome>[]): Promise<void> {
    group.forEach((member, index) => {
      member.settle(outcomes[index] as Promise<PurchaseOutcome>);
    });
    await Promise.allSettled(outcomes);
  }

  #statement(group: Member[]): Promise<GroupRow[]> {
    const { tierId } = group[0]?.request.source ?? { tierId: '' };
    const column = <T>(pick: (request: PurchaseRequest) => T) =>
      group.map((member) => pick(member.request));
    const quantities = column((request) =>
      request.source.kind === 'tier' ? request.source.quantity : 0,
    );
    return retryOnConflict(() =>
      this.#purchaseStatement<GroupRow>({
        name: 'purchase_tickets_group',
        text: `SELECT g.member, ${purchaseColumns.map((column) => `(g.purchase).${column}`).join(', ')}
               FROM purchase_tickets_group(
                 $1::uuid, $2::uuid[], $3::text[], $4::text[], $5::int[], $6::int) g`,
        values: [
          tierId,
          column((r) => r.buyerId),
          column((r) => r.idempotencyKey),
          column((r) => r.requestHash),
          quantities,
          group[0]?.request.perUserCap,
        ],
      }),
    );
  }
}
