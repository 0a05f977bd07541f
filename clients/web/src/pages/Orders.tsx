import { useMutation, useQuery } from '@apollo/client/react';
import { useEffect, useRef, useState } from 'react';
import {
  CancelTicketDocument,
  MyOrdersDocument,
  MyTicketsDocument,
  MyTicketTransfersDocument,
} from '../gql/graphql.ts';
import { useSession } from '../session.ts';
import { announce, BusyButton, ErrorNote, LoadMore, money, PageHeading, when } from '../ui.tsx';
import { IncomingOffers, offeredTo, TicketCode, Wallet } from './Tickets.tsx';

/** How often the page asks for offers made to or by the user (a receiver's answer). */
export const offerPollMs = 15_000;

/** An ordered ticket's state: an active one without its code was given to someone else. */
function badge(ticket: { status: string; code: string | null }) {
  if (ticket.status !== 'ACTIVE') return 'Cancelled';
  return ticket.code ? 'Valid' : 'Given away';
}

/**
 * The user's tickets (with offers made to them) and orders, newest first, each ticket with
 * its QR code. One note says what failed, whichever list it was.
 */
export function Orders() {
  const me = useSession()?.user.id ?? '';
  const { data, error, fetchMore } = useQuery(MyOrdersDocument, {
    variables: { first: 10 },
    fetchPolicy: 'cache-and-network',
  });
  const tickets = useQuery(MyTicketsDocument, {
    variables: { first: 20 },
    fetchPolicy: 'cache-and-network',
  });
  const transfers = useQuery(MyTicketTransfersDocument, {
    variables: { first: 50 },
    fetchPolicy: 'cache-and-network',
    pollInterval: offerPollMs,
  });
  // An offer of the user's that was answered leaves the list: the wallet follows.
  const pending = transfers.data?.myTicketTransfers.edges.map(({ node }) => node.id).join();
  const seen = useRef(pending);
  const refetchTickets = tickets.refetch;
  useEffect(() => {
    if (seen.current !== undefined && pending !== seen.current) void refetchTickets();
    seen.current = pending;
  }, [pending, refetchTickets]);
  const [cancel, cancelling] = useMutation(CancelTicketDocument);
  // The ticket being cancelled: its button says so, and the others stay as they are.
  const [cancelled, setCancelled] = useState<string>();
  const cancelTicket = (id: string) => {
    setCancelled(id);
    cancel({ variables: { id } })
      .then(() => announce('Ticket cancelled.', { takeFocus: true }))
      .catch(() => undefined);
  };
  const orders = data?.myOrders;
  const incoming = (transfers.data?.myTicketTransfers.edges ?? [])
    .map(({ node }) => node)
    .filter((offer) => offer.status === 'PENDING' && offeredTo(offer, me));

  return (
    <section>
      <PageHeading>My tickets</PageHeading>
      <ErrorNote error={error ?? tickets.error ?? transfers.error ?? cancelling.error} />
      <IncomingOffers offers={incoming} />
      <LoadMore
        pageInfo={transfers.data?.myTicketTransfers.pageInfo}
        fetchMore={transfers.fetchMore}
        label="Load more offers"
      />
      <Wallet tickets={tickets.data?.myTickets} />
      <LoadMore
        pageInfo={tickets.data?.myTickets.pageInfo}
        fetchMore={tickets.fetchMore}
        label="Load more tickets"
      />
      <h2>My orders</h2>
      {orders?.edges.length === 0 && <p className="muted">No orders yet.</p>}
      {orders?.edges.map(({ node: order }) => (
        <article key={order.id} className="card order" data-testid="order">
          {order.event ? (
            <>
              <h3>
                <a href={`#/events/${order.event.id}`}>{order.event.title}</a>
              </h3>
              <p className="muted">
                {when(order.event.startsAt, order.event.timezone)} · <bdi>{order.event.venue}</bdi>,{' '}
                <bdi>{order.event.city}</bdi> · {money(order.totalCents, order.currency)}
              </p>
            </>
          ) : (
            // The events service did not answer: the order and its tickets still show.
            <p className="muted">{money(order.totalCents, order.currency)}</p>
          )}
          <ul className="tickets">
            {order.tickets.map((ticket) => (
              <li key={ticket.id} data-testid="ticket" data-status={ticket.status}>
                {ticket.status === 'ACTIVE' && ticket.code ? (
                  <TicketCode code={ticket.code} />
                ) : null}
                <div>
                  <strong>
                    <bdi>{ticket.tier.name}</bdi>
                  </strong>
                  <p className={ticket.status === 'CANCELLED' ? 'badge cancelled' : 'badge'}>
                    {badge(ticket)}
                  </p>
                  {ticket.status === 'ACTIVE' && ticket.code && (
                    <BusyButton
                      type="button"
                      busy={cancelling.loading && cancelled === ticket.id}
                      busyLabel="Cancelling…"
                      onClick={() => cancelTicket(ticket.id)}
                    >
                      Cancel ticket
                    </BusyButton>
                  )}
                </div>
              </li>
            ))}
          </ul>
        </article>
      ))}
      <LoadMore pageInfo={orders?.pageInfo} fetchMore={fetchMore} label="Load more orders" />
    </section>
  );
}
