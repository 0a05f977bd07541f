// The reference web app as people use browsers: two tabs of one profile sharing a session,
// one signing in as someone else or out while the other is refreshing, a purchase in one tab
// the other catches up with, a session ended elsewhere while a page is open, a page restored
// from the back-forward cache, a purchase whose answer is lost before a reload, and names in
// a right-to-left script among other words. One topology, one Chromium, the app served from
// another origin.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from './documents.ts';
import { postGraphQL } from './support.ts';
import {
  type Account as ApiSession,
  holdAnswers,
  isOperation,
  launchBrowser,
  offlinePage,
  password,
  type StartedWebApp,
  shoot,
  startWebApp,
  until,
} from './web-app.ts';

let running: StartedWebApp;
let web: StartedWebApp['web'];
let apiUrl: string;
let app: string;
let browser: BrowserContext;

beforeAll(async () => {
  running = await startWebApp('web-sessions');
  ({ app, browser, web } = running);
  apiUrl = running.started.topology.publicUrl;
});

afterAll(() => running?.stop());

const appPage = (session?: ApiSession) => web.appPage(session);

/** A second tab of the same profile: it shares the first one's localStorage. */
async function secondTab(path: string): Promise<Page> {
  const page = await offlinePage(browser);
  await page.goto(`${app}/#${path}`);
  return page;
}

/** The session the tabs share, as stored. */
const stored = async (page: Page) =>
  JSON.parse(
    (await page.evaluate(() => localStorage.getItem('ticketing.session'))) ?? 'null',
  ) as ApiSession | null;

/** The session the tabs share, with its access token past its 15 minutes. */
const expireAccessToken = (page: Page) =>
  page.evaluate(() => {
    const session = JSON.parse(localStorage.getItem('ticketing.session') ?? '{}');
    localStorage.setItem(
      'ticketing.session',
      JSON.stringify({ ...session, accessToken: 'expired.access.token' }),
    );
  });

/** A new event on sale (tier "Floor", 5 seats), titled `label` and a few letters of its own. */
const eventOnSale = (label: string) => web.eventOnSale(label);

/** An account that has bought one ticket of a new event, whose title is returned. */
async function buyerWithOrder(name: string) {
  const { title, eventId } = await eventOnSale(`${name}'s concert`);
  const session = await web.apiAccount(name);
  const tiers = await postGraphQL(
    apiUrl,
    'query ($id: ID!) { event(id: $id) { ticketTiers { id } } }',
    {
      id: eventId,
    },
  );
  const tierId = (tiers.body.data?.event as { ticketTiers: { id: string }[] } | undefined)
    ?.ticketTiers[0]?.id;
  const bought = await postGraphQL(
    apiUrl,
    purchaseMutation,
    { input: { tierId, quantity: 1, idempotencyKey: randomUUID() } },
    session.accessToken,
  );
  expect(bought.body.errors).toBeUndefined();
  return { session, title, eventId };
}

/** Logs in through the form of `page`, which shows it. */
async function logInThroughForm(page: Page, email: string, typed = password) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(typed);
  await page.locator('form').getByRole('button', { name: 'Log in' }).click();
}

/**
 * Sends the page's session refreshes on to the API and holds their answers until `release`
 * is called: the API has exchanged the token, and the page learns of it later.
 */
async function holdRefreshAnswers(page: Page) {
  const held: (() => Promise<void>)[] = [];
  await page.route(apiUrl, async (route) => {
    if (!isOperation(route.request().postData(), 'RefreshSession')) return route.fallback();
    const response = await route.fetch();
    held.push(() => route.fulfill({ response }));
  });
  return {
    held,
    release: async () => {
      for (const answer of held) await answer();
      await page.unroute(apiUrl);
    },
  };
}

