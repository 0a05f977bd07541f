import { isSpanContextValid, trace } from '@opentelemetry/api';
import { pino } from 'pino';
import { currentRequestId } from './request-context.ts';

export type Logger = pino.Logger;

/**
 * Structured JSON logs, one line an entry, tagged with the service's name; to standard
 * output unless `destination` is given. A line written while a request is handled carries
 * its `requestId` (and, when tracing is on, its `traceId`), without a logger being passed
 * down to wherever the line is written.
 */
export function createLogger(
  service: string,
  level: pino.LevelWithSilent = 'info',
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      // ioredis puts a failed command's arguments on its error: an AUTH's are the password,
      // others hold keys and values. The command's name is kept. @apollo/gateway puts a
      // subgraph's HTTP error answer on its error: a page of any size, which a proxy may
      // have written with the request in it, variables and all. Its status and URL are kept.
      redact: {
        paths: ['err.command.args', 'err.extensions.response.body'],
        censor: '[redacted]',
      },
      // Runs only for lines that are written, never for those below the level.
      mixin() {
        const fields: { requestId?: string; traceId?: string } = {};
        const requestId = currentRequestId();
        if (requestId) fields.requestId = requestId;
        const span = trace.getActiveSpan()?.spanContext();
        if (span && isSpanContextValid(span)) fields.traceId = span.traceId;
        return fields;
      },
    },
    destination ?? pino.destination(1),
  );
}

/** What a task on a timer logs of its failures; see `failureLog`. */
export interface FailureLog {
  /** A run failed: logged at warn if the run before it did not fail. */
  failed(error: unknown, fields?: Record<string, unknown>): void;
  /** A run worked: logged, with how many failed before it, if the run before it failed. */
  worked(): void;
}

/**
 * The failures of a task on a timer (the hold sweeper, the outbox relay, the refund sender),
 * logged once, not once a run: the first failure at warn as `failedMessage`, then nothing
 * while it keeps failing, then `workedMessage` once a run works again. A database gone
 * read-only or refusing connections for minutes otherwise wrote a line a run, one a second
 * for the hold sweeper.
 */
export function failureLog(
  logger: Logger,
  failedMessage: string,
  workedMessage: string,
): FailureLog {
  let failures = 0;
  return {
    failed(error, fields = {}) {
      failures += 1;
      if (failures === 1) logger.warn({ err: error, ...fields }, failedMessage);
    },
    worked() {
      if (failures === 0) return;
      logger.info({ failures }, workedMessage);
      failures = 0;
    },
  };
}

/** The most of a value a client chose (a path, an operation's name, an alias) a log line keeps. */
export const loggedValueLength = 256;

/**
 * `value`, a client's, cut at `loggedValueLength` characters (with `…` when cut): a log line
 * stays of bounded size, whatever the client sent, up to the size of a document or a head.
 */
export function cutForLog(value: string): string {
  return value.length > loggedValueLength ? `${value.slice(0, loggedValueLength)}…` : value;
}

/** A response path, each alias in it cut as `cutForLog` cuts a value. */
export function cutPathForLog(
  path: readonly (string | number)[] | undefined,
): (string | number)[] | undefined {
  return path?.map((key) => (typeof key === 'string' ? cutForLog(key) : key));
}

/** What Apollo Server and Apollo Gateway take as their `logger`. */
export interface ApolloLogger {
  debug(message?: unknown): void;
  info(message?: unknown): void;
  warn(message?: unknown): void;
  error(message?: unknown): void;
}

/**
 * `logger` as Apollo Server's and Apollo Gateway's `logger`: their own messages (a plugin
 * that threw, a store that failed, the gateway's schema and plan) are lines of the
 * service's log, with the request's id when written while it is handled. Without it, each
 * writes plain text to the console, whatever LOG_LEVEL says. Their warnings and errors keep
 * their level; their info and debug are debug lines, as Apollo's own logger keeps only
 * warnings and errors: a gateway's "successfully loaded schema" is no line at LOG_LEVEL=info,
 * where a start that fails writes one line, its reason.
 */
export function apolloLogger(logger: Logger): ApolloLogger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message?: unknown): void => {
      if (message instanceof Error) logger[level]({ err: message }, message.message);
      else logger[level](String(message));
    };
  return { debug: at('debug'), info: at('debug'), warn: at('warn'), error: at('error') };
}
