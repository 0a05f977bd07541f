// The lists the API pages by cursor (Relay connections: edges, pageInfo { hasNextPage
// endCursor }), as the cache keeps them. Every such list of the app grows by `LoadMore`
// (ui.tsx), which asks for the page after the last one shown.
import type { DefaultOptions, FieldMergeFunction, FieldPolicy, Reference } from '@apollo/client';
import { relayStylePagination } from '@apollo/client/utilities';

interface StoredEdge {
  cursor?: string;
  node?: Reference | { id?: string };
}
interface StoredConnection {
  edges: StoredEdge[];
  pageInfo?: { hasNextPage?: boolean; endCursor?: string | null };
}

/**
 * The cache's policy for a connection field: a page asked for with `after` is appended to the
 * pages shown, and the first page asked for again (a poll, or a refetch after a mutation)
 * replaces the first page only, so the pages loaded after it stay. A node is listed once,
 * where it was first shown, even if it moved from one page to another between two requests.
 */
export function pagedConnection(keyArgs: string[] | false = false): FieldPolicy<StoredConnection> {
  const relay = relayStylePagination(keyArgs) as FieldPolicy<StoredConnection>;
  const merge = relay.merge as FieldMergeFunction<StoredConnection>;
  return {
    ...relay,
    merge(existing, incoming, options) {
      const merged = merge(existing, incoming, options) as StoredConnection;
      const { args, isReference } = options;
      const identity = (edge: StoredEdge) =>
        isReference(edge.node) ? edge.node.__ref : (edge.node?.id ?? edge.cursor);
      let edges = merged.edges;
      let pageInfo = merged.pageInfo;
      const end = incoming.pageInfo?.endCursor;
      if (existing && !args?.after && !args?.before && incoming.pageInfo?.hasNextPage && end) {
        // The first page again: the pages loaded after its last edge follow it, as they were.
        const last = existing.edges.findIndex((edge) => edge.cursor === end);
        if (last >= 0) {
          edges = [...edges, ...existing.edges.slice(last + 1)];
          pageInfo = { ...pageInfo, ...existing.pageInfo };
        }
      }
      const seen = new Set<unknown>();
      edges = edges.filter((edge) => {
        const id = identity(edge);
        if (id === undefined) return true;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      });
      return { ...merged, edges, ...(pageInfo ? { pageInfo } : {}) };
    },
  };
}

/**
 * The client's default: a refetch (`refetch()`, a mutation's `refetchQueries`) merges its
 * answer as a poll does. Apollo's own default writes it over the field, which would hand
 * `pagedConnection` nothing to keep and drop every page loaded after the first.
 */
export const refetchesMerge: DefaultOptions = { watchQuery: { refetchWritePolicy: 'merge' } };
