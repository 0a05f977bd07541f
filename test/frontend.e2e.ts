// The reference web app in a real browser (Debian's Chromium, driven by playwright-core)
// against the real topology: the buyer's and the organizer's journeys, once from another
// origin (a static server of this test's own, which proves CORS) and once from the same
// origin (NGINX serves the app at /). Then the offline explorer runs a query, and a ticket
// goes from one account to another, each in a browser of its own. Screenshots of each screen
// go to test-results/screenshots/.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webRoot } from '../scripts/nginx.ts';
import {
  createSaleEventMutation,
  createSaleTierMutation,
  holdMutation,
  publishSaleEventMutation,
  purchaseMutation,
} from './documents.ts';
import { postGraphQL, type TestTopology } from './support.ts';
import {
  type Account,
  isOperation,
  launchBrowser,
  offlinePage,
  password,
  type StartedWebApp,
  shoot,
  startWebApp,
  stepTimeoutMs,
  until,
} from './web-app.ts';

let started: TestTopology;
let edgeOrigin: string;
let crossOrigin: string;
let browser: BrowserContext;
let web: StartedWebApp['web'];
let stopWebApp: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const running = await startWebApp('frontend');
  ({ started, browser, web } = running);
  crossOrigin = running.app;
  stopWebApp = running.stop;
  edgeOrigin = new URL(started.topology.publicUrl).origin;
});

afterAll(() => stopWebApp?.());

/** Signs up through the form; returns the new account's email. */
async function signUp(page: Page, app: string, name: string, organizer: boolean) {
  const email = `${randomUUID()}@example.com`;
  await page.goto(`${app}#/login`);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  if (organizer) await page.getByLabel('I organize events').check();
  await page.getByRole('button', { name: 'Create account' }).click();
  await until(() => page.getByTestId('signed-in-as').textContent()).toBe(name);
  return email;
}

/** Publishes `count` events in a city of their own, through the API; returns the city. */
async function eventsInNewCity(count: number): Promise<string> {
  const city = `Testby ${randomUUID().slice(0, 8)}`;
  const organizer = await postGraphQL(
    started.topology.publicUrl,
    'mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
    {
      input: {
        email: `${randomUUID()}@example.com`,
        password,
        name: 'Lister',
        accountType: 'ORGANIZER',
      },
    },
  );
  const token = (organizer.body.data?.signUp as { accessToken: string } | undefined)?.accessToken;
  for (let i = 0; i < count; i++) {
    const created = await postGraphQL(
      started.topology.publicUrl,
      'mutation ($input: CreateEventInput!) { createEvent(input: $input) { id } }',
      {
        input: {
          title: `Listed ${i}`,
          venue: 'Hall',
          city,
          timezone: 'Europe/Oslo',
          startsAt: new Date(Date.now() + (10 + i) * 86_400_000).toISOString(),
        },
      },
      token,
    );
    const id = (created.body.data?.createEvent as { id: string } | undefined)?.id;
    const published = await postGraphQL(
      started.topology.publicUrl,
      'mutation ($id: ID!) { publishEvent(id: $id) { id } }',
      { id },
      token,
    );
    expect(published.body.errors).toBeUndefined();
  }
  return city;
}

/** Runs both journeys with the app served from `app`; `label` prefixes the screenshots. */
async function journeys(app: string, label: string) {
  const page = await offlinePage(browser);
  try {
    await journeysOn(page, app, label);
  } catch (error) {
    // What the page showed when a step failed.
    await shoot(page, `${label}-failed`);
    throw error;
  } finally {
    await page.close();
  }
}

