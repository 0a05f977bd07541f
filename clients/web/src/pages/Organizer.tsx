import { useMutation, useQuery } from '@apollo/client/react';
import type { FormEvent } from 'react';
import {
  CancelEventDocument,
  CreateEventDocument,
  CreateTicketTierDocument,
  DeleteTicketTierDocument,
  MyEventsDocument,
  type MyEventsQuery,
  PublishEventDocument,
} from '../gql/graphql.ts';
import {
  announce,
  BusyButton,
  ErrorNote,
  Field,
  FieldError,
  instantAt,
  LoadMore,
  money,
  PageHeading,
  useDisclosure,
  useFieldError,
  useFormState,
  when,
} from '../ui.tsx';

type OrganizedEvent = NonNullable<
  NonNullable<MyEventsQuery['me']>['organizedEvents']
>['edges'][number]['node'];
type ManagedTier = NonNullable<OrganizedEvent['ticketTiers']>[number];

const refetch = { refetchQueries: [MyEventsDocument] };

/** The arguments the new-event form fills, whose input errors show beside their fields. */
const newEventFields = [
  'input.title',
  'input.venue',
  'input.city',
  'input.startsAt',
  'input.timezone',
];

/** A new draft: what it is, where, and when (the venue's local time in its time zone). */
function NewEvent() {
  const [form, set, setForm] = useFormState({
    title: '',
    venue: '',
    city: '',
    startsAt: '',
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  const [create, { error, loading }] = useMutation(CreateEventDocument, refetch);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await create({
        variables: {
          input: { ...form, startsAt: instantAt(form.startsAt, form.timezone) },
        },
      });
      setForm({ ...form, title: '', venue: '', city: '', startsAt: '' });
      announce(`Draft ${form.title.trim()} created.`);
    } catch {
      // Shown below.
    }
  };
  return (
    <form className="card" onSubmit={submit}>
      <h2>New event</h2>
      <div className="row">
        <Field label="Title" error={error} field="input.title">
          <input name="title" value={form.title} onChange={set('title')} />
        </Field>
        <Field label="Venue" error={error} field="input.venue">
          <input name="venue" value={form.venue} onChange={set('venue')} />
        </Field>
        <Field label="City" error={error} field="input.city">
          <input name="city" value={form.city} onChange={set('city')} />
        </Field>
        <Field label="Starts" error={error} field="input.startsAt">
          <input
            name="startsAt"
            type="datetime-local"
            value={form.startsAt}
            onChange={set('startsAt')}
          />
        </Field>
        <Field label="Time zone" error={error} field="input.timezone">
          <input name="timezone" value={form.timezone} onChange={set('timezone')} />
        </Field>
      </div>
      <ErrorNote error={error} fields={newEventFields} />
      <BusyButton type="submit" className="primary" busy={loading} busyLabel="Creating…">
        Create draft
      </BusyButton>
    </form>
  );
}

/** The tier form's controls, each with the argument it fills, whose input errors mark it. */
const tierControls: {
  label: string;
  name: 'name' | 'price' | 'currency' | 'capacity';
  field: string;
  placeholder?: string;
  className?: string;
}[] = [
  { label: 'Tier name', name: 'name', field: 'input.name', placeholder: 'Tier' },
  { label: 'Price', name: 'price', field: 'input.priceCents', placeholder: 'Price' },
  { label: 'Currency', name: 'currency', field: 'input.currency', className: 'short' },
  { label: 'Capacity', name: 'capacity', field: 'input.capacity', placeholder: 'Seats' },
];
const tierFields = tierControls.map((control) => control.field);

function NewTier({ eventId }: { eventId: string }) {
  const [form, set, setForm] = useFormState({
    name: '',
    price: '',
    currency: 'EUR',
    capacity: '',
  });
  const [create, { error, loading }] = useMutation(CreateTicketTierDocument, refetch);
  const { id: errorId, invalid, complaint } = useFieldError(error, tierFields);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      await create({
        variables: {
          eventId,
          input: {
            name: form.name,
            priceCents: Math.round(Number(form.price) * 100),
            currency: form.currency,
            capacity: Number(form.capacity),
          },
        },
      });
      setForm({ ...form, name: '', price: '', capacity: '' });
      announce(`Tier ${form.name.trim()} added.`);
    } catch {
      // Shown below.
    }
  };
  return (
    <form className="row tier-form" onSubmit={submit}>
      {tierControls.map(({ label, name, field, placeholder, className }) => (
        <input
          key={name}
          aria-label={label}
          placeholder={placeholder}
          className={className}
          value={form[name]}
          onChange={set(name)}
          {...invalid(field)}
        />
      ))}
      <BusyButton type="submit" busy={loading} busyLabel="Adding…">
        Add tier
      </BusyButton>
      <FieldError id={errorId} complaint={complaint} />
      <ErrorNote error={error} fields={tierFields} />
    </form>
  );
}

/**
 * A tier's row. Unless the event is cancelled, the tier can be deleted, after the organizer
 * confirms; the API refuses one that anything was sold or held from (TIER_IN_USE), and the
 * row says so.
 */
