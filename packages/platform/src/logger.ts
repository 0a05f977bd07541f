import { pino } from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs, one line an entry, tagged with the service's name. */
export function createLogger(service: string, level: pino.LevelWithSilent = 'info'): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime });
}
