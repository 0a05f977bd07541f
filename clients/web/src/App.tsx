import { print } from 'graphql';
import { Fragment } from 'react';
import { LogOutDocument } from './gql/graphql.ts';
import { AuthPage } from './pages/AuthPage.tsx';
import { EventList } from './pages/EventList.tsx';
import { EventPage } from './pages/EventPage.tsx';
import { Orders } from './pages/Orders.tsx';
import { Organizer } from './pages/Organizer.tsx';
import { navigate, useRoute } from './router.ts';
import { endpoint, fetchWithDeadline, saveSession, useSession } from './session.ts';
import { announce, StatusMessage } from './ui.tsx';

export function App() {
  const session = useSession();
  const route = useRoute();

  const logOut = () => {
    const refreshToken = session?.refreshToken;
    // Empties the cache too (apollo.ts): nothing read as this person shows again.
    saveSession(null);
    // The button goes with the session. Another page's heading takes the focus then; on
    // the list of events, the status message does.
    announce('You are logged out.', { takeFocus: true });
    navigate('/');
    if (refreshToken) {
      // Ends the session on the server too; the page is signed out either way.
      void fetchWithDeadline(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: print(LogOutDocument), variables: { refreshToken } }),
      }).catch(() => undefined);
    }
  };

  const eventId = route.match(/^\/events\/([^/]+)$/)?.[1];
  let page = <EventList />;
  if (eventId) page = <EventPage id={eventId} signedIn={Boolean(session)} />;
  else if (route === '/login') page = <AuthPage />;
  else if (route === '/orders') page = session ? <Orders /> : <AuthPage />;
  else if (route === '/organizer') page = session ? <Organizer /> : <AuthPage />;

  return (
    <>
      <header>
        <a className="brand" href="#/">
          Ticketing
        </a>
        <nav>
          <a href="#/">Events</a>
          {session && <a href="#/orders">My tickets</a>}
          {session && session.user.role !== 'CUSTOMER' && <a href="#/organizer">Organizer</a>}
        </nav>
        <div className="who">
          {session ? (
            <>
              <span data-testid="signed-in-as">{session.user.name}</span>
              <button type="button" onClick={logOut}>
                Log out
              </button>
            </>
          ) : (
            <a href="#/login">Log in</a>
          )}
        </div>
      </header>
      <main>
        {/* A page of its own for each route, so that its heading takes the focus on arrival
            even when it was shown already (another event's page, from the cache). */}
        <Fragment key={route}>{page}</Fragment>
      </main>
      <StatusMessage />
      <footer>
        API: <code>{endpoint}</code>
      </footer>
    </>
  );
}
