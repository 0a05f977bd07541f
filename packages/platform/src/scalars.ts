import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';

/**
 * A malformed input value (a scalar the caller wrote wrong). Thrown by parsers, so that
 * the error graphql-js builds around it can be answered as BAD_USER_INPUT.
 */
export class InvalidInputValue extends Error {
  override name = 'InvalidInputValue';
}

/** Years a DateTime may fall in: what PostgreSQL and every client can represent. */
const yearRange = { min: 1, max: 9999 } as const;

/** Whether `date` is a real instant within the years a DateTime may fall in. */
export function isStorableDate(date: Date): boolean {
  const year = date.getUTCFullYear();
  return !Number.isNaN(date.getTime()) && year >= yearRange.min && year <= yearRange.max;
}

/** Parses a DateTime, or throws InvalidInputValue saying what is wrong with it. */
function parseDateTime(value: unknown): Date {
  let date: Date;
  try {
    date = DateTimeResolver.parseValue(value) as Date;
  } catch {
    throw new InvalidInputValue(
      'A DateTime must be an ISO 8601 date-time with an offset, e.g. 2027-05-01T19:30:00Z.',
    );
  }
  if (!isStorableDate(date)) {
    throw new InvalidInputValue(
      `A DateTime must fall in the years ${yearRange.min} to ${yearRange.max}.`,
    );
  }
  return date;
}

function literalOf(ast: ValueNode): unknown {
  return ast.kind === Kind.STRING ? ast.value : undefined;
}

/**
 * ISO 8601 date-times (graphql-scalars' DateTime), within the years 1 to 9999. A value
 * outside them, or not a date-time at all, is the caller's error, never a database one.
 */
export const DateTime = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(literalOf(ast)),
});

/**
 * The same checks for a scalar the gateway only passes on: the value is checked, and
 * forwarded to the subgraph as the caller wrote it.
 */
export const checkedDateTime = {
  parseValue(value: unknown) {
    parseDateTime(value);
    return value;
  },
  parseLiteral(ast: ValueNode) {
    parseDateTime(literalOf(ast));
    return literalOf(ast);
  },
};

/** Whole numbers within ±(2^53 − 1), as JSON numbers: sums that outgrow a 32-bit Int. */
export const SafeInt = SafeIntResolver;
