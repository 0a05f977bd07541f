import { isUuid } from './errors.ts';
import { canonicalId } from './ids.ts';

/**
 * Orders rows fetched by `WHERE id IN (...)` as the ids were asked for, with `null` where
 * no row matched: the shape a DataLoader batch function must return. A UUID's hex digits
 * are case-insensitive (RFC 9562): PostgreSQL matches an id asked in capitals and returns
 * it in lower case, so ids are compared in lower case.
 */
export function inRequestedOrder<Row>(
  ids: readonly string[],
  rows: readonly Row[],
  idOf: (row: Row) => string,
): (Row | null)[] {
  const byId = new Map(rows.map((row) => [idOf(row).toLowerCase(), row]));
  return ids.map((id) => byId.get(id.toLowerCase()) ?? null);
}

/** The ids worth querying: well-formed UUIDs, each once, in lower case. */
export function queryableIds(ids: readonly string[]): string[] {
  return [...new Set(ids.filter(isUuid).map(canonicalId))];
}
