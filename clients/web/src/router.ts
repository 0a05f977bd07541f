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

export function navigate(path: string): void {
  location.hash = path;
}
