import { createServer } from 'node:net';

/** A TCP port that was free a moment ago, for a server that cannot listen on port 0. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('No port was assigned');
  return address.port;
}

export interface GraphQLHttpResult {
  status: number;
  servedBy: string | null;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** POSTs a GraphQL operation the way a browser client would. */
export async function postGraphQL(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLHttpResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    servedBy: response.headers.get('x-served-by'),
    body: await response.json(),
  };
}
