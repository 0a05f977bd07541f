import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { useMutation, useQuery } from '@apollo/client/react';
import { useEffect, useId, useRef, useState } from 'react';
import { describeError } from '../errors.ts';
import {
  EventPageDocument,
  HoldTicketsDocument,
  MyHoldsDocument,
  PurchaseTicketsDocument,
  ReleaseHoldDocument,
} from '../gql/graphql.ts';
import { HoldKey } from '../hold-key.ts';
import { navigate } from '../router.ts';
import {
  announce,
  BusyButton,
  ErrorNote,
  FieldError,
  money,
  PageHeading,
  useFieldError,
  when,
} from '../ui.tsx';

/**
 * How often the page asks for fresh availability: the interval the README recommends
 * ("Response cache"). Polling, not a subscription: the page is asked for anonymously, so
 * the gateways answer it from their shared cache, and availability there is never more
 * than 1 s old. The purchase itself is exact.
 */
export const availabilityPollMs = 2_000;

/**
 * The idempotency key for buying a hold: made once and kept for the tab's life, so that a
 * retry (after a timeout, a lost answer, a reload) sends the same key and can never buy twice.
 */
function purchaseKey(holdId: string): string {
  const name = `ticketing.purchase.${holdId}`;
  let key = sessionStorage.getItem(name);
  if (!key) {
    key = crypto.randomUUID();
    sessionStorage.setItem(name, key);
  }
  return key;
}

/**
 * The hold whose purchase was sent from this tab for `eventId` and not answered yet (the
 * network, a lost answer, a reload while it was on its way): kept until an answer comes, so
 * that the page can find out what became of it.
 */
const unsettledKey = (eventId: string) => `ticketing.unsettledPurchase.${eventId.toLowerCase()}`;

/** Whether a failure answered the purchase (a refusal) or says nothing of it (no answer). */
const answered = (failure: unknown) =>
  CombinedGraphQLErrors.is(failure) &&
  failure.errors.every((error) => error.extensions?.code !== 'SERVICE_UNAVAILABLE');

function useSecondsLeft(expiresAt: string | undefined): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  // Rounded up: 0 only once the hold has ended. Rounded to the nearest, the page called a
  // hold expired half a second early, while the API would still sell or release it.
  return expiresAt ? Math.max(0, Math.ceil((Date.parse(expiresAt) - now) / 1_000)) : 0;
}

type Tier = { id: string; name: string; available: number };

/**
 * What a poll changed in the tiers' availability, in words ("Floor: 3 tickets left."), for
 * a polite live region: said when a number changes, and not again on a poll that changed
 * nothing. The page's first answer, and another event's, say nothing.
 */
function useAvailabilityNews(eventId: string | undefined, tiers: Tier[] | null | undefined) {
  const [news, setNews] = useState('');
  const shown = useRef<{ eventId?: string; available: Map<string, number> }>(undefined);
  useEffect(() => {
    if (!tiers) return;
    const before = shown.current;
    shown.current = { eventId, available: new Map(tiers.map((tier) => [tier.id, tier.available])) };
    if (!before || before.eventId !== eventId) return;
    const changed = tiers.filter(
      (tier) => before.available.has(tier.id) && before.available.get(tier.id) !== tier.available,
    );
    if (changed.length === 0) return;
    setNews(
      changed
        .map(({ name, available }) =>
          available > 0
            ? `${name}: ${available} ${available === 1 ? 'ticket' : 'tickets'} left.`
            : `${name}: sold out.`,
        )
        .join(' '),
    );
  }, [eventId, tiers]);
  return news;
}

