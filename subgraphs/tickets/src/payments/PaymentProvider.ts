// The seam to a payment provider. No provider is wired in yet: the offline one records what
// a real one would be asked to do. Adding a real provider means one module that implements
// `PaymentProvider`, chosen in subgraph.ts; nothing else changes.
import type { PrismaClient } from '@ticketing/prisma/tickets';

/** Money to give back for a refund recorded in the `refunds` table. */
export interface RefundInstruction {
  /**
   * The refund's id: the provider must do each key's work at most once, since a refund is
   * sent again when an earlier attempt's answer was lost.
   */
  idempotencyKey: string;
  orderId: string;
  amountCents: number;
  /** ISO 4217 code. */
  currency: string;
}

export interface PaymentProvider {
  /** Short name, for the logs. */
  readonly name: string;
  /**
   * Asks for the refund; resolves with the provider's reference once it has accepted it.
   * `signal` aborts when the caller stops waiting (RefundService's deadline): the refund
   * stays unsent, and is sent again under the same key.
   */
  refund(
    instruction: RefundInstruction,
    options?: { signal?: AbortSignal },
  ): Promise<{ reference: string }>;
}

/**
 * Moves no money: writes each instruction to `payment_instructions`, once per idempotency
 * key, which is what a real provider would receive; its reference is the key.
 */
export class OfflinePaymentProvider implements PaymentProvider {
  readonly name = 'offline';
  readonly #prisma: PrismaClient;

  constructor(prisma: PrismaClient) {
    this.#prisma = prisma;
  }

  async refund(instruction: RefundInstruction): Promise<{ reference: string }> {
    await this.#prisma.paymentInstruction.createMany({
      data: [{ kind: 'REFUND', ...instruction }],
      skipDuplicates: true,
    });
    return { reference: `offline:${instruction.idempotencyKey}` };
  }
}
