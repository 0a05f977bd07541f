// GraphQL Code Generator: the types that tie code to the SDL. Run by `npm run codegen`, at
// install (postinstall) and before every typecheck (turbo's `//#codegen`), like the Prisma
// clients: the output is not committed, so it always follows the schema it came from.
//
// - subgraphs/<name>/src/generated/resolvers.ts: each subgraph's `Resolvers` map, with
//   federation's `__resolveReference` and its parents mapped to the Prisma models. A
//   resolver that disagrees with schema.graphql fails `npm run typecheck`.
// - test/generated/operations.ts: typed documents for the tests, from the .graphql files in
//   test/operations, validated against the committed supergraph (test/documents.ts prints
//   them once as the text a client sends).
// - bench/generated/operations.ts: the same for the benchmarks' own operations, from
//   bench/operations (bench/operations.ts prints them, beside the test documents it shares).
import type { CodegenConfig } from '@graphql-codegen/cli';

type SubgraphName = 'users' | 'events' | 'tickets';

const shared = {
  useTypeImports: true,
  enumsAsTypes: true,
  // DateTime: a Date from Prisma, serialized by the scalar (packages/platform scalars.ts).
  // SafeInt: a number, within ±(2^53 − 1).
  scalars: {
    DateTime: { input: 'Date', output: 'Date | string' },
    SafeInt: { input: 'number', output: 'number' },
  },
};

/** Where a subgraph's resolver types come from and go, relative to the repository root. */
export const resolverTypesPaths = (name: SubgraphName) => ({
  schema: `subgraphs/${name}/schema.graphql`,
  output: `subgraphs/${name}/src/generated/resolvers.ts`,
});

function subgraph(
  name: SubgraphName,
  context: string,
  mappers: Record<string, string>,
): CodegenConfig['generates'] {
  const { schema, output } = resolverTypesPaths(name);
  return {
    [output]: {
      schema,
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        ...shared,
        federation: true,
        contextType: `../context.ts#${context}`,
        mappers,
        useIndexSignature: false,
        optionalResolveType: true,
        resolverTypeWrapperSignature: 'T | Promise<T>',
      },
    },
  };
}

/** Typed documents of the operations in `documents`, validated against the supergraph. */
function operations(output: string, documents: string[]): CodegenConfig['generates'] {
  return {
    [output]: {
      schema: 'gateway/supergraph.graphql',
      documents,
      plugins: ['typescript-operations', 'typed-document-node'],
      config: { ...shared, onlyOperationTypes: true },
    },
  };
}

const config: CodegenConfig = {
  overwrite: true,
  generates: {
    ...subgraph('users', 'UsersContext', {
      User: '@ticketing/prisma/users#User as UserModel',
    }),
    ...subgraph('events', 'EventsContext', {
      Event: '@ticketing/prisma/events#Event as EventModel',
      User: '../resolvers/User.ts#UserReference',
    }),
    ...subgraph('tickets', 'TicketsContext', {
      Ticket: '@ticketing/prisma/tickets#Ticket as TicketModel',
      TicketTier: '../repositories/TicketRepository.ts#TierParent',
      Order: '@ticketing/prisma/tickets#Order as OrderModel',
      Hold: '@ticketing/prisma/tickets#Hold as HoldModel',
      Event: '../resolvers/Event.ts#EventReference',
      User: '../resolvers/User.ts#UserReference',
      CheckIn: '../repositories/CheckInRepository.ts#Admission',
      OfflineScanResult: '../services/CheckInService.ts#OfflineScanResult as ScanResult',
      DoorStaff: '@ticketing/prisma/tickets#DoorStaff as DoorStaffModel',
      TicketKey: 'jose#JWK',
      EventSales: '../services/SalesService.ts#SalesReport',
      TierSales: '../repositories/TicketRepository.ts#StockedTier',
      Attendee: '../repositories/SalesRepository.ts#AttendeeRow',
      Refund: '@ticketing/prisma/tickets#Refund as RefundModel',
      WaitlistEntry: '../resolvers/Waitlist.ts#EntryParent',
      TicketTransfer: '@ticketing/prisma/tickets#TicketTransferOffer as TicketTransferModel',
    }),
    ...operations('test/generated/operations.ts', ['test/operations/*.graphql']),
    ...operations('bench/generated/operations.ts', ['bench/operations/*.graphql']),
  },
};

export default config;
