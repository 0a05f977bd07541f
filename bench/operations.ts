// The GraphQL operations the benchmarks send, and the request bodies made of them. The
// operations are printed once from the typed documents that codegen.ts generates from
// bench/operations/*.graphql; those the tests send too (creating a sale, signing up, logging
// in) are the tests' own, printed by test/documents.ts. None is written out twice.
import { print } from 'graphql';
import {
  BenchListingDocument,
  BenchMixedListingDocument,
  BenchMyTicketsDocument,
  BenchOneSubgraphDocument,
  BenchPurchaseDocument,
  HotEventPageDocument,
} from './generated/operations.ts';

export {
  createSaleEventMutation,
  createSaleTierMutation,
  logInMutation,
  publishSaleEventMutation,
  signUpMutation,
} from '../test/documents.ts';

/** Served by the events subgraph alone: the same document is valid on the subgraph itself. */
export const oneSubgraphQuery = print(BenchOneSubgraphDocument);
/** The federated listing: events with their organizer (users) and tiers (tickets). */
export const listingQuery = print(BenchListingDocument);
/** A purchase that asks for the order's id alone. */
export const purchaseMutation = print(BenchPurchaseDocument);
/** The event page the web app polls (P11), also P7's event page. */
export const hotEventPage = print(HotEventPageDocument);
/** P7's listing page: filtered or not, by cursor. */
export const mixedListingQuery = print(BenchMixedListingDocument);
/** P7's signed-in user's own tickets, each with its event. */
export const myTicketsQuery = print(BenchMyTicketsDocument);

/** A JSON request body, serialised once so that what is signed is what is sent. */
export function requestBody(query: string, variables: Record<string, unknown> = {}): string {
  return JSON.stringify({ query, variables });
}

/** Fields of an event the soak picks from; some stay in the events subgraph, some cross. */
const soakFields = [
  'title',
  'venue',
  'city',
  'startsAt',
  'timezone',
  'organizer { name }',
  'ticketsAvailable',
  'ticketTiers { name available }',
] as const;

/**
 * The `index`-th of an endless series of distinct operations: each has its own operation
 * name and aliases, and a selection that varies with the index, so that every one is a new
 * document to parse, validate and plan. All stay within the gateway's operation limits.
 */
export function distinctOperation(index: number): string {
  const tag = index.toString(36);
  // A non-empty subset of the fields: the bits of a number from 1 to 255.
  const mask = (index % 255) + 1;
  const selected = soakFields
    .filter((_, bit) => mask & (1 << bit))
    .map((field, position) => `f${tag}_${position}: ${field}`);
  const query = `query Soak_${tag}($first: Int!) { e${tag}: events(first: $first) { edges { node { id ${selected.join(' ')} } } } }`;
  return requestBody(query, { first: 1 + (index % 5) });
}
