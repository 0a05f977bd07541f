// What the browser tests of the reference web app share: a browser of their own, pages that
// may reach this machine only, the app served from another origin, and accounts and events
// made through the API.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { webRoot } from '../scripts/nginx.ts';
import { repositoryRoot } from '../scripts/topology.ts';
import { buildWebApp } from '../scripts/web.ts';
import {
  chromiumPath,
  freePort,
  postGraphQL,
  startTestTopology,
  type TestTopology,
} from './support.ts';

/** Where the browser tests' screenshots go. */
export const screenshots = join(repositoryRoot, 'test-results', 'screenshots');

export async function shoot(page: Page, name: string) {
  await mkdir(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

export const password = 'a long enough test password';
/** Generous: two cores shared by the topology, the browser and other work. */
export const stepTimeoutMs = 30_000;

/** Waits for what a page shows, up to the step deadline (expect.poll's own is 1 s). */
export const until = <T>(read: () => Promise<T> | T) =>
  expect.poll(read, { timeout: stepTimeoutMs, interval: 100 });

const contentTypes: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
};

/**
 * Serves the built app from another origin, as a frontend team's own host would, with the
 * API endpoint in index.html pointing at the edge (a deployment's configuration).
 */
export async function serveAppElsewhere(apiUrl: string): Promise<Server> {
  const index = (await readFile(join(webRoot, 'index.html'), 'utf8')).replace(
    '<meta name="graphql-endpoint" content="/graphql" />',
    `<meta name="graphql-endpoint" content="${apiUrl}" />`,
  );
  expect(index).toContain(apiUrl);
  const server = createServer(async (req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'http://app').pathname);
    try {
      if (path === '/' || path === '/index.html') throw new Error('index');
      const body = await readFile(join(webRoot, path));
      res.writeHead(200, { 'content-type': contentTypes[extname(path)] ?? 'text/plain' });
      res.end(body);
    } catch {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(index);
    }
  });
  server.listen(await freePort(), '127.0.0.1');
  await once(server, 'listening');
  return server;
}

/** Whether a GraphQL request (as the page sends it) is the named operation. */
export const isOperation = (postData: string | null, name: string) =>
  (JSON.parse(postData ?? '{}') as { operationName?: string }).operationName === name;

/**
 * Holds back `page`'s requests to `url` for `operation` until `release()`, and any sent after
 * it not at all; `sent()` counts them.
 */
export async function holdAnswers(page: Page, url: string, operation: string) {
  let sent = 0;
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route(url, async (route) => {
    if (!isOperation(route.request().postData(), operation)) return route.fallback();
    sent++;
    await released;
    return route.fallback();
  });
  return { sent: () => sent, release };
}

/**
 * Chromium with a profile of its own in `dir`: its own storage, so its own signed-in user.
 * `ignoreDefaultArgs` takes back switches Playwright adds (its back-forward cache is off).
 */
export async function launchBrowser(
  dir: string,
  options: { ignoreDefaultArgs?: string[] } = {},
): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
    ...options,
  });
  context.setDefaultTimeout(stepTimeoutMs);
  return context;
}

/** A page that may reach this machine only: anything else (a CDN) is refused. */
export async function offlinePage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    return hostname === '127.0.0.1' || hostname === 'localhost' ? route.continue() : route.abort();
  });
  return page;
}

export interface Account {
  accessToken: string;
  refreshToken: string;
  user: { id: string; name: string; email: string; role: string };
}

/**
 * Accounts and events made through the API at `publicUrl`, and pages of the app served at
 * `appOrigin` in `browser`.
 */
