// P4b: the on-sale rush. 300 buyers, each with a token of their own, send one purchase each
// at the same moment for a tier of 100 seats, through NGINX, both gateways and the tickets
// subgraph, each on a connection of its own (as 300 people would). The result is the p99 of
// the time from sending a purchase to its whole answer, sale or refusal; exactly 100 must be
// sold, each seat once, in every round.
import { randomUUID } from 'node:crypto';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import type { BenchEnvironment } from './environment.ts';
import { publishedEventWithTiers, untilOnSale } from './hot-tier.ts';
import { median, timedPost } from './load.ts';
import { purchaseMutation, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

/** The q-quantile of `values` (nearest rank). */
function quantile(values: readonly number[], q: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

export async function measureRush(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const seats = options.sellOutCapacity;
  const buyersCount = seats * 3;
  const url = environment.publicUrl;
  const people = await seedPeopleWithTokens({
    dataDir: environment.dataDir,
    usersDatabaseUrl: environment.databaseUrls.USERS_DATABASE_URL,
    buyers: buyersCount,
    label: 'bench-rush',
  });
  const { eventId, tierIds } = await publishedEventWithTiers(
    url,
    people.organizer.token,
    Array.from({ length: options.rushRounds + 1 }, (_, round) => ({
      name: `Rush ${round}`,
      capacity: seats,
    })),
  );
  const tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: environment.databaseUrls.TICKETS_DATABASE_URL },
    { migrate: false },
  );
  try {
    await untilOnSale(tickets.prisma, eventId);
    const rush = async (tierId: string) => {
      const answers = await Promise.all(
        people.buyers.map((buyer) =>
          timedPost(
            url,
            requestBody(purchaseMutation, {
              input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
            }),
            { authorization: `Bearer ${buyer.token}` },
          ),
        ),
      );
      const refusals: Record<string, number> = {};
      let bought = 0;
      for (const answer of answers) {
        const body = JSON.parse(answer.body) as {
          data?: { purchaseTickets?: { id: string } | null } | null;
          errors?: { extensions?: { code?: string } }[];
        };
        if (body.data?.purchaseTickets?.id) bought += 1;
        else {
          const code = body.errors?.[0]?.extensions?.code ?? `HTTP ${answer.status}`;
          refusals[code] = (refusals[code] ?? 0) + 1;
        }
      }
      const tier = await tickets.prisma.ticketTier.findUniqueOrThrow({ where: { id: tierId } });
      const rows = await tickets.prisma.ticket.count({ where: { tierId } });
      const ms = answers.map((answer) => answer.ms);
      return {
        bought,
        sold: tier.sold,
        tickets: rows,
        refusals,
        p50: quantile(ms, 0.5),
        p99: quantile(ms, 0.99),
        max: Math.max(...ms),
        exact: bought === seats && tier.sold === seats && rows === seats,
      };
    };
    const [warmUpTier, ...measuredTiers] = tierIds;
    await rush(warmUpTier as string); // connections, plans and pools warm, unmeasured
    const rounds = [];
    for (const tierId of measuredTiers) rounds.push(await rush(tierId));
    const p99 = median(rounds.map((round) => round.p99));
    const exact = rounds.every((round) => round.exact);
    const failed = rounds.some((round) =>
      Object.keys(round.refusals).some((code) => code !== 'SOLD_OUT'),
    );
    return [
      {
        id: 'P4b',
        measure: `on-sale rush: p99 of a purchase's answer when ${buyersCount} buyers, each on a connection of their own, send one purchase each at once for ${seats} seats, via NGINX + 2 gateways + tickets`,
        value: p99,
        result: `${fmt(p99)} ms, ${exact ? `exactly ${seats}` : 'NOT exactly'} sold`,
        target: `≤ 250 ms, exactly ${seats} sold`,
        met: p99 <= 250 && exact && !failed,
        details: [
          ...rounds.map(
            (round, i) =>
              `round ${i + 1}: p50 ${fmt(round.p50)} ms, p99 ${fmt(round.p99)} ms, max ${fmt(round.max)} ms, ${round.bought} bought, sold ${round.sold}, ${round.tickets} tickets, refusals ${JSON.stringify(round.refusals)}`,
          ),
          `p99 is the median of ${rounds.length} rounds, after one unmeasured`,
        ].join('; '),
        figures: { rounds, seats, buyers: buyersCount },
      },
    ];
  } finally {
    await tickets.close();
  }
}
