// An event postponed after its doors opened, through the gateway and the events outbox: the
// organizer moves the start later, and the tickets admitted for the old date are let in
// again at the new one and refunded by the buyer's usual rules. (The race of scans with the
// postponement and its redelivery: subgraphs/tickets/test/postponement.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDoorStaff, buyTickets, scan } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import { type AuthPayload, codeOf, eventOnSale, signUp } from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
let staff: AuthPayload;
let holder: AuthPayload;

beforeAll(async () => {
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
  staff = await signUp(supergraph, { name: 'Dora Door' });
  holder = await signUp(supergraph, { name: 'Hilda Holder' });
});
afterAll(async () => {
  await supergraph?.stop();
});

/** Waits until the tickets service has the event's new start. */
async function startReaches(eventId: string, startsAt: Date, deadlineMs = 10_000) {
  const started = Date.now();
  while (
    (
      await supergraph.databases.tickets.eventSnapshot.findUnique({ where: { eventId } })
    )?.startsAt.getTime() !== startsAt.getTime()
  ) {
    if (Date.now() - started > deadlineMs) throw new Error('the postponement did not arrive');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('an event postponed after tickets were admitted', () => {
  it('admits them again at the new date, and lets the buyer refund them', async () => {
    const tier = { name: 'Hall', priceCents: 2000, currency: 'EUR', capacity: 10 };
    const { eventId, tierIds } = await eventOnSale(supergraph, organizer.accessToken, [tier]);
    await addDoorStaff(supergraph, organizer.accessToken, eventId, staff.user.email);
    const [kept, refunded] = await buyTickets(
      supergraph,
      holder.accessToken,
      tierIds[0] as string,
      2,
    );
    if (!kept || !refunded) throw new Error('no tickets');
    for (const ticket of [kept, refunded]) {
      expect(
        (await scan(supergraph, staff.accessToken, ticket.code, eventId)).errors,
      ).toBeUndefined();
    }
    const { data: bought } = await supergraph.request<{ ticket: { order: { id: string } } }>(
      'query ($id: ID!) { ticket(id: $id) { order { id } } }',
      { id: refunded.id },
      { token: holder.accessToken },
    );
    const orderId = bought?.ticket.order.id as string;
    const refund = () =>
      supergraph.request<{ refundOrder: { status: string } }>(
        'mutation ($orderId: ID!, $ticketIds: [ID!]) { refundOrder(orderId: $orderId, ticketIds: $ticketIds) { status } }',
        { orderId, ticketIds: [refunded.id] },
        { token: holder.accessToken },
      );
    expect(codeOf(await refund())).toBe('TICKET_CHECKED_IN');

    // Postponed by ten days (the event starts in 20).
    const startsAt = new Date(Date.now() + 30 * 86_400_000);
    const moved = await supergraph.request(
      'mutation ($id: ID!, $input: UpdateEventInput!) { updateEvent(id: $id, input: $input) { id } }',
      { id: eventId, input: { startsAt: startsAt.toISOString() } },
      { token: organizer.accessToken },
    );
    expect(moved.errors).toBeUndefined();
    await startReaches(eventId, startsAt);

    const again = await scan(supergraph, staff.accessToken, kept.code, eventId);
    expect(again.errors).toBeUndefined();
    expect(again.data?.checkInTicket.ticket.owner.name).toBe('Hilda Holder');
    const refundedNow = await refund();
    expect(refundedNow.errors).toBeUndefined();
    expect(refundedNow.data?.refundOrder.status).toBe('PARTIALLY_REFUNDED');
    const counts = await supergraph.request<{ event: { checkIns: { checkedIn: number } } }>(
      'query ($id: ID!) { event(id: $id) { checkIns { checkedIn total } } }',
      { id: eventId },
      { token: staff.accessToken },
    );
    expect(counts.data?.event.checkIns).toEqual({ checkedIn: 1, total: 1 });
  });
});
