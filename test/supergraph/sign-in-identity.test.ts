// What a sign-in's answer holds (`signUp`, `logIn`, `refreshSession` › `user { … }`) is
// read as the person who signed in, in every subgraph, and nothing else in the request is.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GraphQLResult, gatewayOver, type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  draftEvent,
  eventOnSale,
  signUp,
  strongPassword,
  uniqueEmail,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let organizerEmail: string;
let draftId: string;
let tierId: string;
let saleEventId: string;
const buyers: { email: string; session: AuthPayload; ticketIds: string[] }[] = [];
const extraGateways: RunningService[] = [];
const proxies: Server[] = [];

const ticketsSelection = 'tickets { totalCount edges { node { id } } }';

async function buy(token: string): Promise<string> {
  const bought = await supergraph.request<{ purchaseTickets: { tickets: { id: string }[] } }>(
    'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { tickets { id } } }',
    { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
    { token },
  );
  const id = bought.data?.purchaseTickets.tickets[0]?.id;
  if (!id) throw new Error(`purchaseTickets failed: ${JSON.stringify(bought.errors)}`);
  return id;
}

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizerEmail = uniqueEmail('organizer');
  organizer = await signUp(supergraph, { email: organizerEmail, accountType: 'ORGANIZER' });
  draftId = await draftEvent(supergraph, organizer.accessToken, 'Still a draft');
  const sale = await eventOnSale(supergraph, organizer.accessToken, [
    { name: 'General', priceCents: 1000, currency: 'EUR', capacity: 50 },
  ]);
  tierId = sale.tierIds[0] as string;
  saleEventId = sale.eventId;
  for (const label of ['ada', 'alan']) {
    const email = uniqueEmail(label);
    const session = await signUp(supergraph, { email });
    buyers.push({ email, session, ticketIds: [await buy(session.accessToken)] });
  }
});
afterAll(async () => {
  for (const gateway of extraGateways) await gateway.stop();
  for (const proxy of proxies) {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  }
  await supergraph?.stop();
});

const buyer = (index: number) => buyers[index] as (typeof buyers)[number];

type Tickets = { totalCount: number; edges: { node: { id: string } }[] };
type SignedIn = { user: { id: string; tickets: Tickets | null } };

const ticketIdsOf = (tickets: Tickets | null | undefined) =>
  tickets?.edges.map((edge) => edge.node.id);

/** The events subgraph's callers during `send`, as user ids (null for anonymous). */
async function eventsCallersDuring<T>(send: () => Promise<T>) {
  supergraph.eventsViewers.length = 0;
  const result = await send();
  return { result, callers: supergraph.eventsViewers.map((viewer) => viewer?.userId ?? null) };
}

describe('the user a sign-in answers with', () => {
  it('is read as the person who logged in: their tickets, from the tickets subgraph', async () => {
    const { email, ticketIds } = buyer(0);
    const result = await supergraph.request<{ logIn: SignedIn }>(
      `mutation ($email: String!, $password: String!) {
        logIn(email: $email, password: $password) { user { id ${ticketsSelection} } } }`,
      { email, password: strongPassword },
    );
    expect(result.errors).toBeUndefined();
    expect(ticketIdsOf(result.data?.logIn.user.tickets)).toEqual(ticketIds);
  });

  it('is read as that person below it too: a ticket’s code, its owner’s email', async () => {
    const { email } = buyer(0);
    const result = await supergraph.request<{
      logIn: {
        user: { tickets: { edges: { node: { code: string; owner: { email: string } } }[] } };
      };
    }>(
      `mutation ($email: String!, $password: String!) {
        logIn(email: $email, password: $password) {
          user { tickets { edges { node { code owner { email } } } } } } }`,
      { email, password: strongPassword },
    );
    expect(result.errors).toBeUndefined();
    const [ticket] = result.data?.logIn.user.tickets.edges ?? [];
    expect(ticket?.node.code).toBeTruthy();
    expect(ticket?.node.owner.email).toBe(email);
  });

  it('is read as the person who signed up', async () => {
    const result = await supergraph.request<{ signUp: SignedIn }>(
      `mutation ($input: SignUpInput!) { signUp(input: $input) { user { id ${ticketsSelection} } } }`,
      { input: { email: uniqueEmail('new'), password: strongPassword, name: 'New' } },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.signUp.user.tickets).toEqual({ totalCount: 0, edges: [] });
  });

  it('is read as the person whose session was refreshed', async () => {
    const { session, ticketIds } = buyer(1);
    const result = await supergraph.request<{ refreshSession: SignedIn & AuthPayload }>(
      `mutation ($refreshToken: String!) {
        refreshSession(refreshToken: $refreshToken) { refreshToken user { id ${ticketsSelection} } } }`,
      { refreshToken: session.refreshToken },
    );
    expect(result.errors).toBeUndefined();
    expect(ticketIdsOf(result.data?.refreshSession.user.tickets)).toEqual(ticketIds);
    session.refreshToken = result.data?.refreshSession.refreshToken as string;
  });

  it('is read as the organizer in the events subgraph: their drafts too', async () => {
    const { result, callers } = await eventsCallersDuring(() =>
      supergraph.request<{
        signedIn: { user: { organizedEvents: { edges: { node: { id: string } }[] } } };
      }>(
        `mutation ($email: String!, $password: String!) {
          signedIn: logIn(email: $email, password: $password) {
            user { organizedEvents { edges { node { id } } } } } }`,
        { email: organizerEmail, password: strongPassword },
      ),
    );
    expect(result.errors).toBeUndefined();
    const ids = result.data?.signedIn.user.organizedEvents.edges.map((edge) => edge.node.id);
    expect(ids).toContain(draftId);
    expect(callers).toEqual([organizer.user.id]);
  });

  it('answers no token, and no extension, that the client did not select', async () => {
    const response = await fetch(supergraph.gatewayUrls[0] as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `mutation ($email: String!, $password: String!) {
          logIn(email: $email, password: $password) { user { id ${ticketsSelection} } } }`,
        variables: { email: buyer(0).email, password: strongPassword },
      }),
    });
    const text = await response.text();
    const body = JSON.parse(text);
    expect(body.errors).toBeUndefined();
    expect(Object.keys(body)).toEqual(['data']);
    // Every access token is a JWT, whose header starts `{"` in base64url.
    expect(text).not.toContain('eyJ');
    expect(response.headers.get('cache-control') ?? '').not.toMatch(/public/);
  });
});

