import type { KeyValueCache, KeyValueCacheSetOptions } from '@apollo/utils.keyvaluecache';
import { searchParametersOf } from '@ticketing/platform';
import type express from 'express';

/**
 * The largest GraphQL document the gateway accepts, in bytes (UTF-8). The token limit
 * bounds a document's shape, not its size: one string literal can fill the body. 8 KiB
 * is some fifteen times the largest client operation (519 bytes).
 */
export const defaultMaxDocumentBytes = 8 * 1024;

/** The document of a GraphQL request, whether POSTed as JSON or sent with GET. */
function documentOf(request: express.Request): unknown {
  if (request.method === 'GET') return searchParametersOf(request).get('query');
  return (request.body as { query?: unknown } | undefined)?.query;
}

/**
 * Refuses a request whose document is larger than `maxBytes`, with HTTP 413 and
 * `DOCUMENT_TOO_LARGE`, before Apollo parses it, registers it as a persisted query or
 * caches anything for it. Runs after the JSON body parser.
 */
export function limitDocumentSize(maxBytes: number): express.RequestHandler {
  return (request, response, next) => {
    const document = documentOf(request);
    if (typeof document === 'string' && Buffer.byteLength(document, 'utf8') > maxBytes) {
      response.status(413).json({
        errors: [
          {
            message: `The GraphQL document is larger than ${maxBytes} bytes.`,
            extensions: { code: 'DOCUMENT_TOO_LARGE', maxBytes },
          },
        ],
      });
      return;
    }
    next();
  };
}

/**
 * A persisted-query store that never keeps a document over `maxBytes`, whatever reaches
 * it: the second line of defence behind `limitDocumentSize`.
 */
export function boundedDocumentStore(
  store: KeyValueCache<string>,
  maxBytes: number,
): KeyValueCache<string> {
  return {
    get: (key) => store.get(key),
    delete: (key) => store.delete(key),
    async set(key: string, value: string, options?: KeyValueCacheSetOptions) {
      if (Buffer.byteLength(value, 'utf8') > maxBytes) return;
      await store.set(key, value, options);
    },
  };
}
