// The demo data set that `npm start` seeds into empty databases. Each service seeds its
// own part; the ids are fixed so that references across services line up.

/** Every demo account's password, for trying the API locally. Never use demo data in production. */
export const demoPassword = 'ticketing-demo-password';

export const demoUsers = [
  { id: '0190a000-0000-7000-8000-000000000001', email: 'ada@example.com', name: 'Ada Lovelace', role: 'ORGANIZER' },
  { id: '0190a000-0000-7000-8000-000000000002', email: 'grace@example.com', name: 'Grace Hopper', role: 'ORGANIZER' },
  { id: '0190a000-0000-7000-8000-000000000003', email: 'alan@example.com', name: 'Alan Turing', role: 'CUSTOMER' },
  { id: '0190a000-0000-7000-8000-000000000004', email: 'edsger@example.com', name: 'Edsger Dijkstra', role: 'CUSTOMER' },
] as const;

const [ada, grace, alan, edsger] = demoUsers;

const day = 24 * 60 * 60 * 1000;

/** A start time `days` from the seeding day at 19:00 UTC, so demo events lie ahead. */
function eveningIn(days: number, now: Date): Date {
  const date = new Date(now.getTime() + days * day);
  date.setUTCHours(19, 0, 0, 0);
  return date;
}

export function demoEvents(now = new Date()) {
  return [
    { id: '0190a000-0000-7000-8001-000000000001', title: 'Analytical Engines Live', venue: 'Barbican Hall', city: 'London', timezone: 'Europe/London', startsInDays: 10, organizerId: ada.id },
    { id: '0190a000-0000-7000-8001-000000000002', title: 'Compilers Unplugged', venue: 'Paradiso', city: 'Amsterdam', timezone: 'Europe/Amsterdam', startsInDays: 14, organizerId: grace.id },
    { id: '0190a000-0000-7000-8001-000000000003', title: 'Notes on the Engine', venue: 'Royal Albert Hall', city: 'London', timezone: 'Europe/London', startsInDays: 21, organizerId: ada.id },
    { id: '0190a000-0000-7000-8001-000000000004', title: 'Nanoseconds Tour', venue: 'Berghain', city: 'Berlin', timezone: 'Europe/Berlin', startsInDays: 30, organizerId: grace.id },
    { id: '0190a000-0000-7000-8001-000000000005', title: 'Bugs in the Relay', venue: 'Olympia', city: 'Paris', timezone: 'Europe/Paris', startsInDays: 45, organizerId: grace.id },
    { id: '0190a000-0000-7000-8001-000000000006', title: 'Poetical Science Night', venue: 'Usher Hall', city: 'Edinburgh', timezone: 'Europe/London', startsInDays: 60, organizerId: ada.id },
  ].map(({ startsInDays, ...event }) => {
    const startsAt = eveningIn(startsInDays, now);
    return {
      ...event,
      cityKey: event.city.toLowerCase(),
      description: `${event.title}, live at ${event.venue}.`,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 3 * 60 * 60 * 1000),
      status: 'PUBLISHED' as const,
      publishedAt: now,
    };
  });
}

/** Two tiers an event: general admission and a small VIP tier. */
export function demoTicketTiers() {
  return demoEvents().flatMap((event, index) => [
    { id: `0190a000-0000-7000-8002-${String(index * 2 + 1).padStart(12, '0')}`, eventId: event.id, name: 'General admission', priceCents: 4500, currency: 'EUR', capacity: 200, maxPerOrder: 10 },
    { id: `0190a000-0000-7000-8002-${String(index * 2 + 2).padStart(12, '0')}`, eventId: event.id, name: 'VIP', priceCents: 12000, currency: 'EUR', capacity: 20, maxPerOrder: 4 },
  ]);
}

export const demoTickets = [
  { id: '0190a000-0000-7000-8003-000000000001', tierIndex: 0, ownerId: alan.id },
  { id: '0190a000-0000-7000-8003-000000000002', tierIndex: 0, ownerId: alan.id },
  { id: '0190a000-0000-7000-8003-000000000003', tierIndex: 1, ownerId: edsger.id },
  { id: '0190a000-0000-7000-8003-000000000004', tierIndex: 2, ownerId: edsger.id },
] as const;
