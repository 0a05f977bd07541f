// Routes live in the URL's hash (#/events/…), so that any static server, and NGINX's
// fallback to index.html, serves every page.
import { useSyncExternalStore } from 'react';

const subscribe = (onChange: () => void) => {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
};

/** The current route's path, e.g. "/events/0192…". */
export function useRoute(): string {
  return useSyncExternalStore(subscribe, () => location.hash.replace(/^#/, '') || '/');
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
  location.hash = path;
}