describe('what else a mutation with a sign-in holds', () => {
  it('reads each sign-in’s user as its own person, under its own alias', async () => {
    // One password field a request (PASSWORD_FIELDS_LIMIT): a logIn and a refresh.
    const [ada, alan] = [buyer(0), buyer(1)];
    const result = await supergraph.request<{
      ada: SignedIn;
      alan: SignedIn & { refreshToken: string };
    }>(
      `mutation ($ada: String!, $password: String!, $alan: String!) {
        ada: logIn(email: $ada, password: $password) { user { id ${ticketsSelection} } }
        alan: refreshSession(refreshToken: $alan) { refreshToken user { id ${ticketsSelection} } } }`,
      { ada: ada.email, password: strongPassword, alan: alan.session.refreshToken },
    );
    expect(result.errors).toBeUndefined();
    expect(ticketIdsOf(result.data?.ada.user.tickets)).toEqual(ada.ticketIds);
    expect(ticketIdsOf(result.data?.alan.user.tickets)).toEqual(alan.ticketIds);
    alan.session.refreshToken = result.data?.alan.refreshToken as string;
  });

  it('keeps the request’s own caller in the other root fields', async () => {
    const caller = buyer(1);
    const idempotencyKey = randomUUID();
    const result = await supergraph.request<{ logIn: SignedIn }>(
      `mutation ($email: String!, $password: String!, $input: PurchaseInput!) {
        logIn(email: $email, password: $password) { user { id } }
        purchaseTickets(input: $input) { id } }`,
      {
        email: buyer(0).email,
        password: strongPassword,
        input: { tierId, quantity: 1, idempotencyKey },
      },
      { token: caller.session.accessToken },
    );
    expect(result.errors).toBeUndefined();
    const order = await supergraph.databases.tickets.order.findFirst({ where: { idempotencyKey } });
    expect(order?.buyerId).toBe(caller.session.user.id);
  });

  it('keeps an anonymous caller anonymous in the other root fields', async () => {
    const ordersBefore = await supergraph.databases.tickets.order.count();
    const result = await supergraph.request(
      `mutation ($email: String!, $password: String!, $input: PurchaseInput!) {
        logIn(email: $email, password: $password) { user { id } }
        purchaseTickets(input: $input) { id } }`,
      {
        email: buyer(0).email,
        password: strongPassword,
        input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
      },
    );
    expect(codeOf(result)).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.path).toEqual(['purchaseTickets']);
    expect(await supergraph.databases.tickets.order.count()).toBe(ordersBefore);
  });

  it('keeps the caller in a root field aliased as the sign-in’s name', async () => {
    const caller = buyer(1);
    const { result, callers } = await eventsCallersDuring(() =>
      supergraph.request<{ logIn: { event: { id: string } } }>(
        `mutation ($email: String!, $password: String!, $input: PurchaseInput!) {
          signedIn: logIn(email: $email, password: $password) { user { id } }
          logIn: purchaseTickets(input: $input) { event { id title } } }`,
        {
          email: organizerEmail,
          password: strongPassword,
          input: { tierId, quantity: 1, idempotencyKey: randomUUID() },
        },
        { token: caller.session.accessToken },
      ),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data?.logIn.event.id).toBeTruthy();
    expect(callers).toEqual([caller.session.user.id]);
  });

  it('gives a failed logIn’s account to nothing', async () => {
    const result = await supergraph.request(
      `mutation ($email: String!, $password: String!) {
        logIn(email: $email, password: $password) { user { id ${ticketsSelection} } } }`,
      { email: buyer(0).email, password: 'not the password at all' },
    );
    expect(codeOf(result)).toBe('INVALID_CREDENTIALS');
    expect(result.data).toBeNull();
    expect(JSON.stringify(result)).not.toContain(buyer(0).ticketIds[0]);
  });
});

