import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { describe, expect, it } from 'vitest';
import { boundedDocumentStore } from '../src/document-size.ts';

describe('the persisted-query store', () => {
  it('never keeps a document over the limit, counted in bytes', async () => {
    const store = boundedDocumentStore(new InMemoryLRUCache<string>(), 8);
    await store.set('small', '{ a b }');
    await store.set('large', '{ a b c d }');
    // Seven characters, but nine bytes in UTF-8.
    await store.set('wide', '{ é é }');
    expect(await store.get('small')).toBe('{ a b }');
    expect(await store.get('large')).toBeUndefined();
    expect(await store.get('wide')).toBeUndefined();
  });
});
