// Rows that only bookkeeping needs (delivered outbox messages, expired refresh tokens, idle
// login counters) are deleted once nothing reads them any more, so that a table's size
// follows what is live rather than the service's age. Each service names its own; every
// replica runs them, and the deletes skip rows another replica holds.
import type { Logger } from './logger.ts';

/** One kind of row that ages out: deletes at most `limit` rows of it, returns how many. */
export interface RetentionRule {
  name: string;
  deleteBatch(limit: number): Promise<number>;
}

/** Rows deleted by one statement: small enough that no delete holds locks for long. */
export const retentionBatchSize = 1_000;

/** How often the rules run: what ages out may stay this much longer than its bound. */
export const retentionIntervalMs = 60 * 60_000;

/**
 * Deletes what each rule allows, a batch at a time, until a batch comes back short.
 * Returns the rows deleted, by rule.
 */
export async function applyRetention(
  rules: readonly RetentionRule[],
  batchSize = retentionBatchSize,
): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const rule of rules) {
    let total = 0;
    for (;;) {
      const count = await rule.deleteBatch(batchSize);
      total += count;
      if (count < batchSize) break;
    }
    deleted[rule.name] = total;
  }
  return deleted;
}

/** What a schedule's runs log: when rows were handled, with `fields`, and when one failed. */
export interface RetentionLog {
  done: string;
  failed: string;
  fields(counts: Record<string, number>): Record<string, unknown>;
}

const retentionLog: RetentionLog = {
  done: 'deleted rows past their retention',
  failed: 'retention run failed',
  fields: (deleted) => ({ deleted }),
};

/**
 * Applies `rules` shortly after start and then every `intervalMs`, one run at a time. A run
 * that fails is logged, and the next one tries again; stop() waits for a run in progress.
 */
export class RetentionSchedule {
  readonly #rules: readonly RetentionRule[];
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #log: RetentionLog;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  /** `log`: what its runs log, the retention's wording unless the rules are another job's. */
  constructor(
    rules: readonly RetentionRule[],
    logger: Logger,
    intervalMs = retentionIntervalMs,
    log = retentionLog,
  ) {
    this.#rules = rules;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  start(firstRunMs = Math.min(60_000, this.#intervalMs)): void {
    this.#timer = setTimeout(() => {
      this.#run();
      this.#timer = setInterval(() => this.#run(), this.#intervalMs);
      this.#timer.unref();
    }, firstRunMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    await this.#running;
  }

  #run(): void {
    this.#running ??= applyRetention(this.#rules)
      .then((counts) => {
        if (Object.values(counts).some((count) => count > 0)) {
          this.#logger.info(this.#log.fields(counts), this.#log.done);
        }
      })
      .catch((error: unknown) => this.#logger.warn({ err: error }, this.#log.failed))
      .finally(() => {
        this.#running = undefined;
      });
  }
}
