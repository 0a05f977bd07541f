import { type FailureLog, failureLog, type Logger } from '@ticketing/platform';
import type { RefundService } from '../services/RefundService.ts';

/**
 * Sends, on a timer, the refunds the payment provider has not accepted yet: those whose
 * sending failed after their refund was committed (a provider away, a process stopped
 * between the two). Each goes with its refund's id as the idempotency key, so a refund
 * sent twice is refunded once.
 */
export class RefundSender {
  readonly #refunds: RefundService;
  readonly #logger: Logger;
  readonly #failures: FailureLog;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  /** Asked to send while sending: once more after it. */
  #again = false;
  #stopped = false;

  constructor(refunds: RefundService, logger: Logger, intervalMs: number) {
    this.#refunds = refunds;
    this.#logger = logger;
    this.#failures = failureLog(
      logger,
      'could not send refunds; trying again each run, and saying so once it works',
      'refunds are sent again',
    );
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#timer = setInterval(() => this.sendNow(), this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Sends the unsent refunds now, in the background: the caller (an event's cancellation
   * being acknowledged to the outbox relay) does not wait for the payment provider. One
   * sending at a time; asked during one, it sends once more after it, for what came since.
   */
  sendNow(): void {
    if (this.#stopped) return;
    if (this.#sending) {
      this.#again = true;
      return;
    }
    this.#sending = this.#sendUnsent().finally(() => {
      this.#sending = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        this.sendNow();
      }
    });
  }

  async #sendUnsent(): Promise<void> {
    try {
      const { sent, failed } = await this.#refunds.send();
      this.#failures.worked();
      if (sent > 0) this.#logger.info({ sent }, 'sent refunds to the payment provider');
      if (failed > 0) this.#logger.warn({ failed }, 'the payment provider refused refunds');
    } catch (error) {
      this.#failures.failed(error);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#sending;
  }
}