async function journeysOn(page: Page, app: string, label: string) {
  const title = `Fjord Jazz ${label} ${randomUUID().slice(0, 8)}`;

  // Organizer: create an event, add a tier, publish.
  const organizerEmail = await signUp(page, app, 'Olga Organizer', true);
  // The page's origin is `app`'s, and it calls the edge: cross-origin unless they match.
  expect(new URL(page.url()).origin).toBe(new URL(app).origin);
  expect(await page.locator('footer code').textContent()).toBe(started.topology.publicUrl);
  await until(() => new URL(page.url()).hash).toBe('#/organizer');
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Venue').fill('Operahuset');
  await page.getByLabel('City').fill('Oslo');
  const startsAt = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 16);
  await page.getByLabel('Starts').fill(startsAt);
  await page.getByLabel('Time zone').fill('Europe/Oslo');
  await page.getByRole('button', { name: 'Create draft' }).click();
  const managed = page.getByTestId('managed-event').filter({ hasText: title });
  await until(() => managed.getAttribute('data-status')).toBe('DRAFT');
  await managed.getByLabel('Tier name').fill('Floor');
  await managed.getByLabel('Price').fill('25');
  await managed.getByLabel('Capacity').fill('50');
  await managed.getByRole('button', { name: 'Add tier' }).click();
  await managed.getByRole('cell', { name: 'Floor' }).waitFor();
  await shoot(page, `${label}-organizer-draft`);
  await managed.getByRole('button', { name: 'Publish' }).click();
  await until(() => managed.getAttribute('data-status')).toBe('PUBLISHED');
  await shoot(page, `${label}-organizer-published`);
  await page.getByRole('button', { name: 'Log out' }).click();

  // Buyer: a wrong password is told apart from an expired session.
  await page.goto(`${app}#/login`);
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('not the password at all');
  await page.locator('form').getByRole('button', { name: 'Log in' }).click();
  await until(() => page.getByRole('alert').getAttribute('data-code')).toBe('INVALID_CREDENTIALS');
  await shoot(page, `${label}-buyer-wrong-password`);
  await signUp(page, app, 'Bea Buyer', false);

  // Browse: a city filter shows a page of events, and "Load more" the rest.
  const city = await eventsInNewCity(11);
  await page.getByLabel('City').fill(city);
  const cards = page.locator('.event');
  await until(() => cards.count()).toBe(10);
  await page.getByRole('button', { name: 'Load more' }).click();
  await until(() => cards.count()).toBe(11);
  await shoot(page, `${label}-buyer-load-more`);
  await page.getByLabel('City').fill('');

  // Search finds the organizer's event.
  await page.getByLabel('Search').fill(title);
  const card = page.locator('.event').filter({ hasText: title });
  await card.waitFor();
  await shoot(page, `${label}-buyer-events`);
  await card.getByRole('link').click();

  // Hold two seats: a countdown runs, and a reload finds the hold again.
  const floor = page.getByTestId('tier-Floor');
  await until(() => floor.getByTestId('available').textContent()).toBe('50');
  await page.getByLabel('Quantity of Floor').fill('2');
  await page.getByRole('button', { name: 'Hold' }).click();
  const hold = page.getByTestId('hold');
  await hold.waitFor();
  await until(() => floor.getByTestId('available').textContent()).toBe('48');
  await page.reload();
  await hold.waitFor();
  expect(await hold.getByTestId('countdown').textContent()).toMatch(/^\d+:\d\d$/);
  await shoot(page, `${label}-buyer-hold`);

  // Someone else buys one: the page shows it by polling, without a reload.
  const rival = await postGraphQL(
    started.topology.publicUrl,
    'mutation ($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
    { input: { email: `${randomUUID()}@example.com`, password, name: 'Rival' } },
  );
  const rivalToken = (rival.body.data?.signUp as { accessToken: string } | undefined)?.accessToken;
  const tierId = await page.evaluate(async (url) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `{ events(first: 100) { edges { node { title ticketTiers { id } } } } }`,
      }),
    });
    return response.json();
  }, started.topology.publicUrl);
  const rivalTier = (
    tierId.data.events.edges as { node: { title: string; ticketTiers: { id: string }[] } }[]
  ).find((edge) => edge.node.title === title)?.node.ticketTiers[0]?.id;
  const rivalPurchase = await postGraphQL(
    started.topology.publicUrl,
    purchaseMutation,
    { input: { tierId: rivalTier, quantity: 1, idempotencyKey: randomUUID() } },
    rivalToken,
  );
  expect(rivalPurchase.body.errors).toBeUndefined();
  await until(() => floor.getByTestId('available').textContent()).toBe('47');

  // Buy: the order shows both tickets with their codes as QR images.
  await hold.getByRole('button', { name: 'Buy' }).click();
  await until(() => new URL(page.url()).hash).toBe('#/orders');
  const order = page.getByTestId('order').filter({ hasText: title });
  await until(() => order.locator('img.qr').count()).toBe(2);
  await shoot(page, `${label}-buyer-orders`);

  // An expired or invalid access token is refreshed without the user noticing.
  const before = await page.evaluate(() => localStorage.getItem('ticketing.session'));
  await page.evaluate(() => {
    const session = JSON.parse(localStorage.getItem('ticketing.session') ?? '{}');
    localStorage.setItem(
      'ticketing.session',
      JSON.stringify({ ...session, accessToken: 'expired.access.token' }),
    );
  });
  await page.reload();
  await until(() => order.locator('img.qr').count()).toBe(2);
  const after = JSON.parse(
    (await page.evaluate(() => localStorage.getItem('ticketing.session'))) ?? '{}',
  );
  expect(after.refreshToken).not.toBe(JSON.parse(before ?? '{}').refreshToken);
  expect(after.accessToken).not.toBe('expired.access.token');

  // Cancel one ticket: the page updates from the mutation's answer.
  await order.getByRole('button', { name: 'Cancel ticket' }).first().click();
  await until(() => order.locator('[data-status="CANCELLED"]').count()).toBe(1);
  await until(() => order.locator('img.qr').count()).toBe(1);
  await shoot(page, `${label}-buyer-cancelled-ticket`);
  await page.getByRole('button', { name: 'Log out' }).click();

  // Organizer: what sold (the buyer's one left and the rival's), then cancel the event.
  await page.goto(`${app}#/login`);
  await page.getByLabel('Email').fill(organizerEmail);
  await page.getByLabel('Password').fill(password);
  await page.locator('form').getByRole('button', { name: 'Log in' }).click();
  await until(() => new URL(page.url()).hash).toBe('#/organizer');
  await until(() => managed.getByTestId('sold').textContent()).toBe('2');
  await shoot(page, `${label}-organizer-sold`);
  await managed.getByRole('button', { name: 'Cancel event' }).click();
  await until(() => managed.getAttribute('data-status')).toBe('CANCELLED');
  await shoot(page, `${label}-organizer-cancelled`);

  // The cancelled event sells nothing: its tier shows 0 and is not on sale.
  await managed.getByRole('link', { name: title }).click();
  await until(() => floor.getByTestId('available').textContent()).toBe('0');
  await floor.getByText('Not on sale').waitFor();
  await shoot(page, `${label}-event-cancelled`);
}

describe('the web app in a browser', () => {
  it('serves CORS to allowed origins only, and CSRF prevention still refuses simple requests', async () => {
    const preflight = (origin: string) =>
      fetch(started.topology.publicUrl, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-request-id',
        },
      });
    const allowed = await preflight(crossOrigin);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(crossOrigin);
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(
      /authorization.*content-type.*apollo-require-preflight.*x-request-id/,
    );
    expect(Number(allowed.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(allowed.headers.get('vary')).toMatch(/origin/i);

    const stranger = await preflight('https://evil.example');
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
    expect(stranger.headers.get('access-control-allow-headers')).toBeNull();

    const answer = await fetch(started.topology.publicUrl, {
      method: 'POST',
      headers: { origin: crossOrigin, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('access-control-allow-origin')).toBe(crossOrigin);
    expect(answer.headers.get('access-control-expose-headers')).toMatch(/x-request-id/i);
    // A refusal's Retry-After is readable by the page, which says when to try again.
    expect(answer.headers.get('access-control-expose-headers')).toMatch(/retry-after/i);

    // A form or text/plain POST needs no preflight, so CSRF prevention must refuse it.
    const simple = await fetch(started.topology.publicUrl, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ query: 'mutation { logOut(refreshToken: "x") }' }),
    });
    expect(simple.status).toBe(400);
    expect(await simple.text()).toMatch(/CSRF/i);
  });

  // About 20 s each on an idle machine; room for a busy one.
  const journeyTimeoutMs = 300_000;

  it(
    'runs both journeys from another origin, through CORS',
    async () => {
      await journeys(`${crossOrigin}/`, 'cross-origin');
    },
    journeyTimeoutMs,
  );

  it(
    'runs both journeys from the same origin, served by NGINX at /',
    async () => {
      await journeys(`${edgeOrigin}/`, 'same-origin');
    },
    journeyTimeoutMs,
  );

  it('downloads the app from the edge gzipped, as the build wrote it', async () => {
    // A browser of its own: this one's cache may hold the app's files from the journeys.
    const dir = await mkdtemp(join(tmpdir(), 'ticketing-chromium-'));
    const fresh = await launchBrowser(dir);
    try {
      const page = await offlinePage(fresh);
      const finished: Promise<{ url: string; encoding: string | undefined; sent: number }>[] = [];
      page.on('requestfinished', (request) => {
        if (request.resourceType() !== 'script') return;
        finished.push(
          (async () => ({
            url: request.url(),
            encoding: (await (await request.response())?.allHeaders())?.['content-encoding'],
            sent: (await request.sizes()).responseBodySize,
          }))(),
        );
      });
      await page.goto(`${edgeOrigin}/`, { waitUntil: 'load' });
      await page.getByRole('heading', { name: 'Events' }).waitFor({ timeout: stepTimeoutMs });
      const scripts = await Promise.all(finished);
      expect(scripts.length).toBeGreaterThan(0);
      for (const script of scripts) {
        const path = new URL(script.url).pathname;
        const onDisk = (await readFile(join(webRoot, path))).length;
        expect(script.encoding, path).toBe('gzip');
        // What crossed the network: the file written beside it at build time, a third or less.
        expect(script.sent, path).toBe((await readFile(join(webRoot, `${path}.gz`))).length);
        expect(script.sent, path).toBeLessThan(onDisk / 3);
      }
    } finally {
      await fresh.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves an explorer that works offline and runs a query', async () => {
    const landing = await fetch(started.topology.publicUrl, { headers: { accept: 'text/html' } });
    expect(await landing.text()).toContain('href="/explorer"');
    const page = await offlinePage(browser);
    await page.goto(`${edgeOrigin}/explorer`);
    await page.locator('.graphiql-execute-button').click();
    await until(() => page.locator('.result-window').textContent()).toContain('"events"');
    await shoot(page, 'explorer');
    await page.close();
  });
});

