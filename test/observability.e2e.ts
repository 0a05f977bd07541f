// Request ids, traces and metrics, through the real topology: NGINX, both gateway processes
// and the three subgraphs, exporting traces to an OTLP/HTTP receiver run by the test.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestTopology, type TestTopology } from './support.ts';

let started: TestTopology;
let receiver: Server;
const spans: ReceivedSpan[] = [];

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

// OTLP span kinds.
const serverKind = 2;

/** A minimal OTLP/HTTP trace receiver, for JSON-encoded exports. */
function startReceiver(): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces')
        spans.push(...spansIn(JSON.parse(Buffer.concat(chunks).toString())));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

function plain(value: OtlpValue): unknown {
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  return value.stringValue ?? value.intValue ?? value.boolValue;
}

function attributesOf(attributes: OtlpAttribute[] = []): Record<string, unknown> {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, plain(value)]));
}

function spansIn(body: OtlpExport): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((resourceSpans) => {
    const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) =>
      (scope.spans ?? []).map((span) => ({
        service,
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId || undefined,
        name: span.name,
        kind: span.kind,
        attributes: attributesOf(span.attributes),
      })),
    );
  });
}

beforeAll(async () => {
  receiver = startReceiver();
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const { port } = receiver.address() as AddressInfo;
  started = await startTestTopology('observability', {
    // Debug shows the access log line of every request.
    LOG_LEVEL: 'debug',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    // A reused refresh token is a reuse at once, not a concurrent refresh.
    REFRESH_GRACE_SECONDS: '0',
  });
}, 180_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await started?.stop();
  receiver?.close();
});

interface LogLine {
  process: string;
  entry: Record<string, unknown>;
}

/** The JSON log lines the services wrote so far, with the process that wrote each. */
function logLines(): LogLine[] {
  return started.logs.flatMap((line) => {
    const separator = line.indexOf(' | ');
    try {
      const entry = JSON.parse(line.slice(separator + 3));
      return typeof entry === 'object' && entry
        ? [{ process: line.slice(0, separator), entry }]
        : [];
    } catch {
      return [];
    }
  });
}

/** Waits for `check` to return a value (logs and spans arrive asynchronously). */
async function eventually<T>(what: string, check: () => T | undefined, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The processes that logged a line with `requestId`, once each of `expected` has. */
function processesLogging(requestId: string, expected: string[]): Promise<string[]> {
  return eventually(`log lines with request id ${requestId} from ${expected.join(', ')}`, () => {
    const processes = new Set(
      logLines()
        .filter(({ entry }) => entry.requestId === requestId)
        .map(({ process }) => process),
    );
    return expected.every((name) => processes.has(name)) ? [...processes].sort() : undefined;
  });
}

const crossSubgraphQuery =
  'query Listing { events(first: 3) { edges { node { title organizer { name } ticketsAvailable } } } }';

async function post(
  url: string,
  body: { query: string; variables?: Record<string, unknown>; operationName?: string },
  headers: Record<string, string> = {},
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    requestId: response.headers.get('x-request-id'),
    servedBy: response.headers.get('x-served-by'),
    body: (await response.json()) as {
      data?: Record<string, unknown> | null;
      errors?: { extensions?: { code?: string } }[];
    },
  };
}

function gatewayUrl(name: string): string {
  const gateway = started.topology.processes.get(name);
  if (!gateway) throw new Error(`${name} is not running`);
  return gateway.url;
}

