import type { EventsContext } from '../context.ts';

// Thin: each mutation hands its arguments and the caller to the event service.
export const Mutation = {
  createEvent: (_: unknown, { input }: { input: unknown }, { service, viewer }: EventsContext) =>
    service.create(viewer, input),

  updateEvent: (
    _: unknown,
    { id, input }: { id: string; input: unknown },
    { service, viewer }: EventsContext,
  ) => service.update(viewer, id, input),

  publishEvent: (_: unknown, { id }: { id: string }, { service, viewer }: EventsContext) =>
    service.publish(viewer, id),

  cancelEvent: (
    _: unknown,
    { id, reason }: { id: string; reason?: string | null },
    { service, viewer }: EventsContext,
  ) => service.cancel(viewer, id, reason),

  deleteEvent: (_: unknown, { id }: { id: string }, { service, viewer }: EventsContext) =>
    service.delete(viewer, id),
};
