import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { type DocumentNode, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { readCommittedSupergraph } from '../src/compose.ts';
import { HeapBoundedCache, heapWeight } from '../src/heap-weight.ts';
import { CountingQueryPlanCache } from '../src/plan-cache.ts';
import { documentStore } from '../src/server.ts';

/** A new operation for every index, as P5b sends them: its own name, aliases and fields. */
function uniqueOperation(index: number): string {
  const tag = index.toString(36);
  const fields = ['title', 'venue', 'city', 'startsAt', 'status', 'ticketsAvailable'];
  const mask = (index % 63) + 1;
  const selected = fields
    .filter((_, bit) => mask & (1 << bit))
    .map((field, position) => `f${tag}_${position}: ${field}`);
  return `query Soak_${tag}($first: Int!) { e${tag}: events(first: $first) { edges { node { id ${selected.join(' ')} } } } }`;
}

/** The heap in use after a full collection. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('a cached value weighed by the heap it holds', () => {
  it('weighs a parsed document at least as much as the heap it keeps, unlike its JSON', () => {
    const count = 2_000;
    const documents: DocumentNode[] = [];
    const before = heapAfterGc();
    for (let i = 0; i < count; i++) documents.push(parse(uniqueOperation(i)));
    const heapPerDocument = (heapAfterGc() - before) / count;
    const weights = documents.map((document) => heapWeight(document));
    const json = documents.map((document) => JSON.stringify(document).length);
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / count;
    expect(mean(weights)).toBeGreaterThanOrEqual(heapPerDocument);
    // What Apollo's default weighs: well under the heap (the reason for this module).
    expect(mean(json)).toBeLessThan(heapPerDocument / 2);
    expect(documents).toHaveLength(count);
  });

  it('weighs what V8 cannot serialize by its JSON, twice over', () => {
    const value = { query: 'x'.repeat(100), format: () => 'not serializable' };
    expect(heapWeight(value)).toBe(4 * JSON.stringify(value).length);
  });
});

describe('the caches bounded by heap', () => {
  it('never let the document store pass its budget, however many new operations come', async () => {
    const store = documentStore(1);
    let peak = 0;
    for (let i = 0; i < 1_000; i++) {
      await store.set(`hash-${i}`, parse(uniqueOperation(i)));
      peak = Math.max(peak, store.weight);
    }
    expect(peak).toBeLessThanOrEqual(2 ** 20);
    // It filled, and the oldest went first.
    expect(store.weight).toBeGreaterThan(0.9 * 2 ** 20);
    expect(store.size).toBeLessThan(1_000);
    expect(await store.get('hash-0')).toBeUndefined();
    expect(await store.get('hash-999')).toBeDefined();
  });

  it('never let the query plan cache pass its budget, with the plans a gateway makes', async () => {
    const plans = new CountingQueryPlanCache(1);
    const documents = new HeapBoundedCache<DocumentNode>(2 ** 20);
    // Only planning matters here: every subgraph fetch fails at once.
    const gateway = new ApolloGateway({
      supergraphSdl: readCommittedSupergraph(),
      queryPlannerConfig: { cache: plans },
      buildService: () => new RemoteGraphQLDataSource({ url: 'http://127.0.0.1:1/graphql' }),
    });
    const server = new ApolloServer({ gateway, documentStore: documents });
    await server.start();
    try {
      let peak = 0;
      for (let i = 0; i < 400; i++) {
        await server.executeOperation({ query: uniqueOperation(i), variables: { first: 1 } });
        peak = Math.max(peak, plans.weight, documents.weight);
      }
      expect(peak).toBeLessThanOrEqual(2 ** 20);
      expect(plans.weight).toBeGreaterThan(0.5 * 2 ** 20);
      expect(documents.weight).toBeGreaterThan(0.5 * 2 ** 20);
    } finally {
      await server.stop();
    }
  });
});
