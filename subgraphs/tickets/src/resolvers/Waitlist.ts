import type { TicketsContext } from '../context.ts';
import type { QueuedEntry } from '../repositories/WaitlistRepository.ts';

const unconfigured = () => new Error('This context was built without the waitlist');
function waitlistOf(context: TicketsContext) {
  if (!context.waitlist) throw unconfigured();
  return context.waitlist;
}

// Thin: the waitlist's operations, handed to its service with the caller.
export const WaitlistMutation = {
  joinWaitlist: (
    _: unknown,
    { tierId, quantity }: { tierId: string; quantity: number },
    context: TicketsContext,
  ) => waitlistOf(context).join(context.viewer, tierId, quantity),

  leaveWaitlist: (_: unknown, { tierId }: { tierId: string }, context: TicketsContext) =>
    waitlistOf(context).leave(context.viewer, tierId),
};

export const WaitlistQuery = {
  myWaitlist: (_: unknown, __: unknown, context: TicketsContext) =>
    waitlistOf(context).mine(context.viewer),
};

/** An entry from join has no place or offers loaded: it has none yet. */
export type EntryParent = Omit<QueuedEntry, 'place' | 'openOffers'> & Partial<QueuedEntry>;

export const WaitlistEntry = {
  async tier(entry: EntryParent, _: unknown, { loaders }: TicketsContext) {
    const tier = await loaders.tierById.load(entry.tierId);
    if (!tier) throw new Error(`Tier ${entry.tierId} is missing`);
    return tier;
  },
  // An entry closed because its buyer, served, queued again is LEFT only to free its place
  // in the one-live-entry index (see WaitlistRepository.join): it shows as it stood.
  status: (entry: EntryParent) =>
    entry.requeued && entry.status === 'LEFT' ? 'OFFERED' : entry.status,
  place: (entry: EntryParent) => entry.place ?? null,
  offers: (entry: EntryParent) => entry.openOffers ?? [],
  joinedAt: (entry: EntryParent) => entry.createdAt,
};
