import { useMutation, useQuery } from '@apollo/client/react';
import QRCode from 'qrcode';
import { useEffect, useState } from 'react';
import { CancelTicketDocument, MyOrdersDocument } from '../gql/graphql.ts';
import { ErrorNote, money, when } from '../ui.tsx';

/** A ticket's code as a QR image, for the door's scanner. */
function TicketCode({ code }: { code: string }) {
  const [src, setSrc] = useState<string>();
  useEffect(() => {
    QRCode.toDataURL(code, { margin: 1, width: 144 }).then(setSrc, () => setSrc(undefined));
  }, [code]);
  return src ? <img className="qr" src={src} alt={`Ticket code ${code}`} /> : null;
}

/** The buyer's orders, newest first, each ticket with its QR code. */
export function Orders() {
  const { data, error, fetchMore, loading } = useQuery(MyOrdersDocument, {
    variables: { first: 10 },
    fetchPolicy: 'cache-and-network',
  });
  const [cancel, cancelling] = useMutation(CancelTicketDocument);
  const orders = data?.myOrders;

  return (
    <section>
      <h1>My orders</h1>
      <ErrorNote error={error ?? cancelling.error} />
      {orders?.edges.length === 0 && <p className="muted">No orders yet.</p>}
      {orders?.edges.map(({ node: order }) => (
        <article key={order.id} className="card order" data-testid="order">
          {order.event ? (
            <>
              <h2>
                <a href={`#/events/${order.event.id}`}>{order.event.title}</a>
              </h2>
              <p className="muted">
                {when(order.event.startsAt, order.event.timezone)} · {order.event.venue},{' '}
                {order.event.city} · {money(order.totalCents, order.currency)}
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
                  <strong>{ticket.tier.name}</strong>
                  <p className={ticket.status === 'CANCELLED' ? 'badge cancelled' : 'badge'}>
                    {ticket.status === 'ACTIVE' ? 'Valid' : 'Cancelled'}
                  </p>
                  {ticket.status === 'ACTIVE' && (
                    <button
                      type="button"
                      disabled={cancelling.loading}
                      onClick={() =>
                        cancel({ variables: { id: ticket.id } }).catch(() => undefined)
                      }
                    >
                      Cancel ticket
                    </button>
                  )}
                </div>
              </li>
            ))}
          </ul>
        </article>
      ))}
      {orders?.pageInfo.hasNextPage && (
        <button
          type="button"
          disabled={loading}
          onClick={() => fetchMore({ variables: { after: orders.pageInfo.endCursor } })}
        >
          Load more
        </button>
      )}
    </section>
  );
}
