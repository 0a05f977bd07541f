import { type FailureLog, failureLog, type Logger } from '@ticketing/platform';
import type { PurchaseRepository } from './repositories/PurchaseRepository.ts';

/**
 * Returns expired holds' stock on a timer, so that it comes back without any request.
 * (Purchases and new holds also expire their tier's holds first, so they never wait for it.)
 */
export class HoldSweeper {
  readonly #purchases: PurchaseRepository;
  readonly #logger: Logger;
  readonly #failures: FailureLog;
  readonly #intervalMs: number;
  readonly #onReturned: () => Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    purchases: PurchaseRepository,
    logger: Logger,
    intervalMs: number,
    /** Called after stock came back, e.g. to invalidate cached availability. */
    onReturned: () => Promise<void> = async () => {},
  ) {
    this.#purchases = purchases;
    this.#logger = logger;
    this.#failures = failureLog(
      logger,
      'could not expire holds; trying again each run, and saying so once it works',
      'holds expire again',
    );
    this.#intervalMs = intervalMs;
    this.#onReturned = onReturned;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#running ??= this.#purchases
        .expireHolds()
        .then(async (returned) => {
          this.#failures.worked();
          if (!returned) return;
          this.#logger.debug('returned expired holds to stock');
          await this.#onReturned();
        })
        .catch((error: unknown) => this.#failures.failed(error))
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}
