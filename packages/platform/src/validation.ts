import type { z } from 'zod';
import { badUserInput } from './errors.ts';

/**
 * Parses input with a zod schema, or fails with BAD_USER_INPUT naming the first offending
 * field (prefixed with `fieldPrefix`, e.g. "input"). Nothing is written before this passes.
 */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  fieldPrefix = '',
): z.infer<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue?.path.join('.') ?? '';
  const field = [fieldPrefix, path].filter(Boolean).join('.') || undefined;
  throw badUserInput(`${field ? `${field}: ` : ''}${issue?.message ?? 'invalid input'}`, field);
}

/** The most items a page may hold: `first` is capped in every subgraph, whatever the gateway allows. */
export const maxPageSize = 100;

/** A connection's `first` argument, or BAD_USER_INPUT outside 0 to maxPageSize. */
export function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0 || first > maxPageSize) {
    throw badUserInput(`\`first\` must be between 0 and ${maxPageSize}.`, 'first');
  }
  return first;
}
