import {
  deliveryBatches,
  type FailureLog,
  failureLog,
  type Logger,
  maxDeliveryBytes,
  outboxRelayMetrics,
  type RetentionRule,
  signDelivery,
} from '@ticketing/platform';
import type { PrismaClient } from '@ticketing/prisma/events';
import { z } from 'zod';

export interface OutboxDelivery {
  sequence: string;
  topic: string;
  eventId: string;
  payload: unknown;
}

/**
 * The consumer's answer (422) when it refused some messages of a batch, as changes it cannot
 * apply: the others are applied, and only the refused ones stay undelivered.
 */
const partialDeliverySchema = z.object({
  applied: z.array(z.string()),
  refused: z.array(z.object({ sequence: z.string(), reason: z.string() })),
});

/** How long a delivered message is kept, for an operator tracing a change, before it is deleted. */
export const deliveredMessageKeptDays = 7;

/** Delivered messages older than `days`, deleted a batch at a time; undelivered ones stay. */
export function deliveredMessagesRetention(
  prisma: PrismaClient,
  days = deliveredMessageKeptDays,
): RetentionRule {
  return {
    name: 'delivered outbox messages',
    deleteBatch: (limit) => prisma.$executeRaw`
      DELETE FROM outbox_messages WHERE sequence IN (
        SELECT sequence FROM outbox_messages
        WHERE delivered_at < now() - make_interval(days => ${days})
        ORDER BY sequence
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)`,
  };
}

/** How long a refused message waits before it is sent again, at most. */
const maxRefusedWaitSeconds = 300;

export interface RelaySettings {
  /** The consumer's endpoint: the tickets service's /internal/event-changes. */
  url: string;
  /** Shared with the consumer, which refuses unsigned deliveries. */
  secret: string;
  intervalMs?: number;
  batchSize?: number;
  /**
   * How long a claimed batch is this relay's before another may take it over: longer than
   * a delivery can take (5 s), and short, because it is also how long a batch waits after
   * its relay died mid-delivery.
   */
  claimSeconds?: number;
}

/**
 * Delivers outbox messages to the tickets service, at least once and in sequence order.
 * A batch is claimed with a lease (one statement, SKIP LOCKED, so that several relays
 * never deliver the same rows at once), sent, and marked delivered only after the
 * consumer acknowledged it. A crash anywhere leaves undelivered rows in the table; their
 * lease runs out and the next pass sends them again. The consumer applies each change
 * once, by version, so a repeat is harmless.
 */
export class OutboxRelay {
  readonly #prisma: PrismaClient;
  readonly #settings: Required<RelaySettings>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  /** Set by stop(): a pass in progress ends after its batch in flight. */
  #stopping = false;
  #failures = 0;
  readonly #failureLog: FailureLog;

