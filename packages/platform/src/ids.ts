import {
  defaultFieldResolver,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
  getNullableType,
  isInputObjectType,
  isListType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { isUuid } from './errors.ts';

/**
 * An id as the services compare it: a UUID in lower case (its hex digits are case-insensitive
 * on input, RFC 9562, and PostgreSQL returns them in lower case), anything else as given,
 * for the NOT_FOUND that names it.
 */
export function canonicalId(id: string): string {
  return isUuid(id) ? id.toLowerCase() : id;
}

const isId = (type: unknown) => isScalarType(type) && type.name === 'ID';

/** Whether a value of `type` can hold an ID anywhere, through lists and input objects. */
function holdsIds(type: GraphQLInputType, seen = new Set<GraphQLInputType>()): boolean {
  const inner = getNullableType(type);
  if (isListType(inner)) return holdsIds(inner.ofType, seen);
  if (isId(inner)) return true;
  if (!isInputObjectType(inner) || seen.has(inner)) return false;
  seen.add(inner);
  return Object.values(inner.getFields()).some((field) => holdsIds(field.type, seen));
}

/** `value` (coerced to `type`) with every ID in it canonical. */
function canonicalValue(type: GraphQLInputType, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  const inner = getNullableType(type);
  if (isListType(inner)) {
    return Array.isArray(value)
      ? value.map((item) => canonicalValue(inner.ofType, item))
      : canonicalValue(inner.ofType, value);
  }
  if (isId(inner)) return typeof value === 'string' ? canonicalId(value) : value;
  if (!isInputObjectType(inner) || typeof value !== 'object') return value;
  const fields = inner.getFields();
  return Object.fromEntries(
    Object.entries(value).map(([name, field]) => [
      name,
      fields[name] ? canonicalValue(fields[name].type, field) : field,
    ]),
  );
}

function canonicalArguments(
  args: readonly GraphQLArgument[],
  values: Record<string, unknown>,
): Record<string, unknown> {
  const canonical = { ...values };
  for (const arg of args) {
    if (arg.name in canonical) canonical[arg.name] = canonicalValue(arg.type, canonical[arg.name]);
  }
  return canonical;
}

/** Where `buildSubgraphSchema` records a type's `__resolveReference`. */
type ResolveReference = (reference: unknown, context: unknown, info: unknown) => unknown;
interface SubgraphTypeExtensions {
  apollo?: { subgraph?: { resolveReference?: ResolveReference } };
}

/**
 * Makes every ID a resolver receives canonical (`canonicalId`), in place: field arguments
 * (in lists and input objects too) and the key fields of entity references that `_entities`
 * hands to `__resolveReference`. Normalised here, at the schema, so that no resolver or
 * service compares an id asked in capitals with one read from the database and finds them
 * different.
 */
export function withCanonicalIds(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const fields = type.getFields();
    for (const field of Object.values(fields)) {
      const idArgs = field.args.filter((arg) => holdsIds(arg.type));
      if (idArgs.length === 0) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) =>
        resolve(source, canonicalArguments(idArgs, args), context, info);
    }
    const extensions = type.extensions as SubgraphTypeExtensions;
    const resolveReference = extensions.apollo?.subgraph?.resolveReference;
    if (!resolveReference) continue;
    const keys = Object.values(fields).filter((field) => isId(getNullableType(field.type)));
    const subgraph = { ...extensions.apollo?.subgraph };
    subgraph.resolveReference = (reference: unknown, context: unknown, info: unknown) => {
      const canonical = { ...(reference as Record<string, unknown>) };
      for (const key of keys) {
        const value = canonical[key.name];
        if (typeof value === 'string') canonical[key.name] = canonicalId(value);
      }
      return resolveReference(canonical, context, info);
    };
    type.extensions = { ...type.extensions, apollo: { ...extensions.apollo, subgraph } };
  }
  return schema;
}