describe('request ids', () => {
  let edgeRequestId: string;

  it('flow from the edge through the gateway to every subgraph, in every log line', async () => {
    edgeRequestId = `client-${randomUUID()}`;
    const response = await post(
      started.topology.publicUrl,
      { query: crossSubgraphQuery },
      { 'x-request-id': edgeRequestId },
    );
    expect(response.body.errors).toBeUndefined();
    // Once: NGINX answers with the id and hides the gateway's echo of it.
    expect(response.requestId).toBe(edgeRequestId);
    const gateway = response.servedBy as string;
    expect(gateway).toMatch(/^gateway-[12]$/);
    expect(await processesLogging(edgeRequestId, [gateway, 'events', 'users', 'tickets'])).toEqual(
      [gateway, 'events', 'tickets', 'users'].sort(),
    );
    const accessLine = logLines().find(
      ({ process, entry }) => process === gateway && entry.requestId === edgeRequestId,
    )?.entry;
    expect(accessLine).toMatchObject({
      msg: 'request completed',
      req: { method: 'POST', url: '/graphql' },
      res: { statusCode: 200 },
    });
  });

  it('are minted by NGINX for a request without one, or with one that is not a short token', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { 'x-request-id': 'no "spaces" or quotes, please' },
    ];
    for (const headers of attempts) {
      const response = await post(
        started.topology.publicUrl,
        { query: crossSubgraphQuery },
        headers,
      );
      expect(response.body.errors).toBeUndefined();
      // NGINX's $request_id: 32 hex digits.
      expect(response.requestId).toMatch(/^[0-9a-f]{32}$/);
      await processesLogging(response.requestId as string, [response.servedBy as string, 'events']);
    }
    expect(logLines().some(({ entry }) => JSON.stringify(entry).includes('no \\"spaces\\"'))).toBe(
      false,
    );
  });

  it('are made by the gateway for a direct call without one', async () => {
    const response = await post(gatewayUrl('gateway-2'), { query: crossSubgraphQuery });
    expect(response.body.errors).toBeUndefined();
    expect(response.requestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    await processesLogging(response.requestId as string, ['gateway-2', 'events', 'users']);
  });

  it('are on lines a subgraph logs deep inside a resolver', async () => {
    const signUp = await post(started.topology.publicUrl, {
      query: 'mutation ($input: SignUpInput!) { signUp(input: $input) { refreshToken } }',
      variables: {
        input: {
          email: `observed-${randomUUID()}@example.com`,
          password: 'correct horse battery staple',
          name: 'Observed',
        },
      },
    });
    expect(signUp.body.errors).toBeUndefined();
    const { refreshToken } = (signUp.body.data as { signUp: { refreshToken: string } }).signUp;
    const refresh =
      'mutation ($token: String!) { refreshSession(refreshToken: $token) { refreshToken } }';
    const first = await post(started.topology.publicUrl, {
      query: refresh,
      variables: { token: refreshToken },
    });
    expect(first.body.errors).toBeUndefined();
    // The same token again: the users service revokes the session and warns, mid-resolver.
    const reuseId = `reuse-${randomUUID()}`;
    const reuse = await post(
      started.topology.publicUrl,
      { query: refresh, variables: { token: refreshToken } },
      { 'x-request-id': reuseId },
    );
    expect(reuse.body.errors?.[0]?.extensions?.code).toBeDefined();
    const warning = await eventually('the reuse warning', () =>
      logLines().find(({ entry }) => entry.msg === 'refresh token reused; session revoked'),
    );
    expect(warning.process).toBe('users');
    expect(warning.entry).toMatchObject({ level: 40, requestId: reuseId });
  });

  it('are on the errors the gateway logs when a subgraph fails', async () => {
    const failingId = `failing-${randomUUID()}`;
    const users = started.topology.processes.get('users');
    users?.child.kill('SIGKILL');
    await once(users?.child as NonNullable<typeof users>['child'], 'exit');
    try {
      const response = await post(
        gatewayUrl('gateway-1'),
        {
          query: 'query Organizers { events(first: 1) { edges { node { organizer { name } } } } }',
        },
        { 'x-request-id': failingId },
      );
      expect(response.body.errors?.length).toBeGreaterThan(0);
      const logged = await eventually('the gateway’s error line', () =>
        logLines().find(
          ({ process, entry }) =>
            process === 'gateway-1' && entry.msg === 'masked an error as SERVICE_UNAVAILABLE',
        ),
      );
      expect(logged.entry).toMatchObject({ level: 50, requestId: failingId });
    } finally {
      await started.topology.restart('users');
    }
  });
});

