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
