import type { z } from 'zod';
import { badUserInput } from './errors.ts';

/**
 * Parses input with a zod schema, or fails with BAD_USER_INPUT naming the first offending
 * field and saying what it must be, in plain words: "input.capacity must be at least 0."
 * `extensions.field` is the field's path from the operation's argument, dot-separated
 * (`fieldPrefix`, e.g. "input", then the path inside it, list positions as numbers): the
 * one convention for every field an error names. Nothing is written before this passes.
 */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  fieldPrefix = '',
): z.infer<Schema> {
  // A message a schema sets itself wins over this map (zod's precedence).
  const result = schema.safeParse(input, { error: plainWords });
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue?.path.map(String).join('.') ?? '';
  const field = [fieldPrefix, path].filter(Boolean).join('.') || undefined;
  throw badUserInput(sentence(field, issue?.message ?? 'is not valid'), field);
}

/** "input.name must not be empty." A reason that is a sentence of its own stands alone. */
export function sentence(field: string | undefined, reason: string): string {
  if (/^[A-Z]/.test(reason)) return reason;
  return `${field ?? 'The input'} ${reason}${reason.endsWith('.') ? '' : '.'}`;
}

const units: Record<string, string> = { string: ' characters', array: ' items', set: ' items' };

/** What a value must be, for zod's built-in checks, phrased to follow the field's name. */
function plainWords(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'too_small': {
      const unit = units[issue.origin] ?? '';
      if (unit && Number(issue.minimum) === 1) return 'must not be empty';
      return `must be ${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}${unit}`;
    }
    case 'too_big': {
      const unit = units[issue.origin] ?? '';
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}${unit}`;
    }
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return issue.expected === 'int' ? 'must be a whole number' : `must be a ${issue.expected}`;
    case 'invalid_format':
      return issue.format === 'email'
        ? 'must be an email address, such as ada@example.com'
        : `must be a valid ${issue.format}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
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
