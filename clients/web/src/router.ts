// Routes live in the URL's hash (#/events/…), so that any static server, and NGINX's
// fallback to index.html, serves every page.
import { useSyncExternalStore } from 'react';

const subscribe = (onChange: () => void) => {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
};

const routeOf = (hash: string) => hash.replace(/^#/, '') || '/';

/** The current route's path, e.g. "/events/0192…". */
export function useRoute(): string {
  return useSyncExternalStore(subscribe, () => routeOf(location.hash));
}

// Set by a route change, and taken by the first page heading shown after it (`PageHeading`),
// which then takes the focus: the link or button that led there is gone with its page, and a
// keyboard or screen-reader user starts at the new page, not at the top of the document.
let arrived = false;
window.addEventListener('hashchange', () => {
  arrived = true;
});

/** Whether the route changed since a heading last took the focus; asking clears it. */
export function takeArrival(): boolean {
  const was = arrived;
  arrived = false;
  return was;
}

export function navigate(path: string): void {
  // Set here too, not only by the hashchange event: a render for another change (a session
  // just saved) may read the new hash before that event comes, and its heading would find
  // no arrival to take.
  if (routeOf(location.hash) !== path) arrived = true;
  location.hash = path;
}

/**
 * Where the person was when they went to log in ("Log in" on an event's page, a session that
 * ended there), for the page to return to once they have: kept in this tab, across a reload
 * of the login page. The list of events, the start, is where a login goes anyway.
 */
const returnKey = 'ticketing.returnTo';
window.addEventListener('hashchange', (change) => {
  if (routeOf(location.hash) !== '/login') return;
  const from = routeOf(new URL(change.oldURL).hash);
  if (from === '/' || from === '/login') sessionStorage.removeItem(returnKey);
  else sessionStorage.setItem(returnKey, from);
});

/** The route to return to after logging in, if any; asked once. */
export function returnRoute(): string | undefined {
  const route = sessionStorage.getItem(returnKey) ?? undefined;
  sessionStorage.removeItem(returnKey);
  return route;
}
