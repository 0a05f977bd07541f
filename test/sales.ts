// What the end-to-end sale tests share: calling the public endpoint as a client would, and
// putting a tier on sale (an event created, given a tier, published, and known to the
// tickets service through the outbox).
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { type SeededPerson, seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import {
  createSaleEventMutation,
  createSaleTierMutation,
  publishSaleEventMutation,
} from './documents.ts';
import { startTestTopology, type TestTopology } from './support.ts';

export interface ApiResponse {
  status: number;
  servedBy: string | null;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: unknown[]; extensions?: Record<string, unknown> }[];
  };
}

export type Call = (
  token: string | undefined,
  query: string,
  variables?: Record<string, unknown>,
  headers?: Record<string, string>,
) => Promise<ApiResponse>;

/** A client of the public GraphQL endpoint at `url`. */
export function apiClient(url: string): Call {
  return async (token, query, variables = {}, headers = {}) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      servedBy: response.headers.get('x-served-by'),
      body: await response.json(),
    };
  };
}

/** The first error's code, or OK. */
export function outcomeOf(response: ApiResponse): string {
  const [error] = response.body.errors ?? [];
  return error ? String(error.extensions?.code ?? 'UNKNOWN') : 'OK';
}

/** How many responses had each outcome. */
export function outcomes(responses: ApiResponse[]): Record<string, number> {
  const counted: Record<string, number> = {};
  for (const response of responses) {
    const outcome = outcomeOf(response);
    counted[outcome] = (counted[outcome] ?? 0) + 1;
  }
  return counted;
}

type TicketsDatabase = Awaited<ReturnType<typeof ticketsDatabase.open>>;

export { holdMutation, purchaseMutation } from './documents.ts';

/**
 * A published event with one tier of `capacity`, returned once the tickets service has
 * heard of the publication (through the outbox), so that it is on sale.
 */
export async function tierOnSale(options: {
  call: Call;
  tickets: TicketsDatabase;
  organizerToken: string;
  capacity: number;
  maxPerOrder?: number;
  title?: string;
  /** How long the tickets service may take to hear of the publication. */
  timeoutMs?: number;
}): Promise<{ eventId: string; tierId: string }> {
  const { call, organizerToken } = options;
  const created = await call(organizerToken, createSaleEventMutation, {
    input: {
      title: options.title ?? 'The rush',
      venue: 'Arena',
      city: 'Rushville',
      timezone: 'Europe/Berlin',
      startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    },
  });
  const eventId = (created.body.data?.createEvent as { id: string } | undefined)?.id;
  if (!eventId) throw new Error(`createEvent failed: ${JSON.stringify(created.body.errors)}`);
  const tier = await call(organizerToken, createSaleTierMutation, {
    eventId,
    input: {
      name: 'GA',
      priceCents: 5000,
      currency: 'EUR',
      capacity: options.capacity,
      maxPerOrder: options.maxPerOrder ?? 10,
    },
  });
  const tierId = (tier.body.data?.createTicketTier as { id: string } | undefined)?.id;
  if (!tierId) throw new Error(`createTicketTier failed: ${JSON.stringify(tier.body.errors)}`);
  const published = await call(organizerToken, publishSaleEventMutation, { id: eventId });
  if (published.body.errors) {
    throw new Error(`publishEvent failed: ${JSON.stringify(published.body.errors)}`);
  }
  await waitFor(
    async () =>
      (await options.tickets.prisma.eventSnapshot.findUnique({ where: { eventId } }))?.status ===
      'PUBLISHED',
    'the tickets service to hear of the publication',
    options.timeoutMs,
  );
  return { eventId, tierId };
}

/** Polls `condition` until it holds, failing after `timeoutMs`. */
export async function waitFor(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The topology with what a sale test needs: a client, the tickets database, people. */
export interface SaleTopology {
  started: TestTopology;
  call: Call;
  /** The tickets service's database, for checking what was really written. */
  tickets: TicketsDatabase;
  organizer: SeededPerson;
  buyers: SeededPerson[];
  /** Stops the topology and closes the database; safe to call after a failed start. */
  stop(): Promise<void>;
}

/**
 * Starts the topology (test/support.ts) on fresh databases, seeds an organizer and
 * `buyers` customers with access tokens, and opens the tickets database.
 */
export async function startSaleTopology(
  label: string,
  options: { buyers: number; env?: NodeJS.ProcessEnv; databaseServerUrl?: string },
): Promise<SaleTopology> {
  const started = await startTestTopology(label, options.env, {
    ...(options.databaseServerUrl ? { databaseServerUrl: options.databaseServerUrl } : {}),
  });
  let tickets: TicketsDatabase | undefined;
  try {
    tickets = await ticketsDatabase.open(
      { kind: 'postgres', url: started.databaseUrls.TICKETS_DATABASE_URL },
      { migrate: false },
    );
    const people = await seedPeopleWithTokens({
      dataDir: started.dir,
      usersDatabaseUrl: started.databaseUrls.USERS_DATABASE_URL,
      buyers: options.buyers,
      label,
    });
    const opened = tickets;
    return {
      started,
      call: apiClient(started.topology.publicUrl),
      tickets: opened,
      organizer: people.organizer,
      buyers: people.buyers,
      async stop() {
        await opened.close();
        await started.stop();
      },
    };
  } catch (error) {
    await tickets?.close();
    await started.stop();
    throw error;
  }
}
