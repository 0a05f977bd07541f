import { useQuery } from '@apollo/client/react';
import { useState } from 'react';
import { type EventFilter, EventListDocument } from '../gql/graphql.ts';
import { ErrorNote, LoadMore, PageHeading, when } from '../ui.tsx';

const pageSize = 10;

/** Upcoming events: search, filters, and "load more" through the cursor. */
export function EventList() {
  const [search, setSearch] = useState('');
  const [city, setCity] = useState('');
  const [includeCancelled, setIncludeCancelled] = useState(false);
  const filter: EventFilter = {
    ...(search.trim().length >= 3 ? { search: search.trim() } : {}),
    ...(city.trim() ? { city: city.trim() } : {}),
    ...(includeCancelled ? { includeCancelled } : {}),
  };
  const { data, error, fetchMore } = useQuery(EventListDocument, {
    variables: { first: pageSize, filter },
  });
  const events = data?.events;

  return (
    <section>
      <PageHeading>Events</PageHeading>
      <div className="filters">
        <input
          aria-label="Search"
          placeholder="Search titles and venues (3+ letters)"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <input
          aria-label="City"
          placeholder="City"
          value={city}
          onChange={(event) => setCity(event.target.value)}
        />
        <label className="check">
          <input
            type="checkbox"
            checked={includeCancelled}
            onChange={(event) => setIncludeCancelled(event.target.checked)}
          />
          Show cancelled
        </label>
      </div>
      <ErrorNote error={error} />
      {events && (
        <p className="muted" data-testid="event-count">
          {events.totalCount} {events.totalCount === 1 ? 'event' : 'events'}
        </p>
      )}
      <ul className="grid">
        {events?.edges.map(({ node }) => (
          <li key={node.id} className="card event">
            <a href={`#/events/${node.id}`}>
              <h2>{node.title}</h2>
            </a>
            <p>
              <bdi>{node.venue}</bdi>, <bdi>{node.city}</bdi>
            </p>
            <p className="muted">{when(node.startsAt, node.timezone)}</p>
            <p>
              {node.status === 'CANCELLED' ? (
                <span className="badge cancelled">Cancelled</span>
              ) : (node.ticketsAvailable ?? 0) > 0 ? (
                <span className="badge">{node.ticketsAvailable} tickets left</span>
              ) : (
                <span className="badge none">No tickets on sale</span>
              )}{' '}
              {node.organizer && (
                <span className="muted">
                  by <bdi>{node.organizer.name}</bdi>
                </span>
              )}
            </p>
          </li>
        ))}
      </ul>
      <LoadMore pageInfo={events?.pageInfo} fetchMore={fetchMore} />
    </section>
  );
}