/**
 * A gateway over the test supergraph whose `subgraph` is behind a proxy that offers the
 * organizer's access token (a real one) for every root field of each of its answers.
 */
async function gatewayWithTokensAddedBy(subgraph: 'users' | 'tickets') {
  const subgraphUrl = new URL(supergraph.subgraphUrls[subgraph]);
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([name]) => !['host', 'content-length'].includes(name)),
    ) as Record<string, string>;
    const answer = await fetch(new URL(req.url ?? '/', subgraphUrl), {
      method: req.method ?? 'POST',
      headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    const body = (await answer.json()) as { data?: object; extensions?: object };
    const offered = Object.keys(body.data ?? {}).map((key) => [key, organizer.accessToken]);
    body.extensions = { ...body.extensions, issuedAccessTokens: Object.fromEntries(offered) };
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxies.push(proxy);
  const gateway = await gatewayOver(supergraph, {
    LOG_LEVEL: 'silent',
    [`${subgraph.toUpperCase()}_URL`]: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`,
  });
  extraGateways.push(gateway);
  return gateway;
}

async function postAs(url: string, token: string, query: string, variables = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResult;
}

describe('an identity offered other than by a sign-in', () => {
  it('from a subgraph other than users is ignored: the fields under it keep the caller', async () => {
    const caller = buyer(1);
    const gateway = await gatewayWithTokensAddedBy('tickets');
    const { result, callers } = await eventsCallersDuring(() =>
      postAs(
        gateway.url,
        caller.session.accessToken,
        'mutation ($input: PurchaseInput!) { purchaseTickets(input: $input) { event { id title } } }',
        { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
      ),
    );
    expect(result.errors).toBeUndefined();
    expect(callers).toEqual([caller.session.user.id]);
  });

  it('from users, for a root field that is not a sign-in, is ignored', async () => {
    const caller = buyer(0);
    const gateway = await gatewayWithTokensAddedBy('users');
    const result = await postAs(
      gateway.url,
      caller.session.accessToken,
      `mutation { updateProfile(input: { name: "Ada" }) { id ${ticketsSelection} } }`,
    );
    expect(result.errors).toBeUndefined();
    const updated = result.data?.updateProfile as SignedIn['user'];
    expect(ticketIdsOf(updated.tickets)).toEqual(caller.ticketIds);
  });
});

describe('a fetch under a sign-in, in flight', () => {
  it('is never shared with an anonymous request that sends the same fetch', async () => {
    // An anonymous reader asks for the organizer's tickets through an event: the tickets
    // subgraph is sent the same fetch as for the organizer's own logIn, which may read them.
    const eventQuery = `query ($id: ID!) { event(id: $id) { organizer { tickets { totalCount } } } }`;
    let signingIn = true;
    const anonymous: GraphQLResult[] = [];
    const reader = async () => {
      while (signingIn) anonymous.push(await supergraph.request(eventQuery, { id: saleEventId }));
    };
    const readers = Array.from({ length: 6 }, reader);
    const signIns: GraphQLResult[] = [];
    for (let round = 0; round < 5; round++) {
      signIns.push(
        await supergraph.request(
          `mutation ($email: String!, $password: String!) {
            logIn(email: $email, password: $password) { user { tickets { totalCount } } } }`,
          { email: organizerEmail, password: strongPassword },
        ),
      );
    }
    signingIn = false;
    await Promise.all(readers);
    for (const signIn of signIns) expect(signIn.errors).toBeUndefined();
    expect(anonymous.length).toBeGreaterThan(0);
    for (const read of anonymous) expect(codeOf(read)).toBe('FORBIDDEN');
  });
});
