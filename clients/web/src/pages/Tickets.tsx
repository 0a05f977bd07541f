// The tickets a user holds now (bought, or given to them), giving one to someone else, and
// the offers others made to them. An offer moves nothing until its receiver accepts it.
import { useApolloClient, useMutation } from '@apollo/client/react';
import QRCode from 'qrcode';
import { type FormEvent, type KeyboardEvent, useEffect, useState } from 'react';
import {
  AcceptTicketTransferDocument,
  CancelTicketTransferDocument,
  DeclineTicketTransferDocument,
  MyTicketsDocument,
  type MyTicketsQuery,
  MyTicketTransfersDocument,
  type MyTicketTransfersQuery,
  TransferTicketDocument,
} from '../gql/graphql.ts';
import { currentSession, onSessionChange } from '../session.ts';
import { announce, BusyButton, ErrorNote, Field, useDisclosure, when } from '../ui.tsx';

type WalletTicket = MyTicketsQuery['myTickets']['edges'][number]['node'];
type Offer = MyTicketTransfersQuery['myTicketTransfers']['edges'][number]['node'];

/** A transfer changes both lists: the wallet and the offers. */
const transferQueries = { refetchQueries: [MyTicketsDocument, MyTicketTransfersDocument] };

/** An instant in the venue's time zone, or the browser's when the event is not known. */
const whenAt = (instant: string, timeZone: string | undefined) =>
  when(instant, timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);

/** A ticket's code as a QR image, for the door's scanner. */
export function TicketCode({ code }: { code: string }) {
  const [src, setSrc] = useState<string>();
  useEffect(() => {
    QRCode.toDataURL(code, { margin: 1, width: 144 }).then(setSrc, () => setSrc(undefined));
  }, [code]);
  return src ? <img className="qr" src={src} alt={`Ticket code ${code}`} /> : null;
}

/**
 * The email the giver typed for each of their offers, by the offer's id, in this browser. The
 * API names an offer's receiver but shows their email to them alone; the giver typed it, so
 * the page says it back to them. The newest `rememberedOffers` are kept, until the session
 * ends: what one user typed is not left for the next one of this browser.
 */
const receiverEmailsKey = 'ticketing.offerEmails';
const rememberedOffers = 50;
onSessionChange(() => {
  if (!currentSession()) localStorage.removeItem(receiverEmailsKey);
});

function receiverEmails(): [string, string][] {
  try {
    const stored = JSON.parse(localStorage.getItem(receiverEmailsKey) ?? '[]');
    return Array.isArray(stored)
      ? stored.filter(
          (entry): entry is [string, string] =>
            Array.isArray(entry) && entry.every((part) => typeof part === 'string'),
        )
      : [];
  } catch {
    return [];
  }
}

function rememberReceiverEmail(offerId: string, email: string) {
  const kept = receiverEmails().filter(([id]) => id !== offerId);
  const entries = [...kept, [offerId, email]].slice(-rememberedOffers);
  localStorage.setItem(receiverEmailsKey, JSON.stringify(entries));
}

const receiverEmail = (offerId: string) => receiverEmails().find(([id]) => id === offerId)?.[1];

/** Whom an offer is for, in plain words: their name, and the email the giver typed if known. */
function receiverOf(to: { name: string } | null | undefined, email: string | undefined) {
  if (to && email) return `${to.name} (${email})`;
  return to?.name ?? email ?? 'someone';
}

/**
 * Asks for the receiver's email and offers them the ticket; a refusal keeps what was typed.
 * Opens with the focus on the email; "Never mind" or Escape closes it (`onKeyDown`).
 */
function GiveForm({
  ticketId,
  onGiven,
  onClose,
  onKeyDown,
}: {
  ticketId: string;
  onGiven: () => void;
  onClose: () => void;
  onKeyDown: (event: KeyboardEvent) => void;
}) {
  const [email, setEmail] = useState('');
  const [give, giving] = useMutation(TransferTicketDocument, transferQueries);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (giving.loading) return;
    try {
      const toEmail = email.trim();
      const given = await give({ variables: { id: ticketId, toEmail } });
      const offerId = given.data?.transferTicket.pendingTransfer?.id;
      if (offerId) rememberReceiverEmail(offerId, toEmail);
      // Closing the form renders the ticket again, now with the email remembered.
      onGiven();
      announce(`Ticket offered to ${toEmail}: it is theirs once they accept.`, {
        takeFocus: true,
      });
    } catch {
      // Shown below, with the email kept to correct.
    }
  };
  return (
    <form className="give" onSubmit={submit} onKeyDown={onKeyDown}>
      <Field label="Their email" error={giving.error} field="toEmail">
        <input
          type="email"
          required
          // biome-ignore lint/a11y/noAutofocus: opened by "Give to someone", which it replaces.
          autoFocus
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      </Field>
      <BusyButton type="submit" className="primary" busy={giving.loading} busyLabel="Offering…">
        Offer the ticket
      </BusyButton>{' '}
      <button type="button" onClick={onClose}>
        Never mind
      </button>
      <ErrorNote error={giving.error} fields={['toEmail']} />
    </form>
  );
}

/** Whether the owner may offer the ticket: valid, not admitted, before its event starts. */
const transferable = (ticket: WalletTicket) =>
  ticket.status === 'ACTIVE' &&
  !ticket.checkedInAt &&
  (!ticket.event || Date.parse(ticket.event.startsAt) > Date.now());