export function webApp({
  publicUrl,
  appOrigin,
  browser,
}: {
  publicUrl: string;
  appOrigin: string;
  browser: BrowserContext;
}) {
  /** An account made through the API, as the app keeps it in localStorage once signed in. */
  async function apiAccount(
    name: string,
    accountType: 'CUSTOMER' | 'ORGANIZER' = 'CUSTOMER',
  ): Promise<Account> {
    const answer = await postGraphQL(
      publicUrl,
      'mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id name email role } } }',
      { input: { email: `${randomUUID()}@example.com`, password, name, accountType } },
    );
    expect(answer.body.errors).toBeUndefined();
    return answer.body.data?.signUp as Account;
  }

  /**
   * A draft by `organizer`, 20 days ahead in Oslo's time zone, with a tier of each name
   * (`capacity` seats, 5 unless said; 10 EUR), through the API; returns its id.
   */
  async function draftEvent(
    organizer: Account,
    event: { title: string; venue?: string; city?: string },
    tierNames: string[],
    capacity = 5,
  ): Promise<string> {
    const created = await postGraphQL(
      publicUrl,
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
      {
        input: {
          title: event.title,
          venue: event.venue ?? 'Hall',
          city: event.city ?? 'Oslo',
          timezone: 'Europe/Oslo',
          startsAt: new Date(Date.now() + 20 * 86_400_000).toISOString(),
        },
      },
      organizer.accessToken,
    );
    const eventId = (created.body.data?.createEvent as { id: string } | undefined)?.id ?? '';
    for (const name of tierNames) {
      const tier = await postGraphQL(
        publicUrl,
        'mutation ($eventId: ID!, $input: TicketTierInput!) { createTicketTier(eventId: $eventId, input: $input) { id } }',
        { eventId, input: { name, priceCents: 1000, currency: 'EUR', capacity } },
        organizer.accessToken,
      );
      expect(tier.body.errors).toBeUndefined();
    }
    return eventId;
  }

  /**
   * An event on sale with one tier of `capacity` seats (5 unless said), through the API, by
   * `organizer` or a new organizer of that name; returns its id.
   */
  async function publishedEvent(names: {
    organizer?: Account;
    organizerName: string;
    title: string;
    venue: string;
    city: string;
    tierName: string;
    capacity?: number;
  }): Promise<string> {
    const organizer = names.organizer ?? (await apiAccount(names.organizerName, 'ORGANIZER'));
    const eventId = await draftEvent(organizer, names, [names.tierName], names.capacity);
    const published = await postGraphQL(
      publicUrl,
      'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
      { id: eventId },
      organizer.accessToken,
    );
    expect(published.body.errors).toBeUndefined();
    // The tickets service learns of the publication through the outbox, a moment later; until
    // then the event is not on sale there (README, "Events and how tickets learn of them"). On a
    // busy machine that moment outlasted the purchase a test sent next (SALES_CLOSED).
    await until(async () => {
      const read = await postGraphQL(
        publicUrl,
        'query ($id: ID!) { event(id: $id) { ticketsAvailable } }',
        { id: eventId },
      );
      return (read.body.data?.event as { ticketsAvailable: number } | null)?.ticketsAvailable;
    }).toBe(names.capacity ?? 5);
    return eventId;
  }

  /**
   * A new event on sale by a new organizer (tier "Floor" of `capacity` seats, 5 unless said),
   * titled `label` and a few letters of its own.
   */
  async function eventOnSale(label: string, capacity = 5) {
    const title = `${label} ${randomUUID().slice(0, 8)}`;
    const organizer = await apiAccount(`${label} Organizer`, 'ORGANIZER');
    const eventId = await publishedEvent({
      organizer,
      organizerName: organizer.user.name,
      title,
      venue: 'Hall',
      city: 'Oslo',
      tierName: 'Floor',
      capacity,
    });
    return { eventId, title, organizer };
  }

  /** A page of the app, signed in as `session` (if given). */
  async function appPage(session?: Account, context: BrowserContext = browser): Promise<Page> {
    const page = await offlinePage(context);
    // A session an earlier test left in this profile sends no request while `session` is put in
    // its place: one answered after would refresh `session`'s tokens, not its own.
    if (session) await page.route(publicUrl, (route) => route.abort());
    await page.goto(`${appOrigin}/`);
    if (session) {
      await page.evaluate(
        (stored) => localStorage.setItem('ticketing.session', stored),
        JSON.stringify(session),
      );
      await page.unroute(publicUrl);
      await page.reload();
    }
    return page;
  }

  return { apiAccount, draftEvent, publishedEvent, eventOnSale, appPage };
}

export interface StartedWebApp {
  started: TestTopology;
  /** The app, served from another origin than the API's. */
  app: string;
  browser: BrowserContext;
  /** Accounts, events and pages, as `webApp` makes them for this app. */
  web: ReturnType<typeof webApp>;
  stop: () => Promise<void>;
}

/**
 * The app built, the topology started with `env` (every account of a test signs up from
 * 127.0.0.1: more than the 10 an hour one address may make), the app served from another origin, and a
 * Chromium with a profile of its own.
 */
export async function startWebApp(
  label: string,
  env: NodeJS.ProcessEnv = {},
): Promise<StartedWebApp> {
  buildWebApp({ quiet: true });
  const started = await startTestTopology(label, { SIGN_UPS_PER_ADDRESS: '1000', ...env });
  let staticServer: Server | undefined;
  let profileDir: string | undefined;
  let browser: BrowserContext | undefined;
  const stop = async () => {
    await browser?.close();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
    staticServer?.close();
    await started.stop();
  };
  try {
    staticServer = await serveAppElsewhere(started.topology.publicUrl);
    const { port } = staticServer.address() as { port: number };
    profileDir = await mkdtemp(join(tmpdir(), 'ticketing-chromium-'));
    browser = await launchBrowser(profileDir);
    const app = `http://127.0.0.1:${port}`;
    const web = webApp({ publicUrl: started.topology.publicUrl, appOrigin: app, browser });
    return { started, app, browser, web, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
