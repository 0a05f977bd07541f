/** When an event is over: at its end, or, when it names none, once it starts. */
export function endOf(event: { startsAt: Date; endsAt: Date | null }): Date {
  return event.endsAt ?? event.startsAt;
}

/**
 * Whether an event is over at `now`. The rule, once, for every service: an event whose end
 * is now has ended (it no longer takes tier changes or a cancellation that would refund it).
 */
export function hasEnded(
  event: { startsAt: Date; endsAt: Date | null },
  now = new Date(),
): boolean {
  return endOf(event) <= now;
}