/** A buyer of their own on the page of a new event on sale (tier "Floor", 5 seats). */
async function buyerOnNewEvent(label: string) {
  const { title, eventId } = await web.eventOnSale(label);
  const page = await web.appPage(await web.apiAccount(`${label} Buyer`));
  await page.goto(`${crossOrigin}/#/events/${eventId}`);
  return { page, title };
}

/** The edge's own answer while no gateway is reachable. */
const edgeUnavailable = {
  status: 502,
  contentType: 'application/json',
  body: '{"errors":[{"message":"Service unavailable.","extensions":{"code":"SERVICE_UNAVAILABLE"}}]}',
};

/** A page signed in as a new account whose access token has expired: it refreshes first. */
async function expiredSessionPage(name: string) {
  const session = await web.apiAccount(name);
  return { session, page: await web.appPage({ ...session, accessToken: 'expired.access.token' }) };
}

/** Answers the page's session refreshes with `answer`, and lets everything else through. */
function answerRefreshesWith(page: Page, answer: Parameters<Route['fulfill']>[0]) {
  return page.route(started.topology.publicUrl, (route) =>
    isOperation(route.request().postData(), 'RefreshSession')
      ? route.fulfill(answer)
      : route.fallback(),
  );
}

/** The page is still signed in as `session`, with its refresh token: nothing signed it out. */
async function expectSessionKept(
  page: Page,
  session: { refreshToken: string; user: { name: string } },
) {
  expect(await page.getByTestId('signed-in-as').textContent()).toBe(session.user.name);
  const kept = await page.evaluate(() => localStorage.getItem('ticketing.session'));
  expect(JSON.parse(kept ?? 'null')?.refreshToken).toBe(session.refreshToken);
}