describe('two tabs of one person', () => {
  it('shows only the person signed in now: another tab signing in as someone else replaces the first one’s tickets', async () => {
    const ada = await buyerWithOrder('Ada');
    const bob = await web.apiAccount('Bob');
    const first = await appPage(ada.session);
    const second = await secondTab('/orders');
    try {
      await second.getByTestId('order').filter({ hasText: ada.title }).waitFor();
      await first.goto(`${app}/#/login`);
      await logInThroughForm(first, bob.user.email);
      await until(() => second.getByTestId('signed-in-as').textContent()).toBe('Bob');
      await until(() => second.getByText('No orders yet.').count()).toBe(1);
      await shoot(second, 'tabs-other-person');
      expect(await second.getByTestId('order').count()).toBe(0);
      expect(await second.locator('main').textContent()).not.toContain(ada.title);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('leaves the session another tab chose while this one was refreshing the one before', async () => {
    const ada = await web.apiAccount('Ada Early');
    const bob = await web.apiAccount('Bob Later');
    const first = await appPage(ada);
    const second = await offlinePage(browser);
    try {
      // The second tab refreshes Ada's session; its answer comes after the first tab signed in
      // as Bob.
      const refreshes = await holdRefreshAnswers(second);
      await expireAccessToken(first);
      await second.goto(`${app}/#/orders`);
      await until(() => refreshes.held.length).toBe(1);
      await first.goto(`${app}/#/login`);
      await logInThroughForm(first, bob.user.email);
      await until(() => first.getByTestId('signed-in-as').textContent()).toBe('Bob Later');
      await refreshes.release();
      await until(() => second.getByTestId('signed-in-as').textContent()).toBe('Bob Later');
      await second.getByText('No orders yet.').waitFor();
      expect(await first.getByTestId('signed-in-as').textContent()).toBe('Bob Later');
      expect((await stored(first))?.user.id).toBe(bob.user.id);

      // The same while the first tab signs out: it stays signed out.
      const again = await holdRefreshAnswers(second);
      await expireAccessToken(first);
      await second.reload();
      await until(() => again.held.length).toBe(1);
      await first.getByRole('button', { name: 'Log out' }).click();
      await first.getByRole('link', { name: 'Log in' }).waitFor();
      await again.release();
      await second.getByRole('link', { name: 'Log in' }).waitFor();
      expect(await stored(first)).toBeNull();
      expect(await first.getByTestId('signed-in-as').count()).toBe(0);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('shows no error in another tab whose request was on its way when the person signed out', async () => {
    const ada = await web.apiAccount('Ada Away');
    const first = await appPage(ada);
    const second = await offlinePage(browser);
    try {
      // Every alert the second tab ever shows, however briefly.
      await second.addInitScript(() => {
        const alerts: string[] = [];
        (window as unknown as { alerts: string[] }).alerts = alerts;
        new MutationObserver(() => {
          for (const alert of document.querySelectorAll('[role="alert"]')) {
            alerts.push(alert.getAttribute('data-code') ?? '');
          }
        }).observe(document, { subtree: true, childList: true });
      });
      // Its list of events is asked for, and answered only after the first tab signed out.
      const list = await holdAnswers(second, apiUrl, 'EventList');
      await second.goto(`${app}/#/`);
      await until(() => list.sent()).toBe(1);
      await first.getByRole('button', { name: 'Log out' }).click();
      await second.getByRole('link', { name: 'Log in' }).waitFor();
      list.release();
      await second.getByTestId('event-count').waitFor();
      expect(
        await second.evaluate(() => (window as unknown as { alerts: string[] }).alerts),
      ).toEqual([]);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('shows a hold and a purchase made in one tab in the other', async () => {
    const { title, eventId } = await eventOnSale('Shared');
    const buyer = await web.apiAccount('Tabbed Buyer');
    const first = await appPage(buyer);
    await first.goto(`${app}/#/events/${eventId}`);
    const second = await secondTab(`/events/${eventId}`);
    const third = await secondTab('/orders');
    try {
      await third.getByText('No orders yet.').waitFor();
      await first.getByLabel('Quantity of Floor').fill('2');
      await first.getByRole('button', { name: 'Hold' }).click();
      await first.getByTestId('hold').waitFor();
      // The other tab shows the hold, not a Hold button to hold more.
      await second.getByTestId('hold').waitFor();
      expect(await second.getByRole('button', { name: 'Hold' }).count()).toBe(0);
      await first.getByTestId('hold').getByRole('button', { name: 'Buy' }).click();
      await until(() => new URL(first.url()).hash).toBe('#/orders');
      await until(() => second.getByTestId('hold').count()).toBe(0);
      await until(() =>
        second.getByTestId('tier-Floor').getByTestId('available').textContent(),
      ).toBe('3');
      await until(() => third.getByTestId('order').filter({ hasText: title }).count()).toBe(1);
    } finally {
      await third.close();
      await second.close();
      await first.close();
    }
  });
});

describe('a session that ends while a page is open', () => {
  it('returns to sign-in where the person was, once, when a password change elsewhere ended it', async () => {
    const { session, title, eventId } = await buyerWithOrder('Dora');
    const page = await appPage(session);
    const refreshes: string[] = [];
    page.on('request', (request) => {
      if (request.url() === apiUrl && isOperation(request.postData(), 'RefreshSession')) {
        refreshes.push(request.url());
      }
    });
    try {
      await page.goto(`${app}/#/events/${eventId}`);
      await page.getByRole('heading', { name: title }).waitFor();
      // Another browser changes the password: every other session, this one's, ends.
      const elsewhere = await postGraphQL(
        apiUrl,
        'mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }',
        { email: session.user.email, password },
      );
      const token = (elsewhere.body.data?.logIn as { accessToken: string } | undefined)
        ?.accessToken;
      const newPassword = 'another long enough password';
      const changed = await postGraphQL(
        apiUrl,
        'mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }',
        { c: password, n: newPassword },
        token,
      );
      expect(changed.body.errors).toBeUndefined();
      // Fifteen minutes on, the page's access token has expired.
      await expireAccessToken(page);
      await page.reload();
      await page.getByRole('link', { name: 'Log in' }).first().waitFor();
      expect(await stored(page)).toBeNull();
      expect(refreshes).toHaveLength(1);
      await shoot(page, 'session-ended');
      await page.getByRole('link', { name: 'Log in' }).first().click();
      await logInThroughForm(page, session.user.email, newPassword);
      await until(() => page.getByTestId('signed-in-as').textContent()).toBe('Dora');
      // Back on the event, where the person was.
      await until(() => new URL(page.url()).hash).toBe(`#/events/${eventId}`);
      await page.getByRole('heading', { name: title }).waitFor();
      expect(refreshes).toHaveLength(1);
    } finally {
      await page.close();
    }
  });
});

describe('history', () => {
  it('shows a page restored from the back-forward cache signed out when the person signed out elsewhere', async () => {
    const ada = await buyerWithOrder('Bfcache Ada');
    // Playwright turns Chromium's back-forward cache off; people's browsers have it on.
    const dir = await mkdtemp(join(tmpdir(), 'ticketing-chromium-'));
    const cached = await launchBrowser(dir, {
      ignoreDefaultArgs: ['--disable-back-forward-cache'],
    });
    try {
      const page = await web.appPage(ada.session, cached);
      await page.goto(`${app}/#/orders`);
      const order = page.getByTestId('order').filter({ hasText: ada.title });
      await order.waitFor();
      await page.evaluate(() => Object.assign(window, { beforeLeaving: true }));
      // Elsewhere, then signed out in another tab, then back.
      await page.goto(`${new URL(apiUrl).origin}/health/live`);
      const other = await offlinePage(cached);
      await other.goto(`${app}/#/orders`);
      await other.getByRole('button', { name: 'Log out' }).click();
      await other.getByRole('link', { name: 'Log in' }).waitFor();
      // A page restored from the cache fires no load event.
      await page.goBack({ waitUntil: 'commit' });
      // The page came back from the cache, not loaded again.
      expect(await page.evaluate(() => 'beforeLeaving' in window)).toBe(true);
      await page.getByRole('link', { name: 'Log in' }).first().waitFor();
      expect(await page.getByTestId('signed-in-as').count()).toBe(0);
      expect(await order.count()).toBe(0);
    } finally {
      await cached.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a purchase whose answer is lost', () => {
  it('finds out after a reload that it bought, and shows the one order', async () => {
    const { title, eventId } = await eventOnSale('Lost answer');
    const buyer = await web.apiAccount('Reloading Buyer');
    const page = await appPage(buyer);
    try {
      await page.goto(`${app}/#/events/${eventId}`);
      await page.getByLabel('Quantity of Floor').fill('2');
      await page.getByRole('button', { name: 'Hold' }).click();
      // The purchase is placed, and its answer lost on the way back; the person reloads.
      await page.route(apiUrl, async (route) => {
        if (!isOperation(route.request().postData(), 'PurchaseTickets')) return route.fallback();
        await route.fetch();
        return route.abort('connectionreset');
      });
      await page.getByTestId('hold').getByRole('button', { name: 'Buy' }).click();
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe('NETWORK_ERROR');
      await page.unroute(apiUrl);
      await page.reload();
      await until(() => new URL(page.url()).hash).toBe('#/orders');
      const orders = page.getByTestId('order').filter({ hasText: title });
      await until(() => orders.locator('img.qr').count()).toBe(2);
      expect(await page.getByTestId('order').count()).toBe(1);
    } finally {
      await page.close();
    }
  });
});

describe('what organizers wrote, shown to buyers', () => {
  it('keeps right-to-left names from reordering the dates and names beside them', async () => {
    // A city written in Hebrew, then the start: without isolation the start's day is drawn
    // into the city's right-to-left run, and shows before the city.
    const city = 'תל אביב';
    const eventId = await web.publishedEvent({
      organizerName: 'מארגן',
      title: `Bidi ${randomUUID().slice(0, 8)}`,
      venue: 'היכל 2',
      city,
      tierName: 'Floor',
    });
    const page = await appPage();
    try {
      await page.goto(`${app}/#/events/${eventId}`);
      await page.getByText(city).first().waitFor();
      await shoot(page, 'bidi-event');
      // Where the city and the start's first digit are drawn, left to right.
      const drawn = await page.evaluate((name) => {
        const line = [...document.querySelectorAll('main p')].find((p) =>
          p.textContent?.includes(name),
        ) as HTMLElement;
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        const left = (find: (text: string) => number, length: number) => {
          walker.currentNode = line;
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const text = node.textContent ?? '';
            const at = find(text);
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + length);
            const box = range.getBoundingClientRect();
            return { left: box.left, right: box.right };
          }
          return undefined;
        };
        return {
          city: left((text) => text.indexOf(name), name.length),
          start: left((text) => text.search(/\d{1,2} [A-Z][a-z]{2} \d{4}/), 1),
        };
      }, city);
      expect(drawn.city).toBeDefined();
      expect(drawn.start).toBeDefined();
      expect(drawn.start?.left).toBeGreaterThan(drawn.city?.right ?? Number.POSITIVE_INFINITY);
    } finally {
      await page.close();
    }
  });
});
