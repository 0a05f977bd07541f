// P4: purchases per second on one hot tier through the whole stack (NGINX, both gateways,
// the tickets subgraph, PostgreSQL), against the raw rate of the conditional UPDATE that
// guards the stock, sent straight to PostgreSQL on a row as hot; alternating. Then a tier
// of a few seats is bought by more buyers than it has seats, to show that nothing oversells.
import { randomUUID } from 'node:crypto';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import pg from 'pg';
import { seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import type { BenchEnvironment } from './environment.ts';
import { alternate, median, runLoad } from './load.ts';
import {
  createSaleEventMutation,
  createSaleTierMutation,
  publishSaleEventMutation,
  purchaseMutation,
  requestBody,
} from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

/** What the stock guard of a purchase does, alone: one statement, one row. */
const conditionalUpdate =
  'UPDATE ticket_tiers SET sold = sold + 1 WHERE id = $1 AND sold + held + 1 <= capacity';

export interface GraphQLAnswer {
  data?: Record<string, { id: string } | null> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** A GraphQL client of the public endpoint, and a check that a mutation created something. */
export function publicGraphQL(url: string) {
  const graphql = async (token: string, query: string, variables: Record<string, unknown>) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: requestBody(query, variables),
    });
    return (await response.json()) as GraphQLAnswer;
  };
  const created = (answer: GraphQLAnswer, field: string) => {
    const id = answer.data?.[field]?.id;
    if (!id) throw new Error(`${field} failed: ${JSON.stringify(answer.errors)}`);
    return id;
  };
  return { graphql, created };
}

/**
 * An event a month ahead with tiers of the given capacities (one ticket per order),
 * published through the API by `organizer`.
 */
export async function publishedEventWithTiers(
  url: string,
  organizer: string,
  tiers: readonly { name: string; capacity: number }[],
): Promise<{ eventId: string; tierIds: string[] }> {
  const { graphql, created } = publicGraphQL(url);
  const eventId = created(
    await graphql(organizer, createSaleEventMutation, {
      input: {
        title: 'Hot tier benchmark',
        venue: 'Hall',
        city: 'Benchton',
        timezone: 'Europe/Berlin',
        startsAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      },
    }),
    'createEvent',
  );
  const tierIds: string[] = [];
  for (const { name, capacity } of tiers) {
    tierIds.push(
      created(
        await graphql(organizer, createSaleTierMutation, {
          eventId,
          input: { name, priceCents: 1000, currency: 'EUR', capacity, maxPerOrder: 1 },
        }),
        'createTicketTier',
      ),
    );
  }
  created(await graphql(organizer, publishSaleEventMutation, { id: eventId }), 'publishEvent');
  return { eventId, tierIds };
}