describe('the web app with hostile data and a failing network', () => {
  it('shows what other people wrote as text, within the page, whatever its length', async () => {
    const title = `Long${'W'.repeat(196)}`;
    const venue = `<img src=x onerror="window.injected=true">${'V'.repeat(150)}`;
    const eventId = await web.publishedEvent({
      organizerName: `Org${'N'.repeat(97)}`,
      title,
      venue,
      city: `City${'C'.repeat(96)}`,
      tierName: `Tier${'T'.repeat(96)}`,
    });
    const page = await web.appPage();
    try {
      const overflow = () =>
        page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
      await page.getByLabel('Search').fill(title.slice(0, 40));
      await page.locator('.event').filter({ hasText: title }).waitFor();
      await shoot(page, 'hostile-list');
      expect(await overflow()).toBe(0);
      await page.goto(`${crossOrigin}/#/events/${eventId}`);
      await page.getByRole('heading', { name: title }).waitFor();
      await shoot(page, 'hostile-event');
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.evaluate(() => 'injected' in window)).toBe(false);
      expect(await page.locator('main').textContent()).toContain(venue);
      expect(await overflow()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('gives up on an API that never answers, and says so', async () => {
    const page = await web.appPage();
    try {
      // The connection is accepted and then nothing comes back.
      await page.route(started.topology.publicUrl, () => undefined);
      await page.reload();
      const alert = page.getByRole('alert');
      await until(() => alert.getAttribute('data-code')).toBe('NETWORK_ERROR');
      await shoot(page, 'api-never-answers');
    } finally {
      await page.close();
    }
  });

  it('keeps the session when the API cannot refresh it for now, and refreshes it later', async () => {
    const { session, page } = await expiredSessionPage('Patient Buyer');
    try {
      await answerRefreshesWith(page, edgeUnavailable);
      await page.goto(`${crossOrigin}/#/orders`);
      await page.reload();
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(
        'SERVICE_UNAVAILABLE',
      );
      await expectSessionKept(page, session);

      await page.unroute(started.topology.publicUrl);
      await page.reload();
      await page.getByText('No orders yet.').waitFor();
      expect(await page.getByTestId('signed-in-as').textContent()).toBe('Patient Buyer');
    } finally {
      await page.close();
    }
  });

  it('shows the API’s complaint about a field beside that field, and keeps what was typed', async () => {
    const organizer = await web.apiAccount('Careful Organizer', 'ORGANIZER');
    const page = await web.appPage(organizer);
    try {
      await page.goto(`${crossOrigin}/#/organizer`);
      // Pasted blanks: nothing the page could show as a title.
      await page.getByLabel('Title').fill('  \t ');
      await page.getByLabel('Venue').fill('Hall');
      await page.getByLabel('City').fill('Oslo');
      await page
        .getByLabel('Starts')
        .fill(new Date(Date.now() + 86_400_000).toISOString().slice(0, 16));
      await page.getByRole('button', { name: 'Create draft' }).click();
      const title = page.getByLabel('Title');
      await until(() => title.getAttribute('aria-invalid')).toBe('true');
      const described = await title.getAttribute('aria-describedby');
      expect(await page.locator(`[id="${described}"]`).textContent()).toMatch(/input\.title/);
      expect(await page.getByLabel('Venue').getAttribute('aria-invalid')).toBeNull();
      expect(await page.getByLabel('Venue').inputValue()).toBe('Hall');
      await shoot(page, 'field-error');

      // An impossible number of seats, in the tier form of the draft.
      await title.fill('Careful draft');
      await page.getByRole('button', { name: 'Create draft' }).click();
      const managed = page.getByTestId('managed-event').filter({ hasText: 'Careful draft' });
      await managed.getByLabel('Tier name').fill('Floor');
      await managed.getByLabel('Price').fill('10');
      const capacity = managed.getByLabel('Capacity');
      await capacity.fill('-3');
      await managed.getByRole('button', { name: 'Add tier' }).click();
      await until(() => capacity.getAttribute('aria-invalid')).toBe('true');
      const about = await capacity.getAttribute('aria-describedby');
      expect(await page.locator(`[id="${about}"]`).textContent()).toMatch(/input\.capacity/);
      expect(await managed.getByLabel('Price').getAttribute('aria-invalid')).toBeNull();
      expect(await capacity.inputValue()).toBe('-3');
    } finally {
      await page.close();
    }
  });

  it('takes the start typed for an event as its venue’s clocks show it, wherever the browser is', async () => {
    const organizer = await web.apiAccount('Faraway Organizer', 'ORGANIZER');
    const page = await web.appPage(organizer);
    try {
      // The organizer's computer is in Kathmandu (+05:45); the venues are in New York and Berlin.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Emulation.setTimezoneOverride', { timezoneId: 'Asia/Kathmandu' });
      await page.goto(`${crossOrigin}/#/organizer`);
      await page.reload();
      const year = new Date().getUTCFullYear() + 2;
      // The last Sunday of March, when Berlin's clocks skip from 02:00 to 03:00.
      const lastOfMarch = new Date(Date.UTC(year, 2, 31));
      const springForward = 31 - lastOfMarch.getUTCDay();
      const drafts = [
        {
          zone: 'America/New_York',
          typed: `${year}-06-01T19:30`,
          shown: `1 Jun ${year}, 19:30`,
          instant: `${year}-06-01T23:30:00.000Z`,
        },
        // A time the clocks skip is the same time after the jump, as the venue's clocks go on.
        {
          zone: 'Europe/Berlin',
          typed: `${year}-03-${springForward}T02:30`,
          shown: `${springForward} Mar ${year}, 03:30`,
          instant: `${year}-03-${springForward}T01:30:00.000Z`,
        },
      ];
      for (const draft of drafts) {
        const title = `Clock ${draft.zone} ${randomUUID().slice(0, 8)}`;
        // Exactly: a draft's tier form has a Capacity.
        await page.getByLabel('Title', { exact: true }).fill(title);
        await page.getByLabel('Venue', { exact: true }).fill('Hall');
        await page.getByLabel('City', { exact: true }).fill('Anywhere');
        await page.getByLabel('Starts', { exact: true }).fill(draft.typed);
        await page.getByLabel('Time zone', { exact: true }).fill(draft.zone);
        await page.getByRole('button', { name: 'Create draft' }).click();
        const managed = page.getByTestId('managed-event').filter({ hasText: title });
        await until(() => managed.getAttribute('data-status')).toBe('DRAFT');
        expect(await managed.locator('p.muted').textContent()).toContain(draft.shown);
        const listed = await postGraphQL(
          started.topology.publicUrl,
          'query { me { organizedEvents(first: 10) { edges { node { title startsAt } } } } }',
          {},
          organizer.accessToken,
        );
        const { edges } = (
          listed.body.data as {
            me: { organizedEvents: { edges: { node: { title: string; startsAt: string } }[] } };
          }
        ).me.organizedEvents;
        expect(edges.find((edge) => edge.node.title === title)?.node.startsAt).toBe(draft.instant);
      }
    } finally {
      await page.close();
    }
  });

  it('keeps the event page, the hold and its Buy button while a poll fails', async () => {
    const { page } = await buyerOnNewEvent('Steady');
    try {
      await page.getByLabel('Quantity of Floor').fill('2');
      await page.getByRole('button', { name: 'Hold' }).click();
      const hold = page.getByTestId('hold');
      await hold.waitFor();
      // The gateways restart: the page's next polls are answered 502 by the edge.
      await page.route(started.topology.publicUrl, (route) =>
        isOperation(route.request().postData(), 'EventPage')
          ? route.fulfill(edgeUnavailable)
          : route.fallback(),
      );
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(
        'SERVICE_UNAVAILABLE',
      );
      await shoot(page, 'poll-failed');
      expect(await hold.getByRole('button', { name: 'Buy' }).isVisible()).toBe(true);
      expect(await page.getByTestId('tier-Floor').getByTestId('available').textContent()).toBe('3');
      await page.unroute(started.topology.publicUrl);
      await until(() => page.getByRole('alert').count()).toBe(0);

      // What is kept is this event's only: another event, still loading, never shows it.
      const other = await web.publishedEvent({
        organizerName: 'Other Organizer',
        title: 'Other',
        venue: 'Hall',
        city: 'Oslo',
        tierName: 'Floor',
      });
      await page.route(started.topology.publicUrl, (route) =>
        isOperation(route.request().postData(), 'EventPage') ? undefined : route.fallback(),
      );
      await page.goto(`${crossOrigin}/#/events/${other}`);
      await page.getByText('Loading…').waitFor();
      expect(await page.getByRole('button', { name: 'Hold' }).count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('buys once when Buy is double-clicked and pressed again after the answer is lost', async () => {
    const { page, title } = await buyerOnNewEvent('Once');
    try {
      await page.getByLabel('Quantity of Floor').fill('2');
      await page.getByRole('button', { name: 'Hold' }).click();
      const buy = page.getByTestId('hold').getByRole('button', { name: 'Buy' });
      await buy.waitFor();
      // The purchase reaches the API and is placed, but its answer is lost on the way back.
      const keys: string[] = [];
      await page.route(started.topology.publicUrl, async (route) => {
        const body = route.request().postData();
        if (!isOperation(body, 'PurchaseTickets')) return route.fallback();
        keys.push(JSON.parse(body ?? '{}').variables.input.idempotencyKey);
        await route.fetch();
        return route.fulfill(edgeUnavailable);
      });
      await buy.dblclick();
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(
        'SERVICE_UNAVAILABLE',
      );
      expect(keys).toHaveLength(1);
      await page.unroute(started.topology.publicUrl);
      await page.route(started.topology.publicUrl, (route) => {
        const body = route.request().postData();
        if (isOperation(body, 'PurchaseTickets')) {
          keys.push(JSON.parse(body ?? '{}').variables.input.idempotencyKey);
        }
        return route.fallback();
      });
      await buy.click();
      await until(() => new URL(page.url()).hash).toBe('#/orders');
      expect(keys).toHaveLength(2);
      expect(keys[1]).toBe(keys[0]);
      const orders = page.getByTestId('order').filter({ hasText: title });
      await until(() => orders.locator('img.qr').count()).toBe(2);
      expect(await orders.count()).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('signs out every tab when one logs out', async () => {
    const session = await web.apiAccount('Two Tabs');
    const first = await web.appPage(session);
    const second = await browser.newPage();
    try {
      await first.goto(`${crossOrigin}/#/orders`);
      await second.goto(`${crossOrigin}/#/orders`);
      await second.getByText('No orders yet.').waitFor();
      await first.getByRole('button', { name: 'Log out' }).click();
      await second.getByRole('link', { name: 'Log in' }).waitFor();
      expect(await second.getByText('No orders yet.').count()).toBe(0);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('says when to try again when the API is too busy to hash a new password', async () => {
    const page = await web.appPage();
    try {
      // The answer a gateway gives while the users service's hashing queue is full.
      await page.route(started.topology.publicUrl, (route) =>
        isOperation(route.request().postData(), 'SignUp')
          ? route.fulfill({
              status: 200,
              contentType: 'application/json',
              body: '{"data":null,"errors":[{"message":"Too many requests.","path":["signUp"],"extensions":{"code":"TOO_MANY_REQUESTS","retryAfterSeconds":3}}]}',
            })
          : route.fallback(),
      );
      await page.goto(`${crossOrigin}/#/login`);
      await page.getByRole('button', { name: 'Sign up' }).click();
      await page.getByLabel('Name').fill('Busy');
      await page.getByLabel('Email').fill(`${randomUUID()}@example.com`);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Create account' }).click();
      const alert = page.getByRole('alert');
      await until(() => alert.getAttribute('data-code')).toBe('TOO_MANY_REQUESTS');
      expect(await alert.textContent()).toMatch(/try again in 3 seconds/i);
      expect(await page.getByLabel('Name').inputValue()).toBe('Busy');
    } finally {
      await page.close();
    }
  });

  it('marks an impossible quantity beside the tier it was typed for', async () => {
    const { page } = await buyerOnNewEvent('Counting');
    try {
      const quantity = page.getByLabel('Quantity of Floor');
      for (const typed of ['0', '2.5', '-1']) {
        await quantity.fill(typed);
        await page.getByRole('button', { name: 'Hold' }).click();
        await until(() => quantity.getAttribute('aria-invalid')).toBe('true');
        const about = await quantity.getAttribute('aria-describedby');
        expect(await page.locator(`[id="${about}"]`).textContent()).toMatch(/quantity/);
        expect(await quantity.inputValue()).toBe(typed);
        expect(await page.getByTestId('hold').count()).toBe(0);
      }
    } finally {
      await page.close();
    }
  });
});

/** What the page shows in its alert: the code, and the sentence. */
async function shownAlert(page: Page) {
  const alert = page.getByRole('alert');
  await alert.waitFor();
  return { code: await alert.getAttribute('data-code'), text: (await alert.textContent()) ?? '' };
}

/** The new-event form, filled in, on the organizer's page. */
async function filledNewEvent(page: Page, title: string) {
  await page.goto(`${crossOrigin}/#/organizer`);
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByLabel('Venue', { exact: true }).fill('Hall');
  await page.getByLabel('City', { exact: true }).fill('Oslo');
  await page
    .getByLabel('Starts', { exact: true })
    .fill(new Date(Date.now() + 86_400_000).toISOString().slice(0, 16));
}

describe('the web app refused by the API', () => {
  it('says when to try again once the account has spent its write budget, and keeps the form and the session', async () => {
    const organizer = await web.apiAccount('Hasty Organizer', 'ORGANIZER');
    const page = await web.appPage(organizer);
    try {
      await filledNewEvent(page, 'Too fast');
      // The budget spent with real requests, as a loop would: 15 aliased mutation fields a
      // request (the most aliases a document may have), until every gateway answers 429
      // (this topology has no Redis: each gateway counts the account's writes alone).
      const gateways = [...started.topology.processes.keys()].filter((name) =>
        name.startsWith('gateway'),
      ).length;
      const fields = Array.from({ length: 15 }, (_, i) => `f${i}: deleteTicketTier(id: "none")`);
      const refusedBy = new Set<string | null>();
      let refusal: Awaited<ReturnType<typeof postGraphQL>> | undefined;
      for (let sent = 0; refusedBy.size < gateways && sent < 120; sent++) {
        const answer = await postGraphQL(
          started.topology.publicUrl,
          `mutation { ${fields.join(' ')} }`,
          {},
          organizer.accessToken,
        );
        if (answer.status === 429) {
          refusedBy.add(answer.servedBy);
          refusal = answer;
        }
      }
      expect(refusedBy.size).toBe(gateways);
      expect(refusal?.body.errors?.[0]?.extensions?.code).toBe('TOO_MANY_REQUESTS');
      await page.getByRole('button', { name: 'Create draft' }).click();
      await until(() => shownAlert(page)).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
      const { text } = await shownAlert(page);
      expect(text).toMatch(/^Too many requests: try again in \d+ seconds?\./);
      expect(text).not.toMatch(/cannot be reached/);
      await shoot(page, 'write-budget-spent');
      expect(await page.getByLabel('Title', { exact: true }).inputValue()).toBe('Too fast');
      await expectSessionKept(page, organizer);
    } finally {
      await page.close();
    }
  });

  it('keeps the session when its refresh is refused for too many attempts, and says when to try again', async () => {
    const { session, page } = await expiredSessionPage('Throttled Buyer');
    try {
      // The users service's answer to an account past its refreshes for the hour.
      await answerRefreshesWith(page, {
        status: 200,
        contentType: 'application/graphql-response+json',
        body: '{"data":null,"errors":[{"message":"Too many session refreshes. Try again later.","path":["refreshSession"],"extensions":{"code":"TOO_MANY_ATTEMPTS","retryAfterSeconds":42}}]}',
      });
      await page.goto(`${crossOrigin}/#/orders`);
      await page.reload();
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(
        'TOO_MANY_ATTEMPTS',
      );
      expect(await page.getByRole('alert').textContent()).toMatch(
        /^Too many attempts: try again in 42 seconds\./,
      );
      await expectSessionKept(page, session);
    } finally {
      await page.close();
    }
  });

  it('names each refusal and failure of the edge for what it is, and keeps the form', async () => {
    const organizer = await web.apiAccount('Refused Organizer', 'ORGANIZER');
    const page = await web.appPage(organizer);
    const json = (code: string, message: string) =>
      JSON.stringify({ errors: [{ message, extensions: { code } }] });
    // The answers NGINX and the gateways give (nginx/templates, gateway/src), and a proxy's
    // HTML page in front of them.
    const answers = [
      {
        status: 413,
        body: json('PAYLOAD_TOO_LARGE', 'The request body is too large.'),
        code: 'PAYLOAD_TOO_LARGE',
        shown: /^The request is larger than the service accepts\./,
      },
      {
        status: 400,
        body: json('BAD_REQUEST', 'The request is malformed.'),
        code: 'BAD_REQUEST',
        shown: /^The service could not read the request\./,
      },
      {
        status: 503,
        headers: { 'retry-after': '9' },
        body: json('SERVICE_UNAVAILABLE', 'Draining.'),
        code: 'SERVICE_UNAVAILABLE',
        shown: /^A service is unavailable: try again in 9 seconds\./,
      },
      {
        status: 504,
        body: json('SERVICE_UNAVAILABLE', 'No gateway answered in time; retry.'),
        code: 'SERVICE_UNAVAILABLE',
        shown: /^The service took too long to answer\. Please try again\./,
      },
      {
        status: 502,
        contentType: 'text/html',
        body: '<html><body><h1>502 Bad Gateway</h1></body></html>',
        code: 'SERVICE_UNAVAILABLE',
        shown: /^A service is unavailable; try again shortly\./,
      },
      {
        status: 200,
        contentType: 'text/html',
        body: '<html><body>Sign in to the network</body></html>',
        code: 'UNREADABLE_RESPONSE',
        shown: /^The service's answer could not be read/,
      },
    ];
    try {
      await filledNewEvent(page, 'Refused draft');
      for (const answer of answers) {
        await page.route(started.topology.publicUrl, (route) =>
          isOperation(route.request().postData(), 'CreateEvent')
            ? route.fulfill({
                status: answer.status,
                contentType: answer.contentType ?? 'application/json',
                headers: {
                  ...answer.headers,
                  'access-control-expose-headers': 'Retry-After, X-Request-Id',
                },
                body: answer.body,
              })
            : route.fallback(),
        );
        await page.getByRole('button', { name: 'Create draft' }).click();
        await until(() => shownAlert(page)).toMatchObject({
          code: answer.code,
          text: expect.stringMatching(answer.shown),
        });
        expect((await shownAlert(page)).text).not.toMatch(/cannot be reached/);
        expect(await page.getByLabel('Title', { exact: true }).inputValue()).toBe('Refused draft');
        await page.unroute(started.topology.publicUrl);
      }
      await expectSessionKept(page, organizer);
    } finally {
      await page.close();
    }
  });
});

describe('the organizer’s tiers', () => {
  it('deletes a tier after a confirmation, and refuses to delete one in use, saying why', async () => {
    const organizer = await web.apiAccount('Tidy Organizer', 'ORGANIZER');
    const title = `Tiers ${randomUUID().slice(0, 8)}`;
    const send = async (query: string, variables: Record<string, unknown>, token: string) => {
      const answer = await postGraphQL(started.topology.publicUrl, query, variables, token);
      expect(answer.body.errors).toBeUndefined();
      return Object.values(answer.body.data ?? {})[0] as { id: string };
    };
    const event = await send(
      createSaleEventMutation,
      {
        input: {
          title,
          venue: 'Hall',
          city: 'Oslo',
          timezone: 'Europe/Oslo',
          startsAt: new Date(Date.now() + 20 * 86_400_000).toISOString(),
        },
      },
      organizer.accessToken,
    );
    const tier = (name: string) =>
      send(
        createSaleTierMutation,
        { eventId: event.id, input: { name, priceCents: 1000, currency: 'EUR', capacity: 5 } },
        organizer.accessToken,
      );
    const floor = await tier('Floor');
    await tier('Balcony');
    await send(publishSaleEventMutation, { id: event.id }, organizer.accessToken);
    const buyer = await web.apiAccount('Holding Buyer');
    await send(holdMutation, { tierId: floor.id, quantity: 1 }, buyer.accessToken);

    const page = await web.appPage(organizer);
    try {
      await page.goto(`${crossOrigin}/#/organizer`);
      const managed = page.getByTestId('managed-event').filter({ hasText: title });
      const row = (name: string) => managed.getByRole('row').filter({ hasText: name });
      await row('Balcony').waitFor();

      // Asked first: keeping it deletes nothing.
      await row('Balcony').getByRole('button', { name: 'Delete', exact: true }).click();
      await managed.getByRole('button', { name: 'Keep' }).click();
      expect(await managed.getByRole('button', { name: 'Keep' }).count()).toBe(0);
      expect(await row('Balcony').count()).toBe(1);

      await row('Balcony').getByRole('button', { name: 'Delete', exact: true }).click();
      await shoot(page, 'tier-delete-confirm');
      await row('Balcony').getByRole('button', { name: 'Delete Balcony' }).click();
      await until(() => row('Balcony').count()).toBe(0);
      expect(await row('Floor').count()).toBe(1);

      // Someone holds a seat of Floor: deleting it is refused, and it stays.
      await row('Floor').getByRole('button', { name: 'Delete', exact: true }).click();
      await row('Floor').getByRole('button', { name: 'Delete Floor' }).click();
      const alert = managed.getByRole('alert');
      await until(() => alert.getAttribute('data-code')).toBe('TIER_IN_USE');
      expect(await alert.textContent()).toMatch(/sold or held.*end its sales/i);
      await shoot(page, 'tier-in-use');
      expect(await row('Floor').count()).toBe(1);

      // The API agrees: one tier left.
      const listed = await postGraphQL(
        started.topology.publicUrl,
        'query { me { organizedEvents(first: 50) { edges { node { title ticketTiers { name } } } } } }',
        {},
        organizer.accessToken,
      );
      const mine = (
        listed.body.data as {
          me: {
            organizedEvents: {
              edges: { node: { title: string; ticketTiers: { name: string }[] } }[];
            };
          };
        }
      ).me.organizedEvents.edges.find((edge) => edge.node.title === title);
      expect(mine?.node.ticketTiers.map((t) => t.name)).toEqual(['Floor']);
    } finally {
      await page.close();
    }
  });
});

/**
 * `count` tickets (10 at most: one person's cap for an event) of a new event's tier "Floor",
 * bought through the API by `buyer`, in one order; returns the event's title.
 */
async function ticketsBoughtBy(buyer: Account, count: number): Promise<string> {
  const title = `Given ${randomUUID().slice(0, 8)}`;
  const eventId = await web.publishedEvent({
    organizerName: 'Giving Organizer',
    title,
    venue: 'Hall',
    city: 'Oslo',
    tierName: 'Floor',
    capacity: Math.max(count, 5),
  });
  const read = await postGraphQL(
    started.topology.publicUrl,
    'query ($id: ID!) { event(id: $id) { ticketTiers { id } } }',
    { id: eventId },
  );
  const tierId = (read.body.data as { event: { ticketTiers: { id: string }[] } }).event
    .ticketTiers[0]?.id;
  const bought = await postGraphQL(
    started.topology.publicUrl,
    purchaseMutation,
    { input: { tierId, quantity: count, idempotencyKey: randomUUID() } },
    buyer.accessToken,
  );
  expect(bought.body.errors).toBeUndefined();
  return title;
}

/** A new account with `count` tickets of a new event (see `ticketsBoughtBy`). */
async function holderOfTickets(count: number) {
  const giver = await web.apiAccount('Gina Giver');
  return { giver, title: await ticketsBoughtBy(giver, count) };
}

/** The wallet's tickets on `page` (of the event titled `title`, if given). */
const held = (page: Page, title?: string) =>
  title
    ? page.getByTestId('held-ticket').filter({ hasText: title })
    : page.getByTestId('held-ticket');

/**
 * A new account holding 25 tickets, more than the wallet's first page (20) shows: 5 of an
 * event bought first (the oldest, so the second page's), then 10 each of two others.
 */
async function holderOfManyTickets() {
  const giver = await web.apiAccount('Gina Giver');
  const oldest = await ticketsBoughtBy(giver, 5);
  const newer = [await ticketsBoughtBy(giver, 10), await ticketsBoughtBy(giver, 10)];
  return { giver, oldest, newer };
}

/** Whether a request (as the page sends it) asks for a page after a cursor. */
const asksAfterCursor = (postData: string | null) =>
  Boolean((JSON.parse(postData ?? '{}') as { variables?: { after?: string } }).variables?.after);

describe('the wallet longer than a page', () => {
  it('loads the tickets past the first page, and gives one of them to someone', async () => {
    const { giver, oldest, newer } = await holderOfManyTickets();
    const receiver = await web.apiAccount('Rob Receiver');
    const page = await web.appPage(giver);
    try {
      await page.goto(`${crossOrigin}/#/orders`);
      await until(() => held(page).count()).toBe(20);
      expect(await held(page, oldest).count()).toBe(0);

      await page.getByRole('button', { name: 'Load more tickets' }).click();
      await until(() => held(page).count()).toBe(25);
      expect(await held(page, oldest).count()).toBe(5);
      for (const title of newer) expect(await held(page, title).count()).toBe(10);
      // Every page is loaded: no button asks for more.
      expect(await page.getByRole('button', { name: 'Load more tickets' }).count()).toBe(0);
      await shoot(page, 'wallet-second-page');

      // A ticket of the second page is given: its offer names the receiver, and the wallet,
      // asked again for its first page after the offer, still shows the second.
      const ticket = held(page, oldest).first();
      await ticket.getByRole('button', { name: 'Give to someone' }).click();
      const form = page.locator('form.give');
      await form.getByLabel('Their email').fill(receiver.user.email);
      const refetched = page.waitForResponse((response) =>
        isOperation(response.request().postData(), 'MyTickets'),
      );
      await form.getByRole('button', { name: 'Offer the ticket' }).click();
      await refetched;
      const pending = held(page, oldest).getByTestId('pending-offer');
      await until(() => pending.count()).toBe(1);
      expect(await pending.textContent()).toContain(
        `Offered to Rob Receiver (${receiver.user.email}) until`,
      );
      expect(await held(page).count()).toBe(25);
      expect(await held(page, oldest).count()).toBe(5);

      const offered = await postGraphQL(
        started.topology.publicUrl,
        '{ myTicketTransfers { edges { node { status ticket { event { title } } } } } }',
        {},
        receiver.accessToken,
      );
      expect(offered.body.data).toEqual({
        myTicketTransfers: {
          edges: [{ node: { status: 'PENDING', ticket: { event: { title: oldest } } } }],
        },
      });
    } finally {
      await page.close();
    }
  }, 180_000);

  it('names a failed "Load more" (the edge refusing, a forged cursor) and keeps the tickets shown', async () => {
    const { giver, oldest } = await holderOfManyTickets();
    const page = await web.appPage(giver);
    try {
      await page.goto(`${crossOrigin}/#/orders`);
      await until(() => held(page).count()).toBe(20);
      const more = page.getByRole('button', { name: 'Load more tickets' });
      const alert = page.locator('.load-more').getByRole('alert');

      // The edge refuses the next page: named, and the first page stays.
      await page.route(started.topology.publicUrl, (route) =>
        isOperation(route.request().postData(), 'MyTickets') &&
        asksAfterCursor(route.request().postData())
          ? route.fulfill(edgeUnavailable)
          : route.fallback(),
      );
      await more.click();
      await until(() => alert.getAttribute('data-code')).toBe('SERVICE_UNAVAILABLE');
      expect(await alert.textContent()).toMatch(/^A service is unavailable/);
      // Named once, under the button: the tickets shown did not fail.
      expect(await page.getByRole('alert').count()).toBe(1);
      expect(await held(page).count()).toBe(20);
      await shoot(page, 'wallet-load-more-refused');

      // A cursor the API never gave (a lying client): the API's own words, the page stays.
      await page.unroute(started.topology.publicUrl);
      await page.route(started.topology.publicUrl, (route) => {
        const body = route.request().postData();
        if (!isOperation(body, 'MyTickets') || !asksAfterCursor(body)) return route.fallback();
        const forged = JSON.parse(body ?? '{}');
        forged.variables.after = Buffer.from('["not a date","not a uuid"]').toString('base64url');
        return route.fallback({ postData: JSON.stringify(forged) });
      });
      await more.click();
      await until(() => alert.getAttribute('data-code')).toBe('BAD_USER_INPUT');
      expect(await alert.textContent()).toMatch(/not a cursor returned by this API/);
      expect(await held(page).count()).toBe(20);

      // Pressed again once the network is well: the rest, each ticket once, and no alert.
      await page.unroute(started.topology.publicUrl);
      await more.click();
      await until(() => held(page).count()).toBe(25);
      expect(await held(page, oldest).count()).toBe(5);
      expect(await alert.count()).toBe(0);
    } finally {
      await page.close();
    }
  }, 180_000);
});

describe('ticket transfers between two accounts', () => {
  it('offers a ticket that the receiver accepts, declines, or finds cancelled', async () => {
    const { giver, title } = await holderOfTickets(2);
    const receiver = await web.apiAccount('Rob Receiver');
    const receiverDir = await mkdtemp(join(tmpdir(), 'ticketing-chromium-'));
    const receiverBrowser = await launchBrowser(receiverDir);
    const a = await web.appPage(giver);
    const b = await web.appPage(receiver, receiverBrowser);
    try {
      await a.goto(`${crossOrigin}/#/orders`);
      await b.goto(`${crossOrigin}/#/orders`);
      const offers = b.getByTestId('incoming-offer').filter({ hasText: title });
      await until(() => held(a, title).count()).toBe(2);
      await b.getByText('No tickets yet.').waitFor();

      /** Offers A's first ticket without an offer to `email`; returns its form's email input. */
      const give = async (email: string) => {
        const ticket = held(a, title).filter({
          has: a.getByRole('button', { name: 'Give to someone' }),
        });
        await ticket.first().getByRole('button', { name: 'Give to someone' }).click();
        const form = a.locator('form.give');
        await form.getByLabel('Their email').fill(email);
        await form.getByRole('button', { name: 'Offer the ticket' }).click();
        return form;
      };

      // An email no account has: said in plain words, and the form keeps what was typed.
      const unknown = `${randomUUID()}@example.com`;
      const form = await give(unknown);
      const refusal = form.getByRole('alert');
      await until(() => refusal.getAttribute('data-code')).toBe('RECIPIENT_NOT_FOUND');
      expect(await refusal.textContent()).toMatch(/^No account has this email\./);
      expect(await form.getByLabel('Their email').inputValue()).toBe(unknown);
      await shoot(a, 'transfer-unknown-email');

      // Corrected: the offer shows to whom and until when, and B sees it.
      await form.getByLabel('Their email').fill(receiver.user.email);
      await form.getByRole('button', { name: 'Offer the ticket' }).click();
      const pending = held(a, title).getByTestId('pending-offer');
      await until(() => pending.count()).toBe(1);
      // Whom for, in plain words: the name the API gives, and the email typed for the offer.
      const offeredTo = `Offered to Rob Receiver (${receiver.user.email}) until `;
      const shown = (await pending.textContent()) ?? '';
      expect(shown.slice(0, offeredTo.length)).toBe(offeredTo);
      expect(shown).toMatch(/ until .+\d\d:\d\d\./);
      await b.reload();
      await until(() => offers.count()).toBe(1);
      expect(await offers.textContent()).toMatch(/Floor.*From Gina Giver, until/);
      await shoot(b, 'transfer-offered');

      // B accepts: the ticket is B's, with its code; A's list no longer has it.
      await offers.getByRole('button', { name: 'Accept' }).click();
      await until(() => held(b, title).locator('img.qr').count()).toBe(1);
      await until(() => offers.count()).toBe(0);
      await shoot(b, 'transfer-accepted');
      await a.reload();
      await until(() => held(a, title).count()).toBe(1);
      const order = a.getByTestId('order').filter({ hasText: title });
      await until(() => order.getByText('Given away').count()).toBe(1);
      expect(await order.locator('img.qr').count()).toBe(1);

      // A offers the other one; B declines it, and it stays A's to give again.
      await give(receiver.user.email);
      await until(() => pending.count()).toBe(1);
      await b.reload();
      await offers.getByRole('button', { name: 'Decline' }).click();
      await until(() => offers.count()).toBe(0);
      await a.reload();
      await held(a, title).getByRole('button', { name: 'Give to someone' }).waitFor();
      expect(await pending.count()).toBe(0);

      // A offers it again and cancels: B, still showing it (within its 15 s poll), is told
      // when accepting it, and it disappears.
      await give(receiver.user.email);
      await until(() => pending.count()).toBe(1);
      await b.reload();
      await until(() => offers.count()).toBe(1);
      await pending.getByRole('button', { name: 'Cancel the offer' }).click();
      await until(() => pending.count()).toBe(0);
      await held(a, title).getByRole('button', { name: 'Give to someone' }).waitFor();
      await offers.getByRole('button', { name: 'Accept' }).click();
      const stale = b.getByRole('alert');
      await until(() => stale.getAttribute('data-code')).toBe('TRANSFER_NOT_PENDING');
      expect(await stale.textContent()).toMatch(/no longer open/);
      await until(() => offers.count()).toBe(0);
      await shoot(b, 'transfer-cancelled');
      await b.reload();
      await until(() => held(b, title).count()).toBe(1);
      expect(await offers.count()).toBe(0);
      expect(await held(a, title).count()).toBe(1);
    } finally {
      await b.close();
      await a.close();
      await receiverBrowser.close();
      await rm(receiverDir, { recursive: true, force: true });
    }
  }, 180_000);
});
