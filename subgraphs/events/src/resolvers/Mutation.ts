import type { MutationResolvers } from '../generated/resolvers.ts';

// Thin: each mutation hands its arguments and the caller to the event service, which
// validates them (the argument types come from schema.graphql, through codegen.ts).
export const Mutation: MutationResolvers = {
  createEvent: (_, { input }, { service, viewer }) => service.create(viewer, input),

  updateEvent: (_, { id, input }, { service, viewer }) => service.update(viewer, id, input),

  publishEvent: (_, { id }, { service, viewer }) => service.publish(viewer, id),

  cancelEvent: (_, { id, reason }, { service, viewer }) => service.cancel(viewer, id, reason),

  deleteEvent: (_, { id }, { service, viewer }) => service.delete(viewer, id),

  closeOrganizer: (_, __, { service, viewer }) => service.closeOrganizer(viewer),

  reopenOrganizer: (_, __, { service, viewer }) => service.reopenOrganizer(viewer),
};
