import { buildSubgraphSchema } from '@apollo/subgraph';
import { execute, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { canonicalId, withCanonicalIds } from '../src/ids.ts';

const upper = '0B2F5C9E-3D4A-4F6B-8C7D-9E0A1B2C3D4E';
const lower = upper.toLowerCase();

describe('canonicalId', () => {
  it('writes a UUID in lower case', () => {
    expect(canonicalId(upper)).toBe(lower);
    expect(canonicalId(lower)).toBe(lower);
  });

  it('leaves what is not a UUID as given, for the error that names it', () => {
    expect(canonicalId('Not-A-UUID')).toBe('Not-A-UUID');
    expect(canonicalId(`${upper}X`)).toBe(`${upper}X`);
  });
});

describe('withCanonicalIds', () => {
  const typeDefs = parse(/* GraphQL */ `
    input Pick {
      id: ID!
      ids: [ID!]
      label: String
      nested: Pick
    }
    type Thing @key(fields: "id") {
      id: ID!
      seen: String
    }
    type Query {
      one(id: ID!, label: String): String
      many(ids: [ID!]): String
      input(pick: Pick!): String
      plain(label: String): String
    }
  `);
  const echo = (_: unknown, args: unknown) => JSON.stringify(args);
  const schema = withCanonicalIds(
    buildSubgraphSchema([
      {
        typeDefs,
        resolvers: {
          Query: { one: echo, many: echo, input: echo, plain: echo },
          Thing: {
            __resolveReference: (reference: { id: string }) => ({
              id: reference.id,
              seen: reference.id,
            }),
          },
        },
      },
    ]),
  );
  const run = async (source: string, variableValues?: Record<string, unknown>) =>
    (await execute({ schema, document: parse(source), variableValues })).data;

  it('lower-cases an ID argument, and leaves other arguments as given', async () => {
    const data = await run(`{ one(id: "${upper}", label: "${upper}") }`);
    expect(JSON.parse(data?.one as string)).toEqual({ id: lower, label: upper });
  });

  it('lower-cases each ID of a list, given as variables', async () => {
    const data = await run('query ($ids: [ID!]) { many(ids: $ids) }', { ids: [upper, 'x'] });
    expect(JSON.parse(data?.many as string)).toEqual({ ids: [lower, 'x'] });
  });

  it('lower-cases IDs inside input objects, nested too', async () => {
    const pick = { id: upper, ids: [upper], label: upper, nested: { id: upper } };
    const data = await run('query ($pick: Pick!) { input(pick: $pick) }', { pick });
    expect(JSON.parse(data?.input as string)).toEqual({
      pick: { id: lower, ids: [lower], label: upper, nested: { id: lower } },
    });
  });

  it('leaves fields without ID arguments alone', async () => {
    const data = await run(`{ plain(label: "${upper}") }`);
    expect(JSON.parse(data?.plain as string)).toEqual({ label: upper });
  });

  it('hands __resolveReference the key in lower case', async () => {
    const data = await run(
      'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Thing { id seen } } }',
      { r: [{ __typename: 'Thing', id: upper }] },
    );
    expect(data?._entities).toEqual([{ id: lower, seen: lower }]);
  });
});
