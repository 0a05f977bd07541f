// HTTP requests from a chosen loopback address (127.0.0.x). Linux routes all of 127/8 to
// the loopback interface, so NGINX sees each address as a distinct client, as it would see
// distinct hosts: for the abuse tests and the sign-up flood benchmark.
import { request } from 'node:http';

export interface HttpAnswer {
  status: number;
  text: string;
  /** The body as JSON, or `{}` when it is not JSON. */
  json: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

export interface PostOptions {
  /** The local address to connect from (default 127.0.0.1). */
  from?: string;
  headers?: Record<string, string>;
  /** How long to wait for the answer (default 60 s). */
  timeoutMs?: number;
}

/** POSTs `body` to `url` as it is (a string, so malformed ones can be sent too). */
export function postFrom(url: URL, body: string, options: PostOptions = {}): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'POST',
        localAddress: options.from ?? '127.0.0.1',
        headers: { 'content-type': 'application/json', ...options.headers },
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: HttpAnswer['json'] = {};
          try {
            json = JSON.parse(text);
          } catch {
            // Not JSON: callers look at `text`.
          }
          resolve({ status: response.statusCode ?? 0, text, json });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () =>
      outgoing.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)),
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** A GraphQL operation, as JSON, from `options.from`. */
export function graphqlFrom(
  url: URL,
  query: string,
  variables: Record<string, unknown> = {},
  options: PostOptions = {},
): Promise<HttpAnswer> {
  return postFrom(url, JSON.stringify({ query, variables }), options);
}
