import { ApolloServer } from '@apollo/server';
import { describe, expect, it } from 'vitest';
import { inputHygienePlugin } from '../src/input-hygiene.ts';

const typeDefs = /* GraphQL */ `
  input Filter {
    city: String
  }
  type Query {
    count(filter: Filter): Int
  }
`;

/** The status and result of sending `query` twice to one server with the plugin. */
async function answersTwice(query: string) {
  const server = new ApolloServer({
    typeDefs,
    resolvers: { Query: { count: () => 1 } },
    plugins: [inputHygienePlugin()],
  });
  await server.start();
  try {
    const answers = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await server.executeOperation({ query });
      const result = response.body.kind === 'single' ? response.body.singleResult : undefined;
      answers.push({ status: response.http.status, result });
    }
    return answers;
  } finally {
    await server.stop();
  }
}

// Apollo Server reuses a parsed document for the same text; the plugin remembers what it
// found in each, and must answer the second request as it answered the first.
describe('the input hygiene plugin', () => {
  it('refuses a NUL written in the document every time the document comes', async () => {
    for (const { status, result } of await answersTwice(
      '{ count(filter: { city: "Lis\\u0000bon" }) }',
    )) {
      expect(status).toBe(400);
      expect(result?.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'filter.city',
      });
    }
  });

  it('lets a document without a NUL through every time', async () => {
    for (const { result } of await answersTwice('{ count(filter: { city: "Lisbon" }) }')) {
      expect(result?.errors).toBeUndefined();
      expect(result?.data).toEqual({ count: 1 });
    }
  });
});
