// A GET answer of /graphql is negotiated by its Accept header (application/json, or
// application/graphql-response+json): the same body in two media types. Its ETag named the
// body alone, so that a cache revalidating one media type's copy with If-None-Match got a 304
// for an answer in the other. A POST answer, which no client revalidates, has none.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../src/http.ts';
import { serveOkService } from '../src/testing.ts';

let service: RunningService;

beforeAll(async () => {
  service = await serveOkService('etag-test');
});
afterAll(() => service?.stop());

const json = 'application/json';
const graphqlResponse = 'application/graphql-response+json';

function get(accept: string, ifNoneMatch?: string) {
  return fetch(`${service.url}?query=${encodeURIComponent('{ ok }')}`, {
    headers: {
      accept,
      'apollo-require-preflight': '1',
      // fetch adds `cache-control: no-cache` to a conditional request otherwise, which a
      // server answers in full: a cache revalidating sends none.
      ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch, 'cache-control': 'max-age=0' } : {}),
    },
  });
}

describe('the ETag of a GET answer', () => {
  it('differs between the media types of the same answer', async () => {
    const asJson = await get(json);
    const asGraphqlResponse = await get(graphqlResponse);
    expect(asJson.headers.get('content-type')).toMatch(/^application\/json/);
    expect(asGraphqlResponse.headers.get('content-type')).toMatch(
      /^application\/graphql-response\+json/,
    );
    expect(await asJson.text()).toBe(await asGraphqlResponse.text());
    const tags = [asJson.headers.get('etag'), asGraphqlResponse.headers.get('etag')];
    expect(tags).toEqual([expect.any(String), expect.any(String)]);
    expect(tags[0]).not.toBe(tags[1]);
  });

  it('revalidates the same media type with a 304', async () => {
    const tag = (await get(json)).headers.get('etag') ?? '';
    const again = await get(json, tag);
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
  });

  it('never revalidates the other media type: 200 with the whole answer', async () => {
    const tag = (await get(json)).headers.get('etag') ?? '';
    const other = await get(graphqlResponse, tag);
    expect(other.status).toBe(200);
    expect(other.headers.get('content-type')).toMatch(/^application\/graphql-response\+json/);
    expect(await other.json()).toEqual({ data: { ok: true } });
  });
});

describe('a POST answer', () => {
  it('has no ETag', async () => {
    const answer = await fetch(service.url, {
      method: 'POST',
      headers: { 'content-type': json },
      body: JSON.stringify({ query: '{ ok }' }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ data: { ok: true } });
    expect(answer.headers.get('etag')).toBeNull();
  });
});
