import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago. For services that must know each other's
 * addresses before either listens (the events relay and the tickets service call each
 * other), which port 0 cannot give.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('No port was assigned');
  return address.port;
}
