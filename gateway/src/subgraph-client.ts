// The gateway's HTTP client for subgraph requests: undici's `request`, the lean API under
// Node's fetch. Fetch runs the whole WHATWG fetch algorithm (Request and Response objects,
// header guards, body streams) on every subgraph request; `request` sends the same bytes
// over the same kind of keep-alive pool for a fraction of the CPU (docs/BENCHMARKS.md).
// RemoteGraphQLDataSource reads the answer through Apollo's small `FetcherResponse`
// interface, which this module gives it.
import { STATUS_CODES } from 'node:http';
import type { FetcherHeaders, FetcherRequestInit, FetcherResponse } from '@apollo/utils.fetcher';
import { Agent, request } from 'undici';

/**
 * The gateway's connections to the subgraphs. A subgraph replica that stops leaves the
 * connections its callers pool for them to close, and closes whatever is still open at its
 * drain deadline (DRAIN_DEADLINE_MS, 8 s; packages/platform/src/drain.ts), cutting a
 * request just sent on one. So an idle connection is let go after 4 s, whatever the
 * subgraph's `Keep-Alive: timeout=75` says (that is for NGINX in front of a gateway, which
 * lets go after 4 s itself): undici would have kept it 73 s.
 */
const subgraphConnections = new Agent({ keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 });

/** Response headers, by lower-case name; repeated headers joined as fetch joins them. */
class ResponseHeaders implements FetcherHeaders {
  readonly #values = new Map<string, string>();

  constructor(raw: Record<string, string | string[] | undefined>) {
    for (const [name, value] of Object.entries(raw)) {
      if (value !== undefined)
        this.#values.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const known = this.#values.get(key);
    this.#values.set(key, known === undefined ? value : `${known}, ${value}`);
  }
  delete(name: string): void {
    this.#values.delete(name.toLowerCase());
  }
  get(name: string): string | null {
    return this.#values.get(name.toLowerCase()) ?? null;
  }
  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }
  set(name: string, value: string): void {
    this.#values.set(name.toLowerCase(), value);
  }
  entries(): IterableIterator<[string, string]> {
    return this.#values.entries();
  }
  keys(): IterableIterator<string> {
    return this.#values.keys();
  }
  values(): IterableIterator<string> {
    return this.#values.values();
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#values.entries();
  }
}

/** A whole subgraph answer, its body already read: what RemoteGraphQLDataSource parses. */
class SubgraphResponse implements FetcherResponse {
  readonly bodyUsed = false;
  readonly redirected = false;
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: ResponseHeaders;
  readonly body: string;

  constructor(url: string, status: number, headers: ResponseHeaders, body: string) {
    this.url = url;
    this.status = status;
    this.statusText = STATUS_CODES[status] ?? '';
    this.ok = status >= 200 && status < 300;
    this.headers = headers;
    this.body = body;
  }

  async text(): Promise<string> {
    return this.body;
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.body);
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(this.body);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  clone(): FetcherResponse {
    return new SubgraphResponse(this.url, this.status, this.headers, this.body);
  }
}

/**
 * Sends one subgraph request and reads its whole answer. Rejects when no HTTP answer came
 * (refused, reset, or `init.signal` aborted it), like fetch; an HTTP error status is an
 * answer.
 */
export async function sendToSubgraph(
  url: string,
  init: FetcherRequestInit & { headers: Record<string, string>; signal: AbortSignal },
): Promise<FetcherResponse> {
  const answer = await request(url, {
    dispatcher: subgraphConnections,
    method: 'POST',
    headers: init.headers,
    body: init.body ?? '',
    signal: init.signal,
  });
  const body = await answer.body.text();
  return new SubgraphResponse(url, answer.statusCode, new ResponseHeaders(answer.headers), body);
}
