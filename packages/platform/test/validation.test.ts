import type { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseInput } from '../src/validation.ts';

/** The BAD_USER_INPUT error parseInput throws, as the client sees its message and extensions. */
function refusal(schema: z.ZodType, input: unknown, prefix = 'input') {
  try {
    parseInput(schema, input, prefix);
  } catch (error) {
    const { message, extensions } = error as GraphQLError;
    return { message, extensions };
  }
  throw new Error('the input was accepted');
}

const tier = z.object({
  name: z.string().trim().min(1).max(100),
  capacity: z.number().int().min(0).max(1_000_000),
  email: z.email(),
  kind: z.enum(['A', 'B']),
  tags: z.array(z.string().min(3)).optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR')
    .optional(),
});
const valid = { name: 'Floor', capacity: 10, email: 'ada@example.com', kind: 'A' };

describe('parseInput', () => {
  it.each([
    [{ capacity: -1 }, 'input.capacity', 'input.capacity must be at least 0.'],
    [{ capacity: 2_000_000 }, 'input.capacity', 'input.capacity must be at most 1000000.'],
    [{ capacity: 1.5 }, 'input.capacity', 'input.capacity must be a whole number.'],
    [{ name: '  ' }, 'input.name', 'input.name must not be empty.'],
    [{ name: 'x'.repeat(101) }, 'input.name', 'input.name must be at most 100 characters.'],
    [
      { email: 'nope' },
      'input.email',
      'input.email must be an email address, such as ada@example.com.',
    ],
    [{ kind: 'C' }, 'input.kind', 'input.kind must be one of A, B.'],
    [{ tags: ['ok!', 'no'] }, 'input.tags.1', 'input.tags.1 must be at least 3 characters.'],
    [
      { currency: 'euro' },
      'input.currency',
      'input.currency must be an ISO 4217 code such as EUR.',
    ],
  ])('names the field and says why, in plain words: %j', (change, field, message) => {
    expect(refusal(tier, { ...valid, ...change })).toEqual({
      message,
      extensions: { code: 'BAD_USER_INPUT', field },
    });
  });

  it('says a missing field is required, and keeps a sentence a schema chose', () => {
    const { capacity: _, ...withoutCapacity } = valid;
    expect(refusal(tier, withoutCapacity).message).toBe('input.capacity is required.');
    const either = z.object({ a: z.string().optional() }).refine((value) => value.a, {
      message: 'Give a to change.',
    });
    expect(refusal(either, {})).toEqual({
      message: 'Give a to change.',
      extensions: { code: 'BAD_USER_INPUT', field: 'input' },
    });
  });
});
