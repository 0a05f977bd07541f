// What every measure runs against: the whole topology (NGINX, two gateways, three
// subgraphs) as processes on fresh PostgreSQL databases, in production mode, with the demo
// data and a listing's worth of published events, each with its own organizer and two tiers.

import { randomUUID } from 'node:crypto';
import { eventsDatabase } from '@ticketing/prisma/events';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { usersDatabase } from '@ticketing/prisma/users';
import { type DatabaseUrls, startFreshTopology } from '../scripts/fresh-topology.ts';
import type { Topology } from '../scripts/topology.ts';
import type { SubgraphName } from './subgraph-headers.ts';
import { subgraphSecretEnv } from './subgraph-headers.ts';

export type { DatabaseUrls } from '../scripts/fresh-topology.ts';

export interface BenchEnvironment {
  readonly topology: Topology;
  readonly databaseUrls: DatabaseUrls;
  /** Holds the users service's development signing key, for minting access tokens. */
  readonly dataDir: string;
  /** NGINX: the public endpoint. */
  readonly publicUrl: string;
  /** One gateway instance's own endpoint (default gateway-1); a restart keeps its port. */
  gatewayUrl(name?: string): string;
  subgraphUrl(name: SubgraphName): string;
  /** The process id of a service, for reading its memory. */
  pidOf(name: string): number;
  stop(): Promise<void>;
}

/** Settings of every service in the benchmark. */
export const serviceEnv = {
  NODE_ENV: 'production',
  // Logging every request would measure the terminal; errors still show.
  LOG_LEVEL: 'error',
  AUTH_DEV_KEYS: 'true',
  EVENT_RELAY_SECRET: 'benchmark-relay-secret-0123456789',
  ...subgraphSecretEnv,
  SEED_DEMO_DATA: 'true',
  // One buyer buys many tickets of the hot tier in P4.
  MAX_TICKETS_PER_EVENT: '1000000',
  // P4's 32 buyers buy about 30 times a second each, past any person's pace and any
  // account's write budget (README, Write budget): the measure is the purchase path.
  ACCOUNT_WRITES_PER_SECOND: '1000000',
} as const;

export interface EnvironmentOptions {
  /** Published events to seed besides the demo data; the listings page through them. */
  events: number;
  /** Where each service writes a CPU profile when it stops, if anywhere. */
  cpuProfileDir?: string | undefined;
  /** Receives each line a service writes (errors only, at LOG_LEVEL=error). */
  output?: (service: string, line: string) => void;
}

export async function startBenchEnvironment(
  options: EnvironmentOptions,
): Promise<BenchEnvironment> {
  const fresh = await startFreshTopology('bench', {
    env: {
      ...serviceEnv,
      ...(options.cpuProfileDir
        ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.cpuProfileDir}` }
        : {}),
    },
    output: options.output ?? ((service, line) => console.error(`${service} | ${line}`)),
  });
  const { topology, databaseUrls, dir: dataDir } = fresh;
  const environment: BenchEnvironment = {
    topology,
    databaseUrls,
    dataDir,
    publicUrl: topology.publicUrl,
    gatewayUrl: (name = 'gateway-1') => processOf(topology, name).url,
    subgraphUrl: (name) => processOf(topology, name).url,
    pidOf(name) {
      const pid = processOf(topology, name).child.pid;
      if (pid === undefined) throw new Error(`${name} has no process id`);
      return pid;
    },
    stop: fresh.stop,
  };
  try {
    await seedListing(databaseUrls, options.events);
  } catch (error) {
    await environment.stop();
    throw error;
  }
  return environment;
}

function processOf(topology: Topology, name: string) {
  const running = topology.processes.get(name);
  if (!running) throw new Error(`${name} is not running`);
  return running;
}

/**
 * `count` published events starting a week from now, an hour apart, each with its own
 * organizer, so that a page of N events needs N distinct users, and two tiers. Written
 * straight into each service's database, as the demo seed does, with the tickets service's
 * copy of each event's status that the events outbox would have delivered.
 */
async function seedListing(databaseUrls: DatabaseUrls, count: number): Promise<void> {
  const open = { migrate: false } as const;
  const users = await usersDatabase.open(
    { kind: 'postgres', url: databaseUrls.USERS_DATABASE_URL },
    open,
  );
  const events = await eventsDatabase.open(
    { kind: 'postgres', url: databaseUrls.EVENTS_DATABASE_URL },
    open,
  );
  const tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: databaseUrls.TICKETS_DATABASE_URL },
    open,
  );
  try {
    const organizers = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      email: `bench-organizer-${i}@example.com`,
      name: `Organizer ${i}`,
      role: 'ORGANIZER' as const,
    }));
    await users.prisma.user.createMany({ data: organizers });
    const firstStart = Date.now() + 7 * 86_400_000;
    const rows = organizers.map((organizer, i) => {
      const startsAt = new Date(firstStart + i * 3_600_000);
      return {
        id: randomUUID(),
        title: `Benchmark night ${i}`,
        venue: 'Hall',
        city: 'Lisbon',
        cityKey: 'lisbon',
        timezone: 'Europe/Lisbon',
        startsAt,
        endsAt: new Date(startsAt.getTime() + 3 * 3_600_000),
        status: 'PUBLISHED' as const,
        publishedAt: new Date(),
        organizerId: organizer.id,
      };
    });
    await events.prisma.event.createMany({ data: rows });
    await tickets.prisma.ticketTier.createMany({
      data: rows.flatMap((event) => [
        {
          eventId: event.id,
          name: 'General admission',
          priceCents: 3000,
          currency: 'EUR',
          capacity: 500,
        },
        { eventId: event.id, name: 'VIP', priceCents: 9000, currency: 'EUR', capacity: 50 },
      ]),
    });
    await tickets.prisma.eventSnapshot.createMany({
      data: rows.map(({ id, status, startsAt, endsAt }) => ({
        eventId: id,
        status,
        startsAt,
        endsAt,
        version: 1,
      })),
    });
  } finally {
    await Promise.all([users.close(), events.close(), tickets.close()]);
  }
}
