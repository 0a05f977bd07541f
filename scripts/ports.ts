import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago. For services that must know each other's
 * addresses before either listens (the events relay and the tickets service call each
 * other), which port 0 cannot give.
 *
 * It is taken below the kernel's ephemeral range (Linux's `ip_local_port_range`), not from
 * it as port 0 would: every outgoing connection (to PostgreSQL, Redis, another service) is
 * given a port of that range, so a port taken from it could be some client's by the time
 * its service listens, seconds later (seen as EADDRINUSE under a busy test run). Below the
 * range only another listener can take it, and the port is drawn at random so that two
 * processes asking at once rarely draw the same. Where the range cannot be read, port 0.
 */
export async function freePort(): Promise<number> {
  const low = await ephemeralLow();
  if (low !== undefined && low > lowestPort + 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = lowestPort + Math.floor(Math.random() * (low - lowestPort));
      if ((await listenOnce(port)) !== undefined) return port;
    }
  }
  const port = await listenOnce(0);
  if (port === undefined) throw new Error('No port was assigned');
  return port;
}

/** The lowest port `freePort` draws, above the well-known and most registered services. */
const lowestPort = 20_000;

async function ephemeralLow(): Promise<number | undefined> {
  try {
    const [low] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined;
  }
}

/** Listens on `port` of 127.0.0.1 and closes again: the port, or undefined if it was taken. */
async function listenOnce(port: number): Promise<number | undefined> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!listening) return undefined;
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return address === null || typeof address === 'string' ? undefined : address.port;
}