/** One ticket of the wallet: its code, and its offer to someone else or a way to make one. */
function WalletItem({ ticket }: { ticket: WalletTicket }) {
  const giving = useDisclosure();
  const [cancel, cancelling] = useMutation(CancelTicketTransferDocument, transferQueries);
  const offer = ticket.pendingTransfer?.status === 'PENDING' ? ticket.pendingTransfer : null;
  return (
    <li data-testid="held-ticket" data-status={ticket.status}>
      {ticket.status === 'ACTIVE' && ticket.code ? <TicketCode code={ticket.code} /> : null}
      <div>
        <strong>{ticket.event?.title ?? 'An event'}</strong>
        <p className="muted">
          <bdi>{ticket.tier.name}</bdi>
          {ticket.event && ` · ${whenAt(ticket.event.startsAt, ticket.event.timezone)}`}
        </p>
        {offer ? (
          <p data-testid="pending-offer">
            Offered to{' '}
            <strong>
              <bdi>{receiverOf(offer.to, receiverEmail(offer.id))}</bdi>
            </strong>{' '}
            until {whenAt(offer.expiresAt, ticket.event?.timezone)}.{' '}
            <BusyButton
              type="button"
              busy={cancelling.loading}
              busyLabel="Cancelling the offer…"
              onClick={() =>
                cancel({ variables: { id: offer.id } })
                  .then(() =>
                    announce('Offer cancelled: the ticket is yours to give again.', {
                      takeFocus: true,
                    }),
                  )
                  .catch(() => undefined)
              }
            >
              Cancel the offer
            </BusyButton>
          </p>
        ) : (
          transferable(ticket) &&
          (giving.open ? (
            <GiveForm
              ticketId={ticket.id}
              onGiven={() => giving.close({ returnFocus: false })}
              onClose={() => giving.close()}
              onKeyDown={giving.onKeyDown}
            />
          ) : (
            <button type="button" ref={giving.opener} onClick={giving.show}>
              Give to someone
            </button>
          ))
        )}
        <ErrorNote error={cancelling.error} />
      </div>
    </li>
  );
}

/** The tickets the user holds now, newest first, under the page's heading ("My tickets"). */
export function Wallet({ tickets }: { tickets: MyTicketsQuery['myTickets'] | undefined }) {
  return (
    <section>
      {tickets?.edges.length === 0 && <p className="muted">No tickets yet.</p>}
      <ul className="tickets">
        {tickets?.edges.map(({ node }) => (
          <WalletItem key={node.id} ticket={node} />
        ))}
      </ul>
    </section>
  );
}

/**
 * Whether `offer` was made to `me`. Its receiver is null only while the users service is
 * away; then an offer not made by `me` is one made to them.
 */
export const offeredTo = (offer: Offer, me: string) =>
  offer.to ? offer.to.id === me : Boolean(offer.from) && offer.from?.id !== me;

/** Offers others made to the user: accepting one puts the ticket in the wallet. */
export function IncomingOffers({ offers }: { offers: Offer[] }) {
  const [accept, accepting] = useMutation(AcceptTicketTransferDocument, {
    ...transferQueries,
    awaitRefetchQueries: true,
  });
  const [decline, declining] = useMutation(DeclineTicketTransferDocument, transferQueries);
  const client = useApolloClient();
  // The offer goes from the list either way; the status message says what became of it, and
  // a refusal (an offer cancelled or expired meanwhile) shows what stands now.
  const answer = (settle: Promise<unknown>, done: string, refused: string) =>
    settle.then(
      () => announce(done, { takeFocus: true }),
      () => {
        announce(refused, { takeFocus: true });
        return client.refetchQueries({ include: transferQueries.refetchQueries });
      },
    );
  if (offers.length === 0 && !accepting.error && !declining.error) return null;
  const busy = accepting.loading || declining.loading;
  return (
    <section>
      <h2>Offered to you</h2>
      <ErrorNote error={accepting.error ?? declining.error} />
      <ul className="tickets">
        {offers.map((offer) => {
          const { event, tier } = offer.ticket;
          const variables = { id: offer.id };
          return (
            <li key={offer.id} className="offer" data-testid="incoming-offer">
              <div>
                <strong>{event?.title ?? 'An event'}</strong>
                <p className="muted">
                  <bdi>{tier.name}</bdi>
                  {event && ` · ${whenAt(event.startsAt, event.timezone)}`}
                </p>
                <p>
                  From{' '}
                  <strong>
                    <bdi>{offer.from?.name ?? 'someone'}</bdi>
                  </strong>
                  , until {whenAt(offer.expiresAt, event?.timezone)}.
                </p>
                <BusyButton
                  type="button"
                  className="primary"
                  busy={busy}
                  busyLabel={accepting.loading ? 'Accepting…' : 'Accept'}
                  onClick={() =>
                    answer(
                      accept({ variables }),
                      'Offer accepted: the ticket is in your wallet.',
                      'The offer could not be accepted.',
                    )
                  }
                >
                  Accept
                </BusyButton>{' '}
                <BusyButton
                  type="button"
                  busy={busy}
                  busyLabel={declining.loading ? 'Declining…' : 'Decline'}
                  onClick={() =>
                    answer(
                      decline({ variables }),
                      'Offer declined.',
                      'The offer could not be declined.',
                    )
                  }
                >
                  Decline
                </BusyButton>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