/** The gateway's server span of the request with `requestId`, once exported. */
function gatewayServerSpan(requestId: string): Promise<ReceivedSpan> {
  return eventually('the gateway’s server span', () =>
    spans.find(
      (span) =>
        span.service === 'gateway' &&
        span.kind === serverKind &&
        (span.attributes['http.request.header.x-request-id'] as string[] | undefined)?.[0] ===
          requestId,
    ),
  );
}

describe('traces', () => {
  it('join the gateway’s spans and the subgraphs’ into one trace', async () => {
    const requestId = `traced-${randomUUID()}`;
    // A new operation, so that the gateway plans it (a plan span exists only on a miss).
    const query = crossSubgraphQuery.replace(
      'Listing',
      `Traced_${randomUUID().replaceAll('-', '')}`,
    );
    const response = await post(
      started.topology.publicUrl,
      { query },
      { 'x-request-id': requestId },
    );
    expect(response.body.errors).toBeUndefined();
    const entry = await gatewayServerSpan(requestId);
    // The gateway's own spans (from @apollo/gateway) and a server span in each subgraph.
    const trace = await eventually('the spans of every service in the trace', () => {
      const inTrace = spans.filter((span) => span.traceId === entry.traceId);
      const services = new Set(
        inTrace.filter((span) => span.kind === serverKind).map((span) => span.service),
      );
      return ['gateway', 'events', 'users', 'tickets'].every((service) => services.has(service)) &&
        inTrace.some((span) => span.name === 'gateway.fetch')
        ? inTrace
        : undefined;
    });
    const gatewaySpans = new Map(
      trace.filter((span) => span.service === 'gateway').map((span) => [span.spanId, span]),
    );
    expect([...gatewaySpans.values()].map((span) => span.name)).toEqual(
      expect.arrayContaining([
        'gateway.request',
        'gateway.plan',
        'gateway.execute',
        'gateway.fetch',
      ]),
    );
    for (const subgraph of ['events', 'users', 'tickets']) {
      const server = trace.find((span) => span.service === subgraph && span.kind === serverKind);
      expect(server?.attributes['graphql.operation.type']).toBe('query');
      expect(server?.attributes['http.request.header.x-request-id']).toEqual([requestId]);
      // Its parent is the gateway's span for that subgraph fetch (the gateway sends the
      // traceparent itself: its client is Node's fetch).
      const parent = gatewaySpans.get(server?.parentSpanId as string);
      expect(parent?.name).toBe('gateway.fetch');
    }
  });

  it('start at the gateway, whatever trace context a client sends through NGINX', async () => {
    // A client's sampled traceparent made each of its requests traced under the trace id it
    // chose, whatever share of traces the operator's sampler keeps.
    const chosenTraceId = randomUUID().replaceAll('-', '');
    const requestId = `untrusted-trace-${randomUUID()}`;
    const response = await post(
      started.topology.publicUrl,
      { query: crossSubgraphQuery },
      {
        'x-request-id': requestId,
        traceparent: `00-${chosenTraceId}-b7ad6b7169203331-01`,
        tracestate: 'vendor=chosen-by-the-client',
        baggage: 'user.role=admin',
      },
    );
    expect(response.body.errors).toBeUndefined();
    const entry = await gatewayServerSpan(requestId);
    expect(entry.traceId).not.toBe(chosenTraceId);
    expect(entry.parentSpanId).toBeUndefined();
    expect(spans.filter((span) => span.traceId === chosenTraceId)).toEqual([]);
  });

  it('hold no query string, and cut what a client names short', async () => {
    // A server span carried the request's whole target (a GET's operation and variables, a
    // password among them) and whatever the client named, however long: a 7 KB operation
    // name on every span of the trace, the subgraphs' too.
    const secret = `never-traced-${randomUUID()}`;
    const query = (name: string) =>
      `query ${name}($first: Int, $secret: String) { events(first: $first, filter: { city: $secret }) { edges { node { title organizer { name } } } } }`;
    const target = new URL(started.topology.publicUrl);
    target.searchParams.set('query', query('ByGet'));
    target.searchParams.set('variables', JSON.stringify({ first: 1, secret }));
    const byGet = `hostile-get-${randomUUID()}`;
    const got = await fetch(target, {
      headers: { 'apollo-require-preflight': 'true', 'x-request-id': byGet },
    });
    expect(got.status).toBe(200);
    const byPost = `hostile-post-${randomUUID()}`;
    const posted = await post(
      started.topology.publicUrl,
      { query: query(`Named${'x'.repeat(7_000)}`), variables: { first: 1 } },
      { 'x-request-id': byPost, 'user-agent': `agent-${'y'.repeat(4_000)}` },
    );
    expect(posted.body.errors).toBeUndefined();
    const traced: ReceivedSpan[] = [];
    for (const requestId of [byGet, byPost]) {
      const entry = await gatewayServerSpan(requestId);
      traced.push(
        ...(await eventually('a subgraph’s server span in the trace', () => {
          const inTrace = spans.filter((span) => span.traceId === entry.traceId);
          return inTrace.some((span) => span.service !== 'gateway' && span.kind === serverKind)
            ? inTrace
            : undefined;
        })),
      );
    }
    expect(JSON.stringify(traced)).not.toContain(secret);
    // The query string's names are kept, their values not.
    const withQuery = traced.find((span) => span.attributes['url.query'] !== undefined);
    expect(withQuery?.attributes['url.query']).toBe('query=REDACTED&variables=REDACTED');
    // Every value cut at the services' limit (1,024 characters).
    const long = traced.flatMap((span) =>
      Object.entries(span.attributes)
        .filter(
          ([, value]) => (typeof value === 'string' ? value : JSON.stringify(value)).length > 1_024,
        )
        .map(([key]) => `${span.service} ${span.name}: ${key}`),
    );
    expect(long).toEqual([]);
    const named = (await gatewayServerSpan(byPost)).attributes['graphql.operation.name'];
    expect(named).toBe(`Named${'x'.repeat(1_019)}`);
  });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A sample value or a bucket bound: a float, or +Inf, -Inf or NaN. */
function parseNumber(text: string): number {
  const special: Record<string, number> = {
    '+Inf': Number.POSITIVE_INFINITY,
    '-Inf': Number.NEGATIVE_INFINITY,
    NaN: Number.NaN,
  };
  const value = special[text] ?? Number(text);
  if (Number.isNaN(value) && text !== 'NaN') throw new Error(`Not a sample value: ${text}`);
  return value;
}

/** Parses Prometheus' text exposition format (the sample lines; comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`Not a sample line: ${line}`);
    const [, name, labelText, value] = match as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (labelText ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (raw as string).replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      );
    }
    samples.push({ name, labels, value: parseNumber(value) });
  }
  return samples;
}

async function scrape(graphqlUrl: string): Promise<Sample[]> {
  const response = await fetch(new URL('/metrics', graphqlUrl));
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseExposition(await response.text());
}

/** The value of the sample `name` with exactly `labels`, 0 when there is none yet. */
function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const found = samples.filter(
    (sample) =>
      sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted,
  );
  if (found.length > 1) throw new Error(`${name} ${wanted} appears ${found.length} times`);
  return found[0]?.value ?? 0;
}

describe('metrics', () => {
  it('count requests, errors, latency and plan cache hits and misses per gateway', async () => {
    const url = gatewayUrl('gateway-1');
    const eventsUrl = started.topology.processes.get('events')?.url as string;
    const [before, eventsBefore] = await Promise.all([scrape(url), scrape(eventsUrl)]);

    // One new operation three times (planned once, then found), one that a subgraph
    // rejects, and one that fails validation at the gateway (never planned).
    const probe = `query Probe_${randomUUID().replaceAll('-', '')} { events(first: 2) { edges { node { title } } } }`;
    for (let i = 0; i < 3; i++) {
      expect((await post(url, { query: probe })).body.errors).toBeUndefined();
    }
    const rejected = await post(url, {
      query: `query BadCursor_${randomUUID().replaceAll('-', '')} { events(first: 2, after: "not a cursor") { edges { node { title } } } }`,
    });
    expect(rejected.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const invalid = await post(url, { query: '{ noSuchField }' });
    expect(invalid.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const [after, eventsAfter] = await Promise.all([scrape(url), scrape(eventsUrl)]);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(after, name, labels) - sampleValue(before, name, labels);

    expect(delta('graphql_requests_total', { operation_type: 'query', outcome: 'success' })).toBe(
      3,
    );
    expect(delta('graphql_requests_total', { operation_type: 'query', outcome: 'error' })).toBe(1);
    expect(delta('graphql_requests_total', { operation_type: 'unknown', outcome: 'error' })).toBe(
      1,
    );
    expect(delta('graphql_errors_total', { code: 'BAD_USER_INPUT' })).toBe(1);
    expect(delta('graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    expect(delta('graphql_query_plan_cache_misses_total')).toBe(2);
    expect(delta('graphql_query_plan_cache_hits_total')).toBe(2);
    const hits = sampleValue(after, 'graphql_query_plan_cache_hits_total');
    const misses = sampleValue(after, 'graphql_query_plan_cache_misses_total');
    expect(hits).toBeGreaterThan(0);
    expect(misses).toBeGreaterThan(0);
    // Every lookup is a request that reached planning: no more than the requests answered.
    const answered = after
      .filter((sample) => sample.name === 'graphql_requests_total')
      .reduce((sum, sample) => sum + sample.value, 0);
    expect(hits + misses).toBeLessThanOrEqual(answered);

    // The latency histogram: four more queries timed, cumulative buckets ending in +Inf.
    const query = { operation_type: 'query' };
    expect(delta('graphql_request_duration_seconds_count', query)).toBe(4);
    expect(delta('graphql_request_duration_seconds_sum', query)).toBeGreaterThan(0);
    const buckets = after
      .filter(
        (sample) =>
          sample.name === 'graphql_request_duration_seconds_bucket' &&
          sample.labels.operation_type === 'query',
      )
      .map((sample) => ({ le: parseNumber(sample.labels.le ?? ''), value: sample.value }));
    expect(buckets.at(-1)).toEqual({
      le: Number.POSITIVE_INFINITY,
      value: sampleValue(after, 'graphql_request_duration_seconds_count', query),
    });
    for (let i = 1; i < buckets.length; i++) {
      expect(buckets[i]?.le).toBeGreaterThan(buckets[i - 1]?.le as number);
      expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value as number);
    }
    // And the process's own metrics.
    expect(sampleValue(after, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    // The events subgraph counted the same traffic from its side: four fetches, one rejected.
    const eventsDelta = (labels: Record<string, string>) =>
      sampleValue(eventsAfter, 'graphql_requests_total', labels) -
      sampleValue(eventsBefore, 'graphql_requests_total', labels);
    expect(eventsDelta({ operation_type: 'query', outcome: 'success' })).toBe(3);
    expect(eventsDelta({ operation_type: 'query', outcome: 'error' })).toBe(1);
    expect(eventsAfter.some((sample) => sample.name.startsWith('graphql_query_plan_cache'))).toBe(
      false,
    );
  });

  it('are not served to the public through NGINX', async () => {
    const response = await fetch(new URL('/metrics', started.topology.publicUrl));
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain('graphql_requests_total');
  });
});
