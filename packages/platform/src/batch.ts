import { isUuid } from './errors.ts';

/**
 * Orders rows fetched by `WHERE id IN (...)` as the ids were asked for, with `null` where
 * no row matched: the shape a DataLoader batch function must return.
 */
export function inRequestedOrder<Row>(
  ids: readonly string[],
  rows: readonly Row[],
  idOf: (row: Row) => string,
): (Row | null)[] {
  const byId = new Map(rows.map((row) => [idOf(row), row]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The ids worth querying: well-formed UUIDs, each once. */
export function queryableIds(ids: readonly string[]): string[] {
  return [...new Set(ids.filter(isUuid))];
}
