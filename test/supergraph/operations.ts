// The operations the supergraph tests send, as a client would.
import type { Supergraph } from './harness.ts';

export const authPayloadFields =
  'accessToken refreshToken accessTokenExpiresAt user { id email name role }';

export interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  user: { id: string; email: string; name: string; role: string };
}

let counter = 0;
/** An email no other test uses. */
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}@example.com`;
}

export const strongPassword = 'correct horse battery staple';

export async function signUp(
  supergraph: Supergraph,
  input: {
    email?: string;
    password?: string;
    name?: string;
    accountType?: 'CUSTOMER' | 'ORGANIZER';
  } = {},
): Promise<AuthPayload> {
  const result = await supergraph.request<{ signUp: AuthPayload }>(
    `mutation ($input: SignUpInput!) { signUp(input: $input) { ${authPayloadFields} } }`,
    {
      input: {
        email: input.email ?? uniqueEmail(),
        password: input.password ?? strongPassword,
        name: input.name ?? 'Test User',
        accountType: input.accountType ?? 'CUSTOMER',
      },
    },
  );
  if (!result.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(result.errors)}`);
  return result.data.signUp;
}

export async function logIn(
  supergraph: Supergraph,
  email: string,
  password = strongPassword,
  headers?: Record<string, string>,
) {
  return supergraph.request<{ logIn: AuthPayload }>(
    `mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { ${authPayloadFields} } }`,
    { email, password },
    headers ? { headers } : {},
  );
}

export async function refresh(supergraph: Supergraph, refreshToken: string) {
  return supergraph.request<{ refreshSession: AuthPayload }>(
    `mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${authPayloadFields} } }`,
    { refreshToken },
  );
}

export const meQuery = '{ me { id email name role } }';

export function codeOf(result: { errors?: { extensions?: Record<string, unknown> }[] }): unknown {
  return result.errors?.[0]?.extensions?.code;
}

/** Resolves once the tickets service's snapshot of an event has `status` (the outbox's hop). */
export async function snapshotReaches(
  supergraph: Supergraph,
  eventId: string,
  status: 'PUBLISHED' | 'CANCELLED',
  deadlineMs = 10_000,
): Promise<void> {
  const started = Date.now();
  while (
    (await supergraph.databases.tickets.eventSnapshot.findUnique({ where: { eventId } }))
      ?.status !== status
  ) {
    if (Date.now() - started > deadlineMs) {
      throw new Error(`the tickets service did not hear the event became ${status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Resolves once every change the events service queued has been delivered to the tickets
 * service: the relay marks a message delivered only once the tickets service answered, and
 * it answers only after it applied the change and bumped the response cache's `events`
 * tag for it. Until then that bump may come at any moment, after the mutation's answer,
 * and make a cached answer stored meanwhile unusable.
 */
export async function eventChangesDelivered(
  supergraph: Supergraph,
  deadlineMs = 10_000,
): Promise<void> {
  const undelivered = () =>
    supergraph.databases.events.outboxMessage.count({ where: { deliveredAt: null } });
  for (const started = Date.now(); (await undelivered()) > 0; ) {
    if (Date.now() - started > deadlineMs) {
      throw new Error(`${await undelivered()} event changes never reached the tickets service`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Asks to create a draft as `organizerToken`, starting in 20 days; resolves to the answer. */
export function createDraftEvent(supergraph: Supergraph, organizerToken: string, title = 'Draft') {
  return supergraph.request<{ createEvent: { id: string } }>(
    'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
    {
      input: {
        title,
        venue: 'Hall',
        city: 'Ticketton',
        timezone: 'Europe/Berlin',
        startsAt: new Date(Date.now() + 20 * 86_400_000).toISOString(),
      },
    },
    { token: organizerToken },
  );
}

/** Creates a draft as `organizerToken`, starting in 20 days; resolves to its id. */
export async function draftEvent(
  supergraph: Supergraph,
  organizerToken: string,
  title = 'Draft',
): Promise<string> {
  const created = await createDraftEvent(supergraph, organizerToken, title);
  return created.data?.createEvent.id as string;
}

/** Creates and publishes an event as `organizerToken`, once the tickets service knows it. */
export async function publishedEvent(
  supergraph: Supergraph,
  organizerToken: string,
  title = 'Concert',
): Promise<string> {
  const id = await draftEvent(supergraph, organizerToken, title);
  await supergraph.request(
    'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
    { id },
    { token: organizerToken },
  );
  await snapshotReaches(supergraph, id, 'PUBLISHED');
  return id;
}

/** Cancels `eventId` as `organizerToken`, and waits for the tickets service to know it. */
export async function cancelledEvent(
  supergraph: Supergraph,
  organizerToken: string,
  eventId: string,
): Promise<void> {
  const cancelled = await supergraph.request(
    'mutation ($id: ID!) { cancelEvent(id: $id) { id } }',
    { id: eventId },
    { token: organizerToken },
  );
  if (cancelled.errors) throw new Error(`cancelEvent failed: ${JSON.stringify(cancelled.errors)}`);
  await snapshotReaches(supergraph, eventId, 'CANCELLED');
}

/**
 * Renames `eventId` as `organizerToken` through gateway `gateway` to a title no other test
 * uses; resolves to that title once the mutation has answered.
 */
export async function renamedEvent(
  supergraph: Supergraph,
  organizerToken: string,
  eventId: string,
  gateway = 1,
): Promise<string> {
  const title = `Renamed ${crypto.randomUUID().slice(0, 8)}`;
  const updated = await supergraph.request(
    'mutation ($id: ID!, $title: String!) { updateEvent(id: $id, input: { title: $title }) { id } }',
    { id: eventId, title },
    { token: organizerToken, gateway },
  );
  if (updated.errors) throw new Error(`updateEvent failed: ${JSON.stringify(updated.errors)}`);
  return title;
}

/** A published event of `organizerToken`'s with a tier for each of `tiers`, on sale. */
export async function eventOnSale(
  supergraph: Supergraph,
  organizerToken: string,
  tiers: Record<string, unknown>[],
): Promise<{ eventId: string; tierIds: string[] }> {
  const eventId = await publishedEvent(supergraph, organizerToken, 'On sale');
  const tierIds: string[] = [];
  for (const input of tiers) {
    const tier = await supergraph.request<{ createTicketTier: { id: string } }>(
      'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
      { eventId, input },
      { token: organizerToken },
    );
    if (!tier.data) throw new Error(`createTicketTier failed: ${JSON.stringify(tier.errors)}`);
    tierIds.push(tier.data.createTicketTier.id);
  }
  return { eventId, tierIds };
}
