// How the web app's cache keeps a list the API pages by cursor (clients/web/src/connections.ts):
// pages asked for one after another, and the first page asked for again by a poll or a
// refetch, as Apollo Client's own InMemoryCache merges them.
import { ApolloClient, ApolloLink, gql, InMemoryCache } from '@apollo/client';
import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { pagedConnection, refetchesMerge } from '../clients/web/src/connections.ts';

const query = gql`
  query Wallet($first: Int, $after: String) {
    myTickets(first: $first, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        cursor
        node {
          id
          status
        }
      }
    }
  }
`;

interface Page {
  ids: string[];
  hasNextPage: boolean;
  status?: string;
}

const connection = ({ ids, hasNextPage, status = 'ACTIVE' }: Page) => ({
  __typename: 'TicketConnection',
  pageInfo: { __typename: 'PageInfo', hasNextPage, endCursor: ids.at(-1) ?? null },
  edges: ids.map((id) => ({
    __typename: 'TicketEdge',
    cursor: id,
    node: { __typename: 'Ticket', id, status },
  })),
});

/** A cache with the app's policy for `myTickets`, and what the page would read from it. */
function wallet() {
  const cache = new InMemoryCache({
    typePolicies: { Query: { fields: { myTickets: pagedConnection() } } },
  });
  return {
    write: (after: string | null, page: Page) =>
      cache.writeQuery({
        query,
        variables: { first: page.ids.length, after },
        data: { myTickets: connection(page) },
      }),
    read: () => {
      const read = cache.readQuery<{ myTickets: ReturnType<typeof connection> }>({
        query,
        variables: { first: 2 },
      });
      return {
        ids: read?.myTickets.edges.map((edge) => edge.node.id),
        statuses: read?.myTickets.edges.map((edge) => edge.node.status),
        hasNextPage: read?.myTickets.pageInfo.hasNextPage,
        endCursor: read?.myTickets.pageInfo.endCursor,
      };
    },
  };
}

describe('pagedConnection', () => {
  it('appends the page after the last one shown', () => {
    const cache = wallet();
    cache.write(null, { ids: ['t1', 't2'], hasNextPage: true });
    cache.write('t2', { ids: ['t3', 't4'], hasNextPage: true });
    cache.write('t4', { ids: ['t5'], hasNextPage: false });
    expect(cache.read()).toMatchObject({
      ids: ['t1', 't2', 't3', 't4', 't5'],
      hasNextPage: false,
      endCursor: 't5',
    });
  });

  it('keeps the pages loaded after the first when the first is asked for again', () => {
    const cache = wallet();
    cache.write(null, { ids: ['t1', 't2'], hasNextPage: true });
    cache.write('t2', { ids: ['t3', 't4'], hasNextPage: true });
    // A poll: a ticket bought since comes first, and what it pushed off the first page
    // is still shown once, in its place; where the next page starts is unchanged.
    cache.write(null, { ids: ['t0', 't1'], hasNextPage: true, status: 'CANCELLED' });
    expect(cache.read()).toEqual({
      ids: ['t0', 't1', 't2', 't3', 't4'],
      statuses: ['CANCELLED', 'CANCELLED', 'ACTIVE', 'ACTIVE', 'ACTIVE'],
      hasNextPage: true,
      endCursor: 't4',
    });
    // A refetch after a ticket of the first page was given away: the list closes up.
    cache.write(null, { ids: ['t0', 't2'], hasNextPage: true });
    expect(cache.read()).toMatchObject({ ids: ['t0', 't2', 't3', 't4'], endCursor: 't4' });
  });

  it('lists a ticket once when it moved onto the next page between two requests', () => {
    const cache = wallet();
    cache.write(null, { ids: ['t1', 't2'], hasNextPage: true });
    cache.write('t2', { ids: ['t1', 't3'], hasNextPage: false });
    expect(cache.read()).toMatchObject({ ids: ['t1', 't2', 't3'], hasNextPage: false });
  });

  it('shows the first page alone when none of the pages shown starts after it', () => {
    const cache = wallet();
    cache.write(null, { ids: ['t1', 't2'], hasNextPage: true });
    cache.write('t2', { ids: ['t3', 't4'], hasNextPage: true });
    cache.write(null, { ids: ['u1', 'u2'], hasNextPage: true });
    expect(cache.read()).toMatchObject({ ids: ['u1', 'u2'], hasNextPage: true, endCursor: 'u2' });
    // And a first page that is the whole list now ends it.
    cache.write(null, { ids: ['u1'], hasNextPage: false });
    expect(cache.read()).toMatchObject({ ids: ['u1'], hasNextPage: false });
  });
});

describe('a watched list with the client’s defaults', () => {
  /** The API's answer: `first` of t1…t5, newest first, after the cursor `after`. */
  const answer = (first: number, after?: string) => {
    const all = ['t1', 't2', 't3', 't4', 't5'];
    const start = after ? all.indexOf(after) + 1 : 0;
    const ids = all.slice(start, start + first);
    return { myTickets: connection({ ids, hasNextPage: start + first < all.length }) };
  };

  it('keeps the pages loaded after the first through a refetch and a mutation’s refetchQueries', async () => {
    const client = new ApolloClient({
      defaultOptions: refetchesMerge,
      link: new ApolloLink(({ variables }) =>
        of({ data: answer(variables.first, variables.after) }),
      ),
      cache: new InMemoryCache({
        typePolicies: { Query: { fields: { myTickets: pagedConnection() } } },
      }),
    });
    const watched = client.watchQuery({
      query,
      variables: { first: 2 },
      fetchPolicy: 'cache-and-network',
    });
    // Active, as a page's useQuery keeps it; what the page shows is its current result.
    const subscription = watched.subscribe(() => undefined);
    const ids = (data: unknown) =>
      (data as { myTickets?: ReturnType<typeof connection> } | undefined)?.myTickets?.edges.map(
        (edge) => edge.node.id,
      );
    const shown = () => ids(watched.getCurrentResult().data);
    try {
      await expect.poll(shown).toEqual(['t1', 't2']);
      await watched.fetchMore({ variables: { after: 't2' } });
      await expect.poll(shown).toEqual(['t1', 't2', 't3', 't4']);
      // What each refetch answers, as the page then shows it.
      expect(ids((await watched.refetch()).data)).toEqual(['t1', 't2', 't3', 't4']);
      const [refetched] = await client.refetchQueries({ include: [query] });
      expect(ids(refetched?.data)).toEqual(['t1', 't2', 't3', 't4']);
      expect(shown()).toEqual(['t1', 't2', 't3', 't4']);
    } finally {
      subscription.unsubscribe();
    }
  });
});