export function EventPage({ id, signedIn }: { id: string; signedIn: boolean }) {
  // A published or cancelled event is public; a draft shows only to its organizer (and
  // admins), so a signed-in visitor whom the public page does not show it asks as themself.
  const [anonymous, setAnonymous] = useState(true);
  // Whether the API answered as the signed-in visitor, after the public page did not show
  // the event.
  const [askedAsSelf, setAskedAsSelf] = useState(false);
  // An event that is not there (never was, deleted, an id that is not one) is not asked for
  // again: it has no availability to follow.
  const [gone, setGone] = useState(false);
  const { data, previousData, error, refetch } = useQuery(EventPageDocument, {
    variables: { id },
    pollInterval: gone ? 0 : availabilityPollMs,
    context: { anonymous },
  });
  useEffect(() => {
    if (anonymous && signedIn && data && data.event === null) setAnonymous(false);
  }, [anonymous, signedIn, data]);
  // Asked as the visitor at once, not at the next poll.
  useEffect(() => {
    if (anonymous) return;
    const answered = () => setAskedAsSelf(true);
    refetch().then(answered, answered);
  }, [anonymous, refetch]);
  const none = data?.event === null && (!signedIn || askedAsSelf);
  useEffect(() => {
    if (none) setGone(true);
  }, [none]);
  // A reload finds the hold again.
  const holds = useQuery(MyHoldsDocument, { skip: !signedIn, fetchPolicy: 'cache-and-network' });
  // As typed, so that what the API refused stays in the input to be corrected.
  const [quantities, setQuantities] = useState<Record<string, string>>({});
  const [hold, holding] = useMutation(HoldTicketsDocument, {
    refetchQueries: [MyHoldsDocument],
  });
  // The tier last asked for: an impossible quantity is marked beside its own input.
  const [heldTier, setHeldTier] = useState<string>();
  const [holdKey] = useState(() => new HoldKey());
  const quantityError = useFieldError(holding.error, ['quantity']);
  const [release, releasing] = useMutation(ReleaseHoldDocument, {
    refetchQueries: [MyHoldsDocument, EventPageDocument],
  });
  const [purchase, purchasing] = useMutation(PurchaseTicketsDocument, {
    refetchQueries: [MyHoldsDocument, EventPageDocument],
  });

  // A poll that fails (the API restarting, a lost answer) keeps what the page showed, the
  // hold and its Buy button with it, and says so above; the next poll brings it up to date.
  // Only this event's: another event shown while this one loads would be bought instead.
  const shownBefore = previousData?.event;
  const event =
    data?.event ??
    (!data && shownBefore?.id.toLowerCase() === id.toLowerCase() ? shownBefore : undefined);
  const myHold = holds.data?.myHolds.find((candidate) => candidate.tier.event?.id === id);
  const secondsLeft = useSecondsLeft(myHold?.expiresAt);
  // Not disabled, which would take the focus from the button: it says why it does nothing.
  const expired = secondsLeft === 0;
  const expiredNote = useId();
  const news = useAvailabilityNews(event?.id, event?.ticketTiers);
  // A hold made here takes the focus from its Hold button, which goes with the tier's controls.
  const holdCard = useRef<HTMLDivElement>(null);
  const heldId = myHold?.id;
  useEffect(() => {
    if (heldId && heldTier) holdCard.current?.focus();
  }, [heldId, heldTier]);

  const send = async (holdId: string) => {
    sessionStorage.setItem(unsettledKey(id), holdId);
    try {
      const { data: bought } = await purchase({
        variables: { input: { holdId, idempotencyKey: purchaseKey(holdId) } },
      });
      sessionStorage.removeItem(unsettledKey(id));
      if (bought) navigate('/orders');
    } catch (failure) {
      // Shown below; "Buy" again retries with the same key.
      if (answered(failure)) sessionStorage.removeItem(unsettledKey(id));
    }
  };

  // A purchase sent but never answered, whose hold is gone: it was bought, or the hold ran
  // out. Sent again with its key, it can buy nothing more (the hold is gone) and answers
  // which: the order it placed, or the hold's refusal, which the page shows.
  const unsettled = signedIn ? sessionStorage.getItem(unsettledKey(id)) : null;
  const settling =
    unsettled !== null &&
    holds.data !== undefined &&
    !holds.loading &&
    !holds.data.myHolds.some((hold) => hold.id === unsettled);
  // Once a page load: an answer lost again leaves it to "Buy" or the next load.
  const [settled, setSettled] = useState<string>();
  useEffect(() => {
    if (!settling || !unsettled || settled === unsettled) return;
    setSettled(unsettled);
    void send(unsettled);
  });

  if (!event) {
    if (describeError(error)) {
      return (
        <>
          <PageHeading>Event</PageHeading>
          <ErrorNote error={error} />
        </>
      );
    }
    if (data) return <PageHeading>No such event</PageHeading>;
    return (
      <p className="muted" role="status">
        Loading…
      </p>
    );
  }

  const buy = async () => {
    if (myHold) await send(myHold.id);
  };

  return (
    <section>
      <ErrorNote error={error} />
      <PageHeading>{event.title}</PageHeading>
      <p>
        <bdi>{event.venue}</bdi>, <bdi>{event.city}</bdi> · {when(event.startsAt, event.timezone)}
        {event.organizer && (
          <>
            {' · by '}
            <bdi>{event.organizer.name}</bdi>
          </>
        )}
      </p>
      {event.status === 'CANCELLED' && (
        <p className="error">
          Cancelled{event.cancellationReason ? `: ${event.cancellationReason}` : ''}
        </p>
      )}
      {event.description && <p>{event.description}</p>}
      <h2>Tickets</h2>
      <p className="muted" role="status" aria-live="polite" data-testid="availability-news">
        {news}
      </p>
      <table>
        <thead>
          <tr>
            <th>Tier</th>
            <th>Price</th>
            <th>Available</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(event.ticketTiers ?? []).map((tier) => (
            <tr key={tier.id} data-testid={`tier-${tier.name}`}>
              <td>
                <bdi>{tier.name}</bdi>
              </td>
              <td>{money(tier.priceCents, tier.currency)}</td>
              <td data-testid="available">{tier.available}</td>
              <td>
                {tier.onSale && tier.available > 0 && signedIn && !myHold ? (
                  <>
                    <input
                      aria-label={`Quantity of ${tier.name}`}
                      type="number"
                      min={1}
                      max={Math.min(tier.maxPerOrder, tier.available)}
                      value={quantities[tier.id] ?? 1}
                      onChange={(change) =>
                        setQuantities({ ...quantities, [tier.id]: change.target.value })
                      }
                      {...(tier.id === heldTier ? quantityError.invalid('quantity') : {})}
                    />
                    <BusyButton
                      type="button"
                      className="primary"
                      busy={holding.loading}
                      busyLabel="Holding…"
                      onClick={() => {
                        setHeldTier(tier.id);
                        const quantity = Number(quantities[tier.id] ?? 1);
                        hold({
                          variables: {
                            tierId: tier.id,
                            quantity,
                            idempotencyKey: holdKey.for(tier.id, quantity),
                          },
                        })
                          .then(({ data: held }) => held && holdKey.made())
                          .catch(() => undefined);
                      }}
                    >
                      Hold
                    </BusyButton>
                    {tier.id === heldTier && (
                      <FieldError id={quantityError.id} complaint={quantityError.complaint} />
                    )}
                  </>
                ) : (
                  !tier.onSale && <span className="muted">Not on sale</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!signedIn && (
        <p>
          <a href="#/login">Log in</a> to buy tickets.
        </p>
      )}
      <ErrorNote
        error={holding.error ?? releasing.error ?? purchasing.error}
        fields={['quantity']}
      />
      {myHold && (
        <div className="card hold" data-testid="hold" ref={holdCard} tabIndex={-1}>
          <p>
            Holding <strong>{myHold.quantity}</strong> × <bdi>{myHold.tier.name}</bdi> for{' '}
            <strong data-testid="countdown">
              {Math.floor(secondsLeft / 60)}:{String(secondsLeft % 60).padStart(2, '0')}
            </strong>
            . Total {money(myHold.tier.priceCents * myHold.quantity, myHold.tier.currency)}.
          </p>
          {expired && (
            <p id={expiredNote} data-testid="hold-expired">
              This hold has expired, so it cannot be bought: release it to hold tickets again.
            </p>
          )}
          <BusyButton
            type="button"
            className="primary"
            aria-disabled={expired || undefined}
            aria-describedby={expired ? expiredNote : undefined}
            busy={purchasing.loading}
            busyLabel="Buying…"
            onClick={buy}
          >
            Buy
          </BusyButton>{' '}
          <BusyButton
            type="button"
            busy={releasing.loading}
            busyLabel="Releasing…"
            onClick={() =>
              release({ variables: { id: myHold.id } }).then(
                () =>
                  announce('Hold released: its tickets are on sale again.', { takeFocus: true }),
                (failure) => {
                  // Expired, it is released already (HOLD_EXPIRED): the page catches up.
                  if (describeError(failure)?.code !== 'HOLD_EXPIRED') return;
                  void holds.refetch();
                  announce('The hold had expired: its tickets are on sale again.', {
                    takeFocus: true,
                  });
                },
              )
            }
          >
            Release
          </BusyButton>
        </div>
      )}
    </section>
  );
}
