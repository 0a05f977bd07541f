import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON logs, one line an entry, tagged with the service's name; to standard
 * output unless `destination` is given.
 */
export function createLogger(
  service: string,
  level: pino.LevelWithSilent = 'info',
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    { level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination(1),
  );
}
