// `npm run bench:micro-cache`: NGINX micro-caching of public GETs (proxy_cache with its
// lock, honouring the gateways' Cache-Control) in front of the gateways' response cache,
// side by side in one run, in alternating rounds (README, "Response cache"):
//
// - `post`: the event page as an anonymous POST through the edge NGINX: the gateways' cache
//   (a hit answered from memory before Apollo);
// - `get`: the same as a GET through the edge NGINX (a hit through Apollo's plugin);
// - `micro`: the same GET through a second NGINX, with proxy_cache in front of the same
//   two gateways.
//
// Then how stale each gets: after an event update (the mutation has answered), how long
// until a reader sees the new title through the edge and through the micro-cache.
//
//   npm run bench:micro-cache [-- --rounds 3 --seconds 5 --connections 16]
import { parseArgs } from 'node:util';
import { startBenchEnvironment } from './environment.ts';
import { startExtraNginx } from './extra-nginx.ts';
import { publicGraphQL, publishedEventWithTiers } from './hot-tier.ts';
import { alternate, median, runLoad } from './load.ts';
import { hotEventPage, requestBody } from './operations.ts';
import { withCacheAndPeople } from './response-cache.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
    updates: { type: 'string', default: '10' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const updates = Number(values.updates);

/** A second NGINX, micro-caching GETs of /graphql in front of the two gateways. */
async function startMicroCache(gateways: string[]) {
  const nginx = await startExtraNginx(
    'micro-cache',
    (
      port,
      { cache },
    ) => `    proxy_cache_path ${cache} levels=1:2 keys_zone=micro:10m max_size=64m inactive=10s use_temp_path=off;
    upstream gateways {
        least_conn;
${gateways.map((address) => `        server ${address};`).join('\n')}
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${port};
        location /graphql {
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Only GETs, only without a token; for as long as the gateway's Cache-Control
            # says (max-age=1 for a page with availability), one fill at a time.
            proxy_cache micro;
            proxy_cache_methods GET HEAD;
            proxy_cache_key $request_uri;
            proxy_cache_bypass $http_authorization;
            proxy_no_cache $http_authorization;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 1s;
            add_header X-Micro-Cache $upstream_cache_status always;
        }
    }`,
    ['cache'],
  );
  return { url: `${nginx.origin}/graphql`, stop: () => nginx.stop() };
}

const environment = await startBenchEnvironment({ events: 10 });
const micro = await startMicroCache(
  ['gateway-1', 'gateway-2'].map((name) => new URL(environment.gatewayUrl(name)).host),
);
try {
  const { url, people } = await withCacheAndPeople(environment, 0, 'bench-micro-cache');
  const organizer = people.organizer.token;
  const { eventId } = await publishedEventWithTiers(url, organizer, [
    { name: 'GA', capacity: 1_000 },
  ]);
  const body = requestBody(hotEventPage, { id: eventId });
  const query = new URLSearchParams({
    query: hotEventPage,
    variables: JSON.stringify({ id: eventId }),
  }).toString();
  // Apollo refuses a GET without a header that a browser would have to preflight.
  const getHeaders = { 'apollo-require-preflight': 'true' };
  const figures = await alternate(['post', 'get', 'micro'] as const, rounds, (side) =>
    runLoad(
      side === 'post'
        ? { url, body, connections, seconds }
        : {
            url: `${side === 'get' ? url : micro.url}?${query}`,
            method: 'GET',
            headers: getHeaders,
            connections,
            seconds,
          },
    ),
  );
  for (const side of ['post', 'get', 'micro'] as const) {
    const runs = figures[side];
    console.log(
      `${side}: median ${median(runs.map((run) => run.rps)).toFixed(0)} RPS, p99 ${median(runs.map((run) => run.p99)).toFixed(1)} ms, ${runs.reduce((sum, run) => sum + run.failures, 0)} failed`,
    );
  }

  // Staleness: after each update has answered, until a reader sees it, each way.
  const { graphql } = publicGraphQL(url);
  const titleVia = async (side: 'get' | 'micro') => {
    const response = await fetch(`${side === 'get' ? url : micro.url}?${query}`, {
      headers: getHeaders,
    });
    const answer = (await response.json()) as { data?: { event?: { title?: string } } };
    return answer.data?.event?.title;
  };
  const staleness: Record<'get' | 'micro', number[]> = { get: [], micro: [] };
  for (let update = 0; update < updates; update++) {
    // Both readers warm, so that each answers from its cache when the update lands.
    for (let i = 0; i < 3; i++) await Promise.all([titleVia('get'), titleVia('micro')]);
    const title = `Renamed ${update} ${Date.now()}`;
    const answer = await graphql(
      organizer,
      'mutation ($id: ID!, $title: String!) { updateEvent(id: $id, input: { title: $title }) { id } }',
      { id: eventId, title },
    );
    if (answer.errors) throw new Error(`the update failed: ${JSON.stringify(answer.errors)}`);
    const answered = performance.now();
    await Promise.all(
      (['get', 'micro'] as const).map(async (side) => {
        while ((await titleVia(side)) !== title) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        staleness[side].push(performance.now() - answered);
      }),
    );
    // Out of step with the micro-cache's whole seconds.
    await new Promise((resolve) => setTimeout(resolve, 137 * (update + 1)));
  }
  for (const side of ['get', 'micro'] as const) {
    console.log(
      `staleness after an update via ${side}: median ${median(staleness[side]).toFixed(0)} ms, worst ${Math.max(...staleness[side]).toFixed(0)} ms`,
    );
  }
} finally {
  await micro.stop();
  await environment.stop();
}