  constructor(prisma: PrismaClient, settings: RelaySettings, logger: Logger) {
    this.#prisma = prisma;
    this.#settings = { intervalMs: 500, batchSize: 100, claimSeconds: 10, ...settings };
    this.#logger = logger;
    this.#failureLog = failureLog(
      logger,
      'outbox delivery failed; retrying with backoff, and saying so once it works',
      'outbox delivers again',
    );
  }

  start(): void {
    this.#stopped = false;
    this.#stopping = false;
    this.#schedule(0);
  }

  /** A change was just committed: deliver it now rather than at the next tick. */
  notify(): void {
    if (!this.#stopped && !this.#running) this.#schedule(0);
  }

  /**
   * Stops, waiting for the batch in flight (its delivery has a 5 s deadline), not for the
   * rest of a backlog: what is left stays in the outbox, unclaimed, for the next relay.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * One pass: claims, sends and acknowledges batches until none is left, or the relay is
   * stopping. Returns how many.
   */
  async deliverPending(): Promise<number> {
    let delivered = 0;
    while (!this.#stopping) {
      const claimed = await this.#claim();
      if (claimed.length === 0) return delivered;
      // Each delivery within what the consumer reads; a message too large even alone is kept
      // as a refused one would be, not sent to be refused (413) on every pass.
      const { batches, oversized } = deliveryBatches(claimed);
      for (const [index, batch] of batches.entries()) {
        // Stopping: the rest goes back to the outbox for the next relay.
        if (this.#stopping) {
          await this.#handBack(batches.slice(index).flat());
          return delivered;
        }
        let refused: Map<string, string>;
        try {
          refused = await this.#send(batch);
        } catch (error) {
          // Hand back this delivery and those after it at once, so that the retry need not
          // wait out the lease.
          await this.#handBack(batches.slice(index).flat());
          throw error;
        }
        const applied = batch
          .filter((message) => !refused.has(message.sequence))
          .map((message) => BigInt(message.sequence));
        await this.#prisma.outboxMessage.updateMany({
          where: { sequence: { in: applied } },
          data: { deliveredAt: new Date(), claimedUntil: null },
        });
        if (refused.size > 0) await this.#keepRefused(batch, refused);
        outboxRelayMetrics().delivered.inc(applied.length);
        outboxRelayMetrics().refused.inc(refused.size);
        delivered += applied.length;
      }
      if (oversized.length > 0) {
        const reason = `larger than a delivery may be (${maxDeliveryBytes} bytes)`;
        await this.#keepRefused(
          oversized,
          new Map(oversized.map((message) => [message.sequence, reason])),
        );
        outboxRelayMetrics().refused.inc(oversized.length);
      }
    }
    return delivered;
  }

  /** Claimed messages not sent, unclaimed at once for the next pass or relay. */
  async #handBack(messages: OutboxDelivery[]): Promise<void> {
    await this.#prisma.outboxMessage.updateMany({
      where: { sequence: { in: messages.map((message) => BigInt(message.sequence)) } },
      data: { claimedUntil: null },
    });
  }

  /**
   * Messages the consumer refused as changes it cannot apply stay in the outbox, undelivered:
   * nothing is lost, and an operator sees each at error level with its reason. They are out
   * of the way of the messages behind them (which the version of each snapshot keeps in
   * order), and are sent again after a wait that grows with their attempts, up to 5 minutes.
   */
  async #keepRefused(batch: OutboxDelivery[], refused: Map<string, string>): Promise<void> {
    const sequences = [...refused.keys()].map(BigInt);
    const kept = await this.#prisma.$queryRaw<{ sequence: bigint; attempts: number }[]>`
      UPDATE outbox_messages
      SET claimed_until = now() + make_interval(secs => least(${this.#settings.claimSeconds} * attempts, ${maxRefusedWaitSeconds}))
      WHERE sequence = ANY(${sequences}::bigint[]) AND delivered_at IS NULL
      RETURNING sequence, attempts`;
    for (const { sequence, attempts } of kept) {
      const message = batch.find((candidate) => candidate.sequence === sequence.toString());
      this.#logger.error(
        {
          sequence: sequence.toString(),
          topic: message?.topic,
          eventId: message?.eventId,
          attempts,
          reason: refused.get(sequence.toString()),
        },
        'outbox message refused by the consumer; kept undelivered and sent again later',
      );
    }
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    try {
      const delivered = await this.deliverPending();
      if (delivered > 0) this.#logger.debug({ delivered }, 'outbox delivered');
      this.#failures = 0;
      this.#failureLog.worked();
    } catch (error) {
      this.#failures += 1;
      outboxRelayMetrics().failures.inc();
      this.#failureLog.failed(error);
    }
    if (this.#stopped) return;
    // Back off while the consumer is unreachable: 0.5 s, 1 s, 2 s … at most 10 s.
    const backoff = Math.min(this.#settings.intervalMs * 2 ** this.#failures, 10_000);
    this.#schedule(this.#failures > 0 ? backoff : this.#settings.intervalMs);
  }

  async #claim(): Promise<OutboxDelivery[]> {
    const { claimSeconds, batchSize } = this.#settings;
    const rows = await this.#prisma.$queryRaw<
      { sequence: bigint; topic: string; event_id: string; payload: unknown }[]
    >`
      UPDATE outbox_messages
      SET claimed_until = now() + make_interval(secs => ${claimSeconds}), attempts = attempts + 1
      WHERE sequence IN (
        SELECT sequence FROM outbox_messages
        WHERE delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
        ORDER BY sequence
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED
      )
      RETURNING sequence, topic, event_id::text, payload`;
    return rows
      .toSorted((a, b) => (a.sequence < b.sequence ? -1 : 1))
      .map((row) => ({
        sequence: row.sequence.toString(),
        topic: row.topic,
        eventId: row.event_id,
        payload: row.payload,
      }));
  }

  /** Sends a batch; returns the messages the consumer refused, with why. */
  async #send(batch: OutboxDelivery[]): Promise<Map<string, string>> {
    const body = JSON.stringify({ messages: batch });
    const timestamp = String(Date.now());
    const response = await fetch(this.#settings.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-relay-timestamp': timestamp,
        'x-relay-signature': signDelivery(this.#settings.secret, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status === 422) {
      const answer = partialDeliverySchema.safeParse(await response.json().catch(() => null));
      if (!answer.success)
        throw new Error('the consumer answered 422 without saying what it applied');
      const applied = new Set(answer.data.applied);
      const reasons = new Map(answer.data.refused.map((entry) => [entry.sequence, entry.reason]));
      // Whatever the consumer did not say it applied is kept.
      return new Map(
        batch
          .filter((message) => !applied.has(message.sequence))
          .map((message) => [message.sequence, reasons.get(message.sequence) ?? 'not applied']),
      );
    }
    if (!response.ok) {
      throw new Error(`the consumer answered ${response.status}`);
    }
    return new Map();
  }
}
