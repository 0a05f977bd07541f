// P2: SQL statements per federated listing of N events with their tiers, availability and
// organizer's name, for N = 10 and N = 100. Batched entity resolution makes both the same.
//
// Counted on the wire (statement-counter.ts): the three subgraphs are restarted with their
// database URLs pointing at the counting relay, which is why this measure runs last. Their
// background jobs (the events outbox relay, the tickets hold sweeper) are paced to once an
// hour for the count; any of their statements that still show up are recognised by their
// SQL and left out, and reported.
import type { BenchEnvironment, DatabaseUrls } from './environment.ts';
import { expectData } from './load.ts';
import { listingQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import type { MeasureRow } from './report.ts';
import { type CountedStatement, startStatementCounter } from './statement-counter.ts';
import type { SubgraphName } from './subgraph-headers.ts';

const subgraphs: readonly SubgraphName[] = ['users', 'events', 'tickets'];
const pageSizes = [10, 100] as const;
/** Listings per page size; the count per request is their total divided by this. */
const repeats = 3;

/** Statements of the background jobs, which run whatever the requests. */
const backgroundStatement = (sql: string) =>
  sql.includes('outbox_messages') || sql.includes('WITH expired AS');

const urlVariable = (name: SubgraphName) =>
  `${name.toUpperCase()}_DATABASE_URL` as keyof DatabaseUrls;

export async function measureStatements(
  environment: BenchEnvironment,
  _options: BenchOptions,
): Promise<MeasureRow[]> {
  const server = new URL(environment.databaseUrls.EVENTS_DATABASE_URL);
  const counter = await startStatementCounter({
    host: server.hostname,
    port: Number(server.port || 5432),
  });
  try {
    const subgraphOf = new Map(
      subgraphs.map((name) => [
        new URL(environment.databaseUrls[urlVariable(name)]).pathname.slice(1),
        name,
      ]),
    );
    await Promise.all(
      subgraphs.map((name) =>
        environment.topology.restart(name, {
          [urlVariable(name)]: counter.urlFor(environment.databaseUrls[urlVariable(name)]),
          EVENT_RELAY_INTERVAL_MS: '3600000',
          HOLD_SWEEP_INTERVAL_MS: '3600000',
        }),
      ),
    );

    const counts: Record<number, Record<SubgraphName, number>> = {};
    let background = 0;
    for (const first of pageSizes) {
      const body = requestBody(listingQuery, { first });
      await warmUp(environment.publicUrl, body);
      counter.reset();
      for (let i = 0; i < repeats; i++) {
        const response = await expectData(environment.publicUrl, body);
        checkListing(response.body, first);
      }
      const statements = counter.statements;
      background += statements.filter(({ sql }) => backgroundStatement(sql)).length;
      counts[first] = perRequest(
        statements.filter(({ sql }) => !backgroundStatement(sql)),
        subgraphOf,
      );
    }
    const [small, large] = pageSizes.map((first) => counts[first] as Record<SubgraphName, number>);
    const total = (count: Record<SubgraphName, number> | undefined) =>
      subgraphs.reduce((sum, name) => sum + (count?.[name] ?? 0), 0);
    const same = subgraphs.every((name) => small?.[name] === large?.[name]);
    const split = (count: Record<SubgraphName, number> | undefined) =>
      subgraphs.map((name) => `${name} ${count?.[name]}`).join(', ');
    return [
      {
        id: 'P2',
        measure:
          'SQL statements per federated listing of N events with tiers, availability and organizer name, N = 10 vs N = 100',
        value: total(large) / total(small),
        result: `${total(small)} vs ${total(large)}`,
        target: 'the same count for both (batched)',
        met: same,
        details:
          `N = 10: ${split(small)}; N = 100: ${split(large)}; ` +
          `counted on the wire over ${repeats} requests each; ${background} background statements left out`,
        figures: { perRequest: counts, repeats, backgroundStatements: background },
      },
    ];
  } finally {
    await counter.stop();
  }
}

/** A few listings until one succeeds: the gateways' connections to the old subgraphs are gone. */
async function warmUp(url: string, body: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await expectData(url, body);
      await expectData(url, body);
      return;
    } catch (error) {
      if (attempt === 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Fails unless the page holds `first` events, each with its own organizer. */
function checkListing(body: string, first: number): void {
  const edges = (
    JSON.parse(body) as { data: { events: { edges: { node: { organizer: { name: string } } }[] } } }
  ).data.events.edges;
  const organizers = new Set(edges.map((edge) => edge.node.organizer.name));
  if (edges.length !== first || organizers.size !== first) {
    throw new Error(
      `the listing of ${first} returned ${edges.length} events by ${organizers.size} organizers`,
    );
  }
}

function perRequest(
  statements: readonly CountedStatement[],
  subgraphOf: ReadonlyMap<string, SubgraphName>,
): Record<SubgraphName, number> {
  const count: Record<SubgraphName, number> = { users: 0, events: 0, tickets: 0 };
  for (const { database } of statements) {
    const name = subgraphOf.get(database);
    if (name) count[name] += 1;
  }
  for (const name of subgraphs) count[name] /= repeats;
  return count;
}
