// Filtering and search happen in the database, on indexes: each listing query the events
// subgraph sends is explained with its own parameters, on enough rows that PostgreSQL's
// planner weighs an index against a sequential scan for real.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Statement, type Supergraph, startSupergraph } from './harness.ts';

let supergraph: Supergraph;
const organizerId = randomUUID();
const rows = 100_000;

beforeAll(async () => {
  supergraph = await startSupergraph();
  // A realistic volume, so that the planner's choice between an index and a sequential
  // scan is the one it would make in production (at 20 000 rows it still scans for search).
  await supergraph.databases.events.$executeRawUnsafe(`
    INSERT INTO events (id, title, venue, city, city_key, timezone, starts_at, status, organizer_id, updated_at)
    SELECT gen_random_uuid(),
           CASE WHEN i = 4242 THEN 'The one with the needle'
                ELSE (ARRAY['concert','lecture','festival','match','workshop'])[1 + i % 5] || ' ' || i END,
           'Venue ' || (i % 500), 'City ' || (i % 200), 'city ' || (i % 200), 'Europe/Berlin',
           now() + interval '1 day' + i * interval '1 hour',
           CASE WHEN i % 50 = 0 THEN 'CANCELLED' WHEN i % 10 = 1 THEN 'DRAFT' ELSE 'PUBLISHED' END::"EventStatus",
           CASE WHEN i % 1000 = 5 THEN '${organizerId}'::uuid ELSE gen_random_uuid() END,
           now()
    FROM generate_series(1, ${rows}) AS i`);
  await supergraph.databases.events.$executeRawUnsafe('ANALYZE events');
}, 120_000);
afterAll(async () => {
  await supergraph?.stop();
});

/** The names of the indexes a plan reads, anywhere in its tree. */
function indexesIn(plan: unknown): string[] {
  if (Array.isArray(plan)) return plan.flatMap(indexesIn);
  if (plan && typeof plan === 'object') {
    const node = plan as Record<string, unknown>;
    const own = typeof node['Index Name'] === 'string' ? [node['Index Name'] as string] : [];
    return [...own, ...Object.values(node).flatMap(indexesIn)];
  }
  return [];
}

/** Runs a query through the gateway and explains the statements it cost the events subgraph. */
async function plansFor(query: string, variables: Record<string, unknown> = {}) {
  supergraph.sql.events.length = 0;
  const result = await supergraph.request(query, variables);
  expect(result.errors).toBeUndefined();
  const statements = supergraph.sql.events.filter(
    ({ sql }) => sql.trimStart().startsWith('SELECT') || sql.trimStart().startsWith('WITH'),
  );
  expect(statements.length).toBeGreaterThan(0);
  return Promise.all(
    statements.map(async ({ sql, params }: Statement) => {
      const [explained] = await supergraph.databases.events.$queryRawUnsafe<
        { 'QUERY PLAN': unknown }[]
      >(`EXPLAIN (FORMAT JSON) ${sql}`, ...params);
      return {
        sql,
        indexes: indexesIn(explained?.['QUERY PLAN']),
        plan: JSON.stringify(explained),
      };
    }),
  );
}

const listing = (filter: string) =>
  `{ events(first: 20${filter}) { totalCount edges { node { id } } } }`;

describe('the events listing', () => {
  it('unfiltered reads its page in start order from events_starts_at_id_idx', async () => {
    const plans = await plansFor(listing(''));
    const page = plans.find((plan) => plan.sql.includes('LIMIT'));
    expect(page?.indexes, page?.plan).toContain('events_starts_at_id_idx');
    expect(page?.plan).not.toContain('"Seq Scan"');
    // Its totalCount counts nine rows in ten, which no index makes cheaper than a scan.
  });

  it.each([
    ['a city', listing(', filter: { city: "City 17" }'), ['events_city_key_starts_at_id_idx']],
    ['a status', listing(', filter: { status: CANCELLED }'), ['events_status_starts_at_id_idx']],
    [
      'a search term',
      listing(', filter: { search: "needle" }'),
      ['events_title_trgm_idx', 'events_venue_trgm_idx'],
    ],
  ])(
    'filtered by %s reads %j for page and count, with no sequential scan',
    async (_, query, indexes) => {
      const plans = await plansFor(query);
      for (const plan of plans) {
        for (const index of indexes) expect(plan.indexes, plan.plan).toContain(index);
        expect(plan.plan).not.toContain('"Seq Scan"');
      }
    },
  );

  it('of one organizer reads the organizer index', async () => {
    const plans = await plansFor(
      `query ($id: ID!) { event(id: $id) { organizer { organizedEvents(first: 5) { totalCount } } } }`,
      {
        id: (
          await supergraph.databases.events.event.findFirstOrThrow({
            where: { organizerId, status: 'PUBLISHED' },
          })
        ).id,
      },
    );
    expect(plans.flatMap((plan) => plan.indexes)).toContain('events_organizer_id_starts_at_id_idx');
  });
});
