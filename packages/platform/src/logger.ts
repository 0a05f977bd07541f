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
