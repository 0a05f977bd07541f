// P7: a mixed per-user workload, through NGINX, against Hive Gateway on the same mix. Unlike
// P1, P3 and P6, whose clients all send one query (in-flight sharing's best case), every
// request here comes from one of a few hundred users with their own access token, and asks
// for a listing page (filtered or not, first page or later by cursor), an event page, the
// user's own tickets, or buys a ticket.
//
// This stack: NGINX, the two gateways (in-flight sharing as the suite runs them: on, keyed by
// the viewer), the subgraphs. The peer: two Hive Gateway processes over the same running
// subgraphs, behind a second NGINX rendered from the same template as the edge (least_conn
// over two instances), verifying each token with the project's own verifier and signing
// every subgraph fetch for that viewer, as the project's gateways do.

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { seedPeopleWithTokens } from '../scripts/dev-tokens.ts';
import { findNginx, writeLocalNginxConfig } from '../scripts/nginx.ts';
import { freePort } from '../scripts/ports.ts';
import type { BenchEnvironment } from './environment.ts';
import { publishedEventWithTiers, untilOnSale } from './hot-tier.ts';
import {
  alternate,
  expectData,
  type LoadResult,
  median,
  type PacedRequest,
  runLoad,
  runPaced,
} from './load.ts';
import {
  hotEventPage,
  mixedListingQuery,
  myTicketsQuery,
  purchaseMutation,
  requestBody,
} from './operations.ts';
import type { BenchOptions } from './options.ts';
import { type PeerProcess, startHiveGateway } from './peer.ts';
import { fmt, type MeasureRow } from './report.ts';

/** The mix, in percent of requests; each request's kind is drawn at random with these odds. */
export const mix = { listing: 40, eventPage: 35, myTickets: 15, purchase: 10 } as const;
type Kind = keyof typeof mix;

const sides = ['project', 'hive'] as const;
type Side = (typeof sides)[number];

/** Listing pages per filter that the requests pick from (the first and later ones). */
const pagesPerFilter = 5;
const pageSize = 10;

interface Workload {
  /** Each user's `Authorization` header. */
  authorizations: string[];
  /** Variables of listing pages, each a page a user could reach (cursors from real pages). */
  listings: Record<string, unknown>[];
  eventIds: string[];
  tierIds: string[];
}

/** A small seeded generator (mulberry32), so that both sides get the same sequence of kinds. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * An endless series of requests: request n comes from user n mod users, its kind drawn
 * with the mix's odds, its page, event or tier at random; a purchase gets a fresh
 * idempotency key. The same seed gives the same series of kinds, users and pages.
 */
