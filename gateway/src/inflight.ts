// Identical subgraph queries in flight at the same time are sent once. Under load many
// clients ask the same thing (a home page's listing); the subgraph answers once and each
// request gets its own copy of the answer. Only queries are shared, never mutations, and
// only between requests of the same caller identity, so that no one sees an answer made
// for someone else.
import type { RemoteGraphQLDataSource } from '@apollo/gateway';

type GatewayGraphQLResponse = Awaited<ReturnType<RemoteGraphQLDataSource['process']>>;

interface Flight {
  readonly answer: Promise<GatewayGraphQLResponse>;
  /** When it was sent (performance.now()). */
  readonly sentAt: number;
  /** How many requests wait for it; known once it lands, since none join after. */
  waiting: number;
}

/** True for an operation the query planner wrote as a query (`{ … }` or `query …`). */
export function isQuery(operation: string): boolean {
  const start = operation.trimStart();
  return start.startsWith('{') || start.startsWith('query');
}

export class InflightQueries {
  readonly #flights = new Map<string, Flight>();

  /**
   * `send`'s answer, or that of an identical request already on its way: then `joined` is
   * told when that one was sent, which may be before what the caller has read since.
   */
  async share(
    key: string,
    send: () => Promise<GatewayGraphQLResponse>,
    joined?: (sentAt: number) => void,
  ): Promise<GatewayGraphQLResponse> {
    let flight = this.#flights.get(key);
    if (flight) joined?.(flight.sentAt);
    else {
      const sentAt = performance.now();
      const answer = send().finally(() => this.#flights.delete(key));
      flight = { answer, sentAt, waiting: 0 };
      this.#flights.set(key, flight);
    }
    flight.waiting += 1;
    const response = await flight.answer;
    // The gateway merges a subgraph's data into each request's own result tree: with more
    // than one request waiting, each gets a copy, and the answer itself stays untouched.
    // Its HTTP response (which is only read: its Cache-Control binds every request that
    // shares it) is not copied.
    if (flight.waiting === 1) return response;
    const { http, ...body } = response;
    const copy = structuredClone(body);
    return http ? { ...copy, http } : copy;
  }
}