/** Waits (30 s at most) until the events outbox has told the tickets service the event is on sale. */
export async function untilOnSale(
  prisma: Awaited<ReturnType<typeof ticketsDatabase.open>>['prisma'],
  eventId: string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await prisma.eventSnapshot.findUnique({ where: { eventId } }))?.status !== 'PUBLISHED') {
    if (Date.now() > deadline) throw new Error('the tickets service never saw the event published');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function measureHotTier(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const concurrency = options.purchaseConcurrency;
  const url = environment.publicUrl;
  const { graphql } = publicGraphQL(url);

  // Buyers and an organizer straight in the users database, tokens minted with the users
  // service's development key: logging in would measure scrypt, not purchases.
  const people = await seedPeopleWithTokens({
    dataDir: environment.dataDir,
    usersDatabaseUrl: environment.databaseUrls.USERS_DATABASE_URL,
    buyers: concurrency,
    label: 'bench-buyer',
  });
  const organizer = people.organizer.token;
  const buyers = people.buyers.map((buyer) => buyer.token);

  const {
    eventId,
    tierIds: [hotTierId, sellOutTierId],
  } = await publishedEventWithTiers(url, organizer, [
    { name: 'Hot', capacity: 1_000_000 },
    { name: 'Few seats', capacity: options.sellOutCapacity },
  ]);
  if (!hotTierId || !sellOutTierId) throw new Error('the tiers were not created');

  const tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: environment.databaseUrls.TICKETS_DATABASE_URL },
    { migrate: false },
  );
  const raw = new pg.Pool({
    connectionString: environment.databaseUrls.TICKETS_DATABASE_URL,
    max: concurrency,
  });
  try {
    await untilOnSale(tickets.prisma, eventId);
    // The raw side updates a row of its own, as hot as the stack's.
    const rawTier = await tickets.prisma.ticketTier.create({
      data: { eventId, name: 'Raw', priceCents: 1000, currency: 'EUR', capacity: 1_000_000_000 },
    });

    let next = 0;
    const purchaseThroughStack = (seconds: number) =>
      runLoad({
        url,
        connections: concurrency,
        seconds,
        requests: [
          {
            // A fresh idempotency key each time, buyers in turn.
            setupRequest: (request) => ({
              ...request,
              body: requestBody(purchaseMutation, {
                input: { tierId: hotTierId, quantity: 1, idempotencyKey: randomUUID() },
              }),
              headers: {
                ...request.headers,
                authorization: `Bearer ${buyers[next++ % buyers.length]}`,
              },
            }),
          },
        ],
      });
    const updateStraight = async (seconds: number) => {
      const ends = performance.now() + seconds * 1000;
      let done = 0;
      let failed = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < ends) {
            const result = await raw.query(conditionalUpdate, [rawTier.id]);
            if (result.rowCount === 1) done += 1;
            else failed += 1;
          }
        }),
      );
      return { rps: done / seconds, failures: failed };
    };

    await purchaseThroughStack(options.warmupSeconds); // plans cached, connections open
    await updateStraight(options.warmupSeconds);
    const rounds = await alternate(['stack', 'raw'] as const, options.purchaseRounds, (side) =>
      side === 'stack'
        ? purchaseThroughStack(options.roundSeconds)
        : updateStraight(options.roundSeconds),
    );
    const stack = rounds.stack.map((round) => round.rps);
    const direct = rounds.raw.map((round) => round.rps);
    const failures = [...rounds.stack, ...rounds.raw].reduce((sum, r) => sum + r.failures, 0);
    const hot = await tierCount(tickets.prisma, hotTierId);

    const sellOut = await sellOutRace(
      graphql,
      buyers,
      sellOutTierId,
      options.sellOutCapacity * 3,
      concurrency,
    );
    const few = await tierCount(tickets.prisma, sellOutTierId);
    const oversold =
      Math.max(0, few.sold - options.sellOutCapacity) +
      Math.max(0, few.rows - options.sellOutCapacity) +
      Math.max(0, sellOut.succeeded - options.sellOutCapacity);
    const consistent =
      hot.sold === hot.rows && few.sold === few.rows && few.rows === sellOut.succeeded;
    const ratio = median(stack) / median(direct);
    return [
      {
        id: 'P4',
        measure: `hot-tier purchases per second via NGINX + 2 gateways + tickets ÷ the raw conditional UPDATE on PostgreSQL, ${concurrency} concurrent`,
        value: ratio,
        result: `${fmt(ratio)}, oversold ${oversold}`,
        target: '≥ 0.5, with zero oversell',
        met: ratio >= 0.5 && oversold === 0 && consistent && failures === 0,
        details:
          `stack ${stack.map((rps) => fmt(rps)).join(', ')} purchases/s (median ${fmt(median(stack))}); ` +
          `raw ${direct.map((rps) => fmt(rps)).join(', ')} updates/s (median ${fmt(median(direct))}); ` +
          `${options.purchaseRounds} × ${options.roundSeconds} s a side; ${failures} failed; ` +
          `hot tier sold ${hot.sold} = ${hot.rows} tickets; ` +
          `${sellOut.attempts} buyers for ${options.sellOutCapacity} seats: ${sellOut.succeeded} bought, sold ${few.sold}, ${few.rows} tickets, refusals ${JSON.stringify(sellOut.refusals)}`,
        figures: {
          stack: rounds.stack,
          raw: rounds.raw,
          failures,
          hotTier: hot,
          sellOut: { ...sellOut, capacity: options.sellOutCapacity, ...few },
          oversold,
          consistent,
        },
      },
    ];
  } finally {
    await raw.end();
    await tickets.close();
  }
}

/** A tier's `sold` counter and the ticket rows that exist for it: equal unless something broke. */
async function tierCount(
  prisma: Awaited<ReturnType<typeof ticketsDatabase.open>>['prisma'],
  tierId: string,
): Promise<{ sold: number; rows: number }> {
  const tier = await prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
  return { sold: tier.sold, rows: await prisma.ticket.count({ where: { tierId } }) };
}

/** `attempts` one-ticket purchases of one tier on `concurrency` lanes, through the stack. */
async function sellOutRace(
  graphql: (
    token: string,
    query: string,
    variables: Record<string, unknown>,
  ) => Promise<GraphQLAnswer>,
  buyers: readonly string[],
  tierId: string,
  attempts: number,
  concurrency: number,
) {
  let started = 0;
  let succeeded = 0;
  const refusals: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < attempts) {
        const buyer = buyers[started++ % buyers.length] as string;
        const answer = await graphql(buyer, purchaseMutation, {
          input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
        });
        if (answer.data?.purchaseTickets?.id) succeeded += 1;
        else {
          const code = answer.errors?.[0]?.extensions?.code ?? 'UNKNOWN';
          refusals[code] = (refusals[code] ?? 0) + 1;
        }
      }
    }),
  );
  return { attempts, succeeded, refusals };
}