function requestSeries(workload: Workload, seed: number) {
  const random = seeded(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T;
  const counts: Record<Kind, number> = { listing: 0, eventPage: 0, myTickets: 0, purchase: 0 };
  const bodies: Record<Kind, () => string> = {
    listing: () => requestBody(mixedListingQuery, pick(workload.listings)),
    eventPage: () => requestBody(hotEventPage, { id: pick(workload.eventIds) }),
    myTickets: () => requestBody(myTicketsQuery, { first: pageSize }),
    purchase: () =>
      requestBody(purchaseMutation, {
        input: { tierId: pick(workload.tierIds), quantity: 1, idempotencyKey: randomUUID() },
      }),
  };
  let sent = 0;
  const next = (): PacedRequest => {
    const authorization = workload.authorizations[
      sent++ % workload.authorizations.length
    ] as string;
    let roll = random() * 100;
    let kind: Kind = 'purchase';
    for (const [candidate, percent] of Object.entries(mix) as [Kind, number][]) {
      if (roll < percent) {
        kind = candidate;
        break;
      }
      roll -= percent;
    }
    counts[kind]++;
    return { body: bodies[kind](), headers: { authorization }, label: kind };
  };
  return { next, counts };
}

export async function measureMixedWorkload(
  environment: BenchEnvironment,
  options: BenchOptions,
): Promise<MeasureRow[]> {
  const url = environment.publicUrl;
  const people = await seedPeopleWithTokens({
    dataDir: environment.dataDir,
    usersDatabaseUrl: environment.databaseUrls.USERS_DATABASE_URL,
    buyers: options.mixedUsers,
    label: 'bench-mixed',
  });
  const authorizations = people.buyers.map((buyer) => `Bearer ${buyer.token}`);

  // P7's own events to buy from: every purchase must succeed, whatever the run's length.
  const sale: { eventId: string; tierIds: string[] }[] = [];
  for (let i = 0; i < options.mixedEvents; i++) {
    sale.push(
      await publishedEventWithTiers(url, people.organizer.token, [
        { name: 'General admission', capacity: 1_000_000 },
        { name: 'Balcony', capacity: 1_000_000 },
      ]),
    );
  }
  const tickets = await ticketsDatabase.open(
    { kind: 'postgres', url: environment.databaseUrls.TICKETS_DATABASE_URL },
    { migrate: false },
  );
  try {
    for (const { eventId } of sale) await untilOnSale(tickets.prisma, eventId);
  } finally {
    await tickets.close();
  }

  const asUser = (index: number) => ({ authorization: authorizations[index] as string });
  const { listings, eventIds } = await listingPages(url, asUser(0));
  const workload: Workload = {
    authorizations,
    listings,
    eventIds: [...eventIds, ...sale.map(({ eventId }) => eventId)],
    tierIds: sale.flatMap(({ tierIds }) => tierIds),
  };

  const peers: PeerProcess[] = [];
  let edge: HiveEdge | undefined;
  try {
    // Hive Gateway shares a subgraph fetch among identical queries in flight by a key of the
    // subgraph request's URL and body, taken before its fetch hook signs the request for a
    // viewer: two users' `myTickets` would share one user's answer. So the peer runs without
    // it; the project's gateways keep theirs, whose key includes the viewer.
    for (let i = 0; i < 2; i++) {
      peers.push(await startHiveGateway(environment, { deduplicate: false }));
    }
    edge = await startHiveEdge(peers.map((peer) => new URL(peer.url).host) as [string, string]);
    const urls: Record<Side, string> = { project: url, hive: edge.url };
    await sameAnswers(urls, workload);

    const saturate = (side: Side, length: number, seed: number) => {
      const series = requestSeries(workload, seed);
      return runLoad({
        url: urls[side],
        connections: options.connections,
        seconds: length,
        requests: [
          {
            setupRequest: (request) => {
              const { body, headers } = series.next();
              return { ...request, body, headers: { ...request.headers, ...headers } };
            },
          },
        ],
      });
    };
    for (const side of sides) await saturate(side, options.warmupSeconds, 0);
    const rounds: Record<Side, LoadResult[]> = await alternate(
      sides,
      options.rounds,
      (side, round) => saturate(side, options.roundSeconds, round + 1),
    );
    const rps = (side: Side) => rounds[side].map((round) => round.rps);
    const saturation = { project: median(rps('project')), hive: median(rps('hive')) };
    const ratio = saturation.project / saturation.hive;

    // Each side at half its own saturation, evenly paced, on the same series of requests.
    const paced = {} as Record<Side, Awaited<ReturnType<typeof runPaced>> & { rate: number }>;
    const kinds = {} as Record<Side, Record<Kind, number>>;
    for (const side of sides) {
      const rate = Math.max(1, Math.round(saturation[side] / 2));
      const series = requestSeries(workload, 1_000);
      const result = await runPaced({
        url: urls[side],
        body: () => series.next(),
        connections: options.connections,
        seconds: options.latencySeconds,
        rate,
      });
      paced[side] = { ...result, rate };
      kinds[side] = series.counts;
    }

    const failures =
      sides.flatMap((side) => rounds[side]).reduce((sum, round) => sum + round.failures, 0) +
      paced.project.failures +
      paced.hive.failures;
    const list = (values: number[]) =>
      `${values.map((value) => fmt(value)).join(', ')} RPS (median ${fmt(median(values))})`;
    const latency = (side: Side) => {
      const { rate, p50, p99, byLabel } = paced[side];
      const kindsText = Object.entries(byLabel)
        .map(([kind, figures]) => `${kind} ${fmt(figures.p99)}`)
        .join(', ');
      return `at ${rate} RPS paced for ${options.latencySeconds} s: p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms (p99 by kind: ${kindsText})`;
    };
    const mixText = `${mix.listing} % listing pages (4 filters, ${pagesPerFilter} pages each by cursor), ${mix.eventPage} % event pages (${workload.eventIds.length} events), ${mix.myTickets} % myTickets, ${mix.purchase} % purchases (${workload.tierIds.length} tiers)`;
    return [
      {
        id: 'P7',
        measure: `mixed per-user workload: RPS through NGINX and the two gateways ÷ Hive Gateway's (two behind the same NGINX configuration), ${options.mixedUsers} users with their own tokens, ${options.connections} connections; p99 at half saturation`,
        value: ratio,
        result: `${fmt(ratio)}, p99 ${fmt(paced.project.p99)} ms`,
        target: '≥ 1.0, p99 ≤ 100 ms',
        met: ratio >= 1 && paced.project.p99 <= 100 && failures === 0,
        details:
          `project ${list(rps('project'))}; Hive Gateway ${peers[0]?.version} ${list(rps('hive'))}; ` +
          `${options.rounds} × ${options.roundSeconds} s a side; ` +
          `project ${latency('project')}; Hive Gateway ${latency('hive')}; ` +
          `mix ${mixText}; ${failures} failed; ` +
          `in-flight sharing: project on (keyed by viewer), Hive Gateway off; response cache off`,
        figures: {
          ...rounds,
          ratio,
          paced,
          mix,
          kindsPaced: kinds,
          users: options.mixedUsers,
          hiveVersion: peers[0]?.version,
          failures,
        },
      },
    ];
  } finally {
    await edge?.stop();
    await Promise.all(peers.map((peer) => peer.stop()));
  }
}

/**
 * Listing pages as users reach them: for each filter, the first page and the next ones by
 * the cursor the previous page gave. Also every event id seen, for the event pages.
 */
async function listingPages(
  url: string,
  headers: Record<string, string>,
): Promise<{ listings: Record<string, unknown>[]; eventIds: Set<string> }> {
  const filters: (Record<string, unknown> | undefined)[] = [
    undefined,
    { city: 'Lisbon' },
    { search: 'night 1' },
    { startsAfter: new Date(Date.now() + 9 * 86_400_000).toISOString() },
  ];
  const listings: Record<string, unknown>[] = [];
  const eventIds = new Set<string>();
  for (const filter of filters) {
    let after: string | undefined;
    for (let page = 0; page < pagesPerFilter; page++) {
      const variables = { first: pageSize, after, filter };
      const answer = JSON.parse(
        (await expectData(url, requestBody(mixedListingQuery, variables), headers)).body,
      ) as {
        data: {
          events: {
            edges: { node: { id: string } }[];
            pageInfo: { endCursor: string | null; hasNextPage: boolean };
          };
        };
      };
      const { edges, pageInfo } = answer.data.events;
      if (edges.length === 0) break;
      listings.push(variables);
      for (const { node } of edges) eventIds.add(node.id);
      if (!pageInfo.hasNextPage || !pageInfo.endCursor) break;
      after = pageInfo.endCursor;
    }
  }
  return { listings, eventIds };
}

/**
 * Like for like: before any load, both sides must give the same data for a sample of every
 * kind of request, and a purchase through each side must show in that user's tickets on
 * both (the identity reached the tickets service through either gateway).
 */
async function sameAnswers(urls: Record<Side, string>, workload: Workload): Promise<void> {
  const [first, second] = workload.authorizations;
  const [tierId] = workload.tierIds;
  if (!first || !second || !tierId) throw new Error('P7 needs two users and a tier');
  const buy = (side: Side, authorization: string) =>
    expectData(
      urls[side],
      requestBody(purchaseMutation, {
        input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
      }),
      { authorization },
    );
  await buy('project', first);
  await buy('hive', second);
  const samples: [string, string][] = [
    ...workload.listings.map((variables) => [requestBody(mixedListingQuery, variables), first]),
    ...workload.eventIds
      .slice(0, 5)
      .map((id) => [requestBody(hotEventPage, { id }), second] as [string, string]),
    [requestBody(myTicketsQuery, { first: pageSize }), first],
    [requestBody(myTicketsQuery, { first: pageSize }), second],
  ] as [string, string][];
  for (const [body, authorization] of samples) {
    const answers = await Promise.all(
      sides.map(async (side) =>
        JSON.parse((await expectData(urls[side], body, { authorization })).body),
      ),
    );
    if (!isDeepStrictEqual(answers[0], answers[1])) {
      throw new Error(
        `Hive Gateway answered differently from the project's stack to ${body.slice(0, 200)}:\n` +
          `${JSON.stringify(answers[1]).slice(0, 400)}\nagainst\n${JSON.stringify(answers[0]).slice(0, 400)}`,
      );
    }
    const tickets = answers[0]?.data?.myTickets;
    if (tickets && tickets.totalCount !== 1) {
      throw new Error(`a user who bought one ticket has ${tickets.totalCount}`);
    }
  }
}

interface HiveEdge {
  url: string;
  stop(): Promise<void>;
}

/** A second NGINX, rendered from the edge's own template, in front of two Hive Gateways. */
async function startHiveEdge(gateways: [string, string]): Promise<HiveEdge> {
  const nginx = findNginx();
  if (!nginx) throw new Error('NGINX is not installed');
  // NGINX started as root runs its workers as `nobody`: they must be able to use the folder.
  const prefix = await mkdtemp(join(tmpdir(), 'ticketing-hive-edge-'));
  await chmod(prefix, 0o777);
  const listenPort = await freePort();
  const config = await writeLocalNginxConfig(prefix, { listenPort, gateways, corsOrigins: '' });
  const child = spawn(nginx, ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log')], {
    stdio: 'inherit',
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(prefix, { recursive: true, force: true });
  };
  const origin = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const response = await fetch(`${origin}/health/live`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(`the NGINX in front of Hive Gateway did not start:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `${origin}/graphql`, stop };
}