function TierRow({ tier, deletable }: { tier: ManagedTier; deletable: boolean }) {
  const confirming = useDisclosure();
  const [remove, { error, loading }] = useMutation(DeleteTicketTierDocument, {
    ...refetch,
    awaitRefetchQueries: true,
  });
  // Asked until answered: a refusal returns the focus to "Delete", beside the reason.
  const confirm = () =>
    remove({ variables: { id: tier.id } }).then(
      () => {
        confirming.close({ returnFocus: false });
        announce(`Tier ${tier.name} deleted.`, { takeFocus: true });
      },
      () => confirming.close(),
    );
  return (
    <>
      <tr>
        <td>{tier.name}</td>
        <td>{money(tier.priceCents, tier.currency)}</td>
        <td>{tier.sold}</td>
        <td>{tier.capacity}</td>
        <td>{tier.available}</td>
        {deletable && (
          <td>
            {confirming.open ? (
              // biome-ignore lint/a11y/useSemanticElements: a group of two buttons, not a form's fieldset.
              <span
                className="confirm"
                role="group"
                aria-label={`Delete ${tier.name}?`}
                onKeyDown={confirming.onKeyDown}
              >
                Delete {tier.name}?{' '}
                <BusyButton
                  type="button"
                  className="danger"
                  busy={loading}
                  busyLabel="Deleting…"
                  onClick={confirm}
                >
                  Delete {tier.name}
                </BusyButton>{' '}
                {/* biome-ignore lint/a11y/noAutofocus: opened by "Delete"; keeping is the safe answer. */}
                <button type="button" autoFocus onClick={() => confirming.close()}>
                  Keep
                </button>
              </span>
            ) : (
              <button type="button" ref={confirming.opener} onClick={confirming.show}>
                Delete
              </button>
            )}
          </td>
        )}
      </tr>
      {error && (
        // The refusal under the tier's row, across the table.
        <tr>
          <td colSpan={6}>
            <ErrorNote error={error} />
          </td>
        </tr>
      )}
    </>
  );
}

function ManagedEvent({ event }: { event: OrganizedEvent }) {
  const [publish, publishing] = useMutation(PublishEventDocument, refetch);
  const [cancel, cancelling] = useMutation(CancelEventDocument, refetch);
  // Null only while the tickets service is away.
  const tiers = event.ticketTiers ?? [];
  const sold = tiers.reduce((sum, tier) => sum + tier.sold, 0);
  return (
    <article className="card" data-testid="managed-event" data-status={event.status}>
      <h2>
        <a href={`#/events/${event.id}`}>{event.title}</a>{' '}
        <span className={`badge ${event.status.toLowerCase()}`}>{event.status}</span>
      </h2>
      <p className="muted">
        {when(event.startsAt, event.timezone)} · <span data-testid="sold">{sold}</span> sold
      </p>
      {tiers.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Tier</th>
              <th>Price</th>
              <th>Sold</th>
              <th>Capacity</th>
              <th>Available</th>
              {event.status !== 'CANCELLED' && <th />}
            </tr>
          </thead>
          <tbody>
            {tiers.map((tier) => (
              <TierRow key={tier.id} tier={tier} deletable={event.status !== 'CANCELLED'} />
            ))}
          </tbody>
        </table>
      )}
      {event.status !== 'CANCELLED' && <NewTier eventId={event.id} />}
      <ErrorNote error={publishing.error ?? cancelling.error} />
      {event.status === 'DRAFT' && (
        <BusyButton
          type="button"
          className="primary"
          busy={publishing.loading}
          busyLabel="Publishing…"
          onClick={() =>
            publish({ variables: { id: event.id } })
              .then(() =>
                announce(`${event.title} is published: its tickets are on sale.`, {
                  takeFocus: true,
                }),
              )
              .catch(() => undefined)
          }
        >
          Publish
        </BusyButton>
      )}
      {event.status === 'PUBLISHED' && (
        <BusyButton
          type="button"
          className="danger"
          busy={cancelling.loading}
          busyLabel="Cancelling…"
          onClick={() =>
            cancel({ variables: { id: event.id, reason: 'Called off by the organizer' } })
              .then(() =>
                announce(`${event.title} is cancelled: its ticket sales have stopped.`, {
                  takeFocus: true,
                }),
              )
              .catch(() => undefined)
          }
        >
          Cancel event
        </BusyButton>
      )}
    </article>
  );
}

/** The organizer's events: create, add and delete tiers, publish, cancel, and see what sold. */
export function Organizer() {
  const { data, error, fetchMore } = useQuery(MyEventsDocument, {
    variables: { first: 20 },
    fetchPolicy: 'cache-and-network',
    // Sales go on while the dashboard is open.
    pollInterval: 10_000,
  });
  const events = data?.me?.organizedEvents;
  return (
    <section>
      <PageHeading>My events</PageHeading>
      <NewEvent />
      <ErrorNote error={error} />
      {events?.edges.map(({ node }) => (
        <ManagedEvent key={node.id} event={node} />
      ))}
      <LoadMore pageInfo={events?.pageInfo} fetchMore={fetchMore} label="Load more events" />
    </section>
  );
}
