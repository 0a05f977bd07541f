import { eventsDatabase } from '../events/index.ts';
import { ticketsDatabase } from '../tickets/index.ts';
import { usersDatabase } from '../users/index.ts';

/** Every service's database, for the scripts that act on all of them. */
export const databases = [usersDatabase, eventsDatabase, ticketsDatabase] as const;

/** The databases named on the command line, or all of them. */
export function selectDatabases(names: string[]) {
  if (names.length === 0) return databases;
  return names.map((name) => {
    const found = databases.find((database) => database.name === name);
    if (!found) {
      throw new Error(
        `Unknown service "${name}": expected one of ${databases.map((d) => d.name).join(', ')}`,
      );
    }
    return found;
  });
}
