// The reference web app for everyone, in a real browser (Debian's Chromium, driven by
// playwright-core) against the real topology, the app served by NGINX at `/`: axe-core's
// WCAG 2.0, 2.1 and 2.2 A and AA rules on every page and state a person reaches; the buyer's
// journey with the keyboard alone (focus always visible, moved to the new page's heading,
// the page named in the title); form errors tied to their fields; availability announced
// politely when it changes; busy buttons; and reflow at 320 CSS px with text spacing.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebApp } from '../scripts/web.ts';
import { purchaseMutation } from './documents.ts';
import { postGraphQL, startTestTopology, type TestTopology } from './support.ts';
import {
  type Account,
  isOperation,
  launchBrowser,
  offlinePage,
  password,
  until,
  webApp,
} from './web-app.ts';

const axeSource: string = createRequire(import.meta.url)('axe-core').source;
/** Every WCAG 2.0, 2.1 and 2.2 rule of levels A and AA that axe-core has. */
const wcagAA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

let started: TestTopology;
let app: string;
let browser: BrowserContext;
let profileDir: string;
let web: ReturnType<typeof webApp>;

beforeAll(async () => {
  buildWebApp({ quiet: true });
  // Every account here signs up from 127.0.0.1.
  started = await startTestTopology('a11y', { SIGN_UPS_PER_ADDRESS: '1000' });
  app = new URL(started.topology.publicUrl).origin;
  profileDir = await mkdtemp(join(tmpdir(), 'ticketing-chromium-'));
  browser = await launchBrowser(profileDir);
  web = webApp({ publicUrl: started.topology.publicUrl, appOrigin: app, browser });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
  await started?.stop();
});

/** The WCAG A and AA violations axe-core finds on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy allows.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  return page.evaluate(async (tags) => {
    const axe = (window as unknown as { axe: typeof import('axe-core') }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map(
      (violation) =>
        `${violation.id} (${violation.help}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
  }, wcagAA);
}

/** Checks the page in `state` with axe-core; the test goes on to name every state that fails. */
async function audit(page: Page, state: string) {
  expect.soft(await violations(page), state).toEqual([]);
}

/** A published event with one tier "Floor" of `capacity` seats; returns its id and title. */
async function eventOnSale(label: string, capacity = 5) {
  const { eventId: id, title, organizer } = await web.eventOnSale(label, capacity);
  return { id, title, organizer };
}

/** The id of the event's first tier. */
async function firstTier(eventId: string): Promise<string> {
  const read = await postGraphQL(
    started.topology.publicUrl,
    'query ($id: ID!) { event(id: $id) { ticketTiers { id } } }',
    { id: eventId },
  );
  const event = read.body.data?.event as { ticketTiers: { id: string }[] } | undefined;
  return event?.ticketTiers[0]?.id ?? '';
}

/** `buyer` buys `quantity` seats of the event's first tier through the API. */
async function buyThroughApi(buyer: Account, eventId: string, quantity: number) {
  const bought = await postGraphQL(
    started.topology.publicUrl,
    purchaseMutation,
    { input: { tierId: await firstTier(eventId), quantity, idempotencyKey: randomUUID() } },
    buyer.accessToken,
  );
  expect(bought.body.errors).toBeUndefined();
}

/** What the focused element is, and whether its focus shows (its outline or shadow differs). */
async function focusShown(page: Page) {
  return page.evaluate(() => {
    const focused = document.activeElement as HTMLElement | null;
    if (!focused || focused === document.body) return { what: 'nothing', shown: false };
    const look = () => {
      const style = getComputedStyle(focused);
      return {
        outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
        shadow: style.boxShadow,
        width: Number.parseFloat(style.outlineWidth),
        style: style.outlineStyle,
      };
    };
    const withFocus = look();
    focused.blur();
    const without = look();
    focused.focus();
    const outlined = withFocus.style !== 'none' && withFocus.width > 0;
    const changed = withFocus.outline !== without.outline || withFocus.shadow !== without.shadow;
    return { what: focused.outerHTML.slice(0, 100), shown: outlined && changed };
  });
}

/**
 * Presses Tab (or Shift+Tab) until `target` has the focus, and checks at every stop that
 * the focus shows.
 */
async function tabTo(page: Page, target: Locator, { back = false, most = 40 } = {}) {
  const handle = await target.elementHandle();
  for (let press = 0; press < most; press++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    const focus = await focusShown(page);
    expect.soft(focus.shown, `the focus shows on ${focus.what}`).toBe(true);
    if (await page.evaluate((element) => document.activeElement === element, handle)) return;
  }
  throw new Error(`${target} cannot be reached with the keyboard`);
}

/** After a route change: the focus is on the new page's heading, and the title names it. */
async function expectArrived(page: Page, heading: string) {
  const focused = () =>
    page.evaluate(() => {
      const element = document.activeElement;
      return element?.matches('main h1') ? element.textContent : element?.outerHTML.slice(0, 80);
    });
  // Soft, so that the journey goes on to show what else fails: the focus left where it was.
  await until(focused)
    .toBe(heading)
    .catch(() => undefined);
  expect.soft(await focused(), 'the focus is on the new page’s heading').toBe(heading);
  expect.soft(await page.title(), 'the title names the page').toBe(`${heading} · Ticketing`);
}

/** Sends the organizer's new-event form from its button, its title pasted blanks: the API names it. */
async function sendDraftWithoutTitle(page: Page) {
  await page.getByLabel('Title', { exact: true }).fill('  ');
  await page.getByLabel('Venue', { exact: true }).fill('Hall');
  await page.getByLabel('City', { exact: true }).fill('Oslo');
  await page
    .getByLabel('Starts', { exact: true })
    .fill(new Date(Date.now() + 86_400_000).toISOString().slice(0, 16));
  await page.getByRole('button', { name: 'Create draft' }).press('Enter');
}

describe('the web app for everyone', () => {
  it('has no WCAG A or AA violation on any public page or state', async () => {
    const onSale = await eventOnSale('Open');
    const soldOut = await eventOnSale('Gone', 1);
    await buyThroughApi(await web.apiAccount('Early Buyer'), soldOut.id, 1);
    const cancelled = await eventOnSale('Off');
    const called = await postGraphQL(
      started.topology.publicUrl,
      'mutation ($id: ID!) { cancelEvent(id: $id, reason: "Storm") { id } }',
      { id: cancelled.id },
      cancelled.organizer.accessToken,
    );
    expect(called.body.errors).toBeUndefined();

    const page = await web.appPage();
    try {
      await page.getByTestId('event-count').waitFor();
      await audit(page, 'the event list');
      await page.getByLabel('City').fill('Oslo');
      await page.getByLabel('Show cancelled').check();
      await page.locator('.event').filter({ hasText: cancelled.title }).waitFor();
      await audit(page, 'the event list, filtered, with a cancelled event');
      await page.getByLabel('City').fill(`Nowhere ${randomUUID()}`);
      await until(() => page.getByTestId('event-count').textContent()).toBe('0 events');
      await audit(page, 'the event list with nothing found');

      await page.goto(`${app}/#/events/${onSale.id}`);
      await page.getByRole('heading', { name: onSale.title }).waitFor();
      await audit(page, 'an event on sale, signed out');
      await page.goto(`${app}/#/events/${soldOut.id}`);
      await until(() => page.getByTestId('available').textContent()).toBe('0');
      await audit(page, 'a sold-out event');
      await page.goto(`${app}/#/events/${cancelled.id}`);
      await page.getByText('Cancelled: Storm').waitFor();
      await audit(page, 'a cancelled event');
      await page.goto(`${app}/#/events/${randomUUID()}`);
      await page.getByText(/No such event/).waitFor();
      await audit(page, 'an event that does not exist');

      await page.goto(`${app}/#/login`);
      await page.getByLabel('Email').fill('nobody@example.com');
      await page.getByLabel('Password').fill('not the password at all');
      await page.locator('form').getByRole('button', { name: 'Log in' }).click();
      await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(
        'INVALID_CREDENTIALS',
      );
      await audit(page, 'log in, refused');
      await page.getByRole('button', { name: 'Sign up' }).click();
      await page.getByLabel('Name').fill('Shorty');
      await page.getByLabel('Email').fill(`${randomUUID()}@example.com`);
      await page.getByLabel('Password').fill('short');
      await page.getByRole('button', { name: 'Create account' }).click();
      await until(() => page.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
      await audit(page, 'sign up with a field refused');

      // The API unreachable, too busy, or down: each says so.
      const refusals = [
        { code: 'NETWORK_ERROR', answer: undefined },
        {
          code: 'TOO_MANY_REQUESTS',
          answer: {
            status: 429,
            headers: { 'retry-after': '7', 'access-control-expose-headers': 'Retry-After' },
            body: '{"errors":[{"message":"Slow down.","extensions":{"code":"TOO_MANY_REQUESTS"}}]}',
          },
        },
        {
          code: 'SERVICE_UNAVAILABLE',
          answer: {
            status: 503,
            body: '{"errors":[{"message":"Down.","extensions":{"code":"SERVICE_UNAVAILABLE"}}]}',
          },
        },
      ];
      for (const { code, answer } of refusals) {
        await page.route(started.topology.publicUrl, (route) =>
          answer
            ? route.fulfill({ ...answer, contentType: 'application/json' })
            : route.abort('connectionrefused'),
        );
        await page.goto(`${app}/#/`);
        await page.reload();
        await until(() => page.getByRole('alert').getAttribute('data-code')).toBe(code);
        await audit(page, `the event list answered ${code}`);
        await page.unroute(started.topology.publicUrl);
      }
    } finally {
      await page.close();
    }
  });

  it('has no WCAG A or AA violation on the pages of a signed-in buyer and organizer', async () => {
    const event = await eventOnSale('Mine');
    const buyer = await web.apiAccount('Ada Buyer');
    await buyThroughApi(buyer, event.id, 2);
    const page = await web.appPage(buyer);
    try {
      await page.goto(`${app}/#/events/${event.id}`);
      await page.getByLabel('Quantity of Floor').fill('1');
      await page.getByRole('button', { name: 'Hold' }).click();
      await page.getByTestId('hold').waitFor();
      await audit(page, 'an event with a hold');
      await page.goto(`${app}/#/orders`);
      await until(() => page.locator('img.qr').count()).toBe(4);
      await audit(page, 'my tickets and orders, with QR codes');
      await page.getByRole('button', { name: 'Give to someone' }).first().click();
      await page.getByLabel('Their email').fill('nobody-here@example.com');
      await page.getByRole('button', { name: 'Offer the ticket' }).click();
      await page.getByRole('alert').waitFor();
      await audit(page, 'offering a ticket, refused');
    } finally {
      await page.close();
    }

    const organizerPage = await web.appPage(event.organizer);
    try {
      await organizerPage.goto(`${app}/#/organizer`);
      const managed = organizerPage.getByTestId('managed-event').filter({ hasText: event.title });
      await managed.waitFor();
      await audit(organizerPage, 'the organizer’s events');
      await sendDraftWithoutTitle(organizerPage);
      await organizerPage.locator('input[name="title"][aria-invalid="true"]').waitFor();
      await managed.getByLabel('Tier name').fill('Balcony');
      await managed.getByLabel('Price').fill('10');
      await managed.getByLabel('Capacity').fill('-3');
      await managed.getByRole('button', { name: 'Add tier' }).click();
      await until(() => managed.getByLabel('Capacity').getAttribute('aria-invalid')).toBe('true');
      await managed.getByRole('button', { name: 'Delete' }).click();
      await managed.getByRole('button', { name: 'Delete Floor' }).click();
      await managed
        .getByRole('alert')
        .filter({ hasText: /cannot be deleted/ })
        .waitFor();
      await audit(organizerPage, 'the organizer’s forms, refused');
    } finally {
      await organizerPage.close();
    }
  });

  it('lets a person sign in, find an event, hold, buy and see a ticket with the keyboard alone', async () => {
    const event = await eventOnSale('Keys');
    const buyer = await web.apiAccount('Kim Keys');
    const page = await offlinePage(browser);
    try {
      await page.goto(`${app}/`);
      // Signed out: this browser's profile may keep an earlier test's session.
      await page.evaluate(() => localStorage.clear());
      await page.reload();
      await page.getByRole('heading', { name: 'Events' }).waitFor();
      expect.soft(await page.title()).toBe('Events · Ticketing');

      await tabTo(page, page.getByRole('link', { name: 'Log in' }));
      await page.keyboard.press('Enter');
      await expectArrived(page, 'Log in');
      await tabTo(page, page.getByLabel('Email'));
      await page.keyboard.type(buyer.user.email);
      await tabTo(page, page.getByLabel('Password'));
      await page.keyboard.type(password);
      await page.keyboard.press('Enter');
      await expectArrived(page, 'Events');
      expect(await page.getByTestId('signed-in-as').textContent()).toBe('Kim Keys');

      await tabTo(page, page.getByLabel('Search'));
      await page.keyboard.type(event.title);
      const link = page.getByRole('link', { name: event.title });
      await link.waitFor();
      await tabTo(page, link);
      await page.keyboard.press('Enter');
      await expectArrived(page, event.title);

      await tabTo(page, page.getByRole('button', { name: 'Hold' }));
      await page.keyboard.press('Space');
      const hold = page.getByTestId('hold');
      await hold.waitFor();
      // The Hold button is gone with the row's controls: the focus goes to the hold.
      const inHold = () =>
        page.evaluate(() => document.activeElement?.closest('[data-testid="hold"]') !== null);
      await until(inHold)
        .toBe(true)
        .catch(() => undefined);
      expect.soft(await inHold(), 'the focus is on the hold').toBe(true);
      await tabTo(page, hold.getByRole('button', { name: 'Buy' }));
      await page.keyboard.press('Enter');
      await expectArrived(page, 'My tickets');
      // The ticket's code twice: in the wallet, and in its order.
      await until(() => page.locator('img.qr').count()).toBe(2);
      expect(await page.locator('img.qr').first().getAttribute('alt')).toMatch(/^Ticket code /);
      // Back the other way, through every control of the page, the focus shows too.
      await tabTo(page, page.getByRole('link', { name: 'Events', exact: true }), { back: true });
    } finally {
      await page.close();
    }
  });

  it('ties a form’s errors to their fields and moves the focus to the first one', async () => {
    const page = await offlinePage(browser);
    try {
      await page.goto(`${app}/#/login`);
      await page.getByRole('button', { name: 'Sign up' }).click();
      await page.getByLabel('Name').fill('Pat');
      await page.getByLabel('Email').fill(`${randomUUID()}@example.com`);
      await page.getByLabel('Password').fill('short');
      await page.getByRole('button', { name: 'Create account' }).press('Enter');
      const field = page.getByLabel('Password');
      await until(() => field.getAttribute('aria-invalid')).toBe('true');
      const about = await field.getAttribute('aria-describedby');
      expect(await page.locator(`[id="${about}"]`).textContent()).toMatch(/\w/);
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe(
        'password',
      );
      expect.soft(await focusShown(page), 'the focus shows on the field').toMatchObject({
        shown: true,
      });
    } finally {
      await page.close();
    }

    const organizer = await web.appPage(await web.apiAccount('Fay Forms', 'ORGANIZER'));
    try {
      await organizer.goto(`${app}/#/organizer`);
      await sendDraftWithoutTitle(organizer);
      const title = organizer.getByLabel('Title', { exact: true });
      await until(() => title.getAttribute('aria-invalid')).toBe('true');
      await until(() =>
        organizer.evaluate(() => document.activeElement?.getAttribute('name')),
      ).toBe('title');
    } finally {
      await organizer.close();
    }
  });

  it('announces availability politely when it changes, and not on every poll', async () => {
    const event = await eventOnSale('Live');
    const page = await web.appPage();
    try {
      let polls = 0;
      page.on('request', (request) => {
        if (isOperation(request.postData(), 'EventPage')) polls++;
      });
      await page.goto(`${app}/#/events/${event.id}`);
      await page.getByRole('heading', { name: event.title }).waitFor();
      const live = page.locator('[aria-live="polite"]');
      expect(await live.count()).toBe(1);
      // Counts every change to what the live region says.
      await live.evaluate((region) => {
        const seen = { changes: 0 };
        (window as unknown as { announced: typeof seen }).announced = seen;
        new MutationObserver(() => seen.changes++).observe(region, {
          subtree: true,
          childList: true,
          characterData: true,
        });
      });
      const changes = () =>
        page.evaluate(() => (window as unknown as { announced: { changes: number } }).announced);
      const after = polls;
      await until(() => polls).toBeGreaterThanOrEqual(after + 2);
      expect(await changes()).toEqual({ changes: 0 });

      await buyThroughApi(await web.apiAccount('Rival'), event.id, 2);
      await until(() => live.textContent()).toMatch(/Floor: 3 tickets left/);
      const announced = await changes();
      const later = polls;
      await until(() => polls).toBeGreaterThanOrEqual(later + 2);
      expect(await changes()).toEqual(announced);
    } finally {
      await page.close();
    }
  });

  it('says a button is busy, and sends what it does once', async () => {
    const event = await eventOnSale('Busy');
    const page = await web.appPage(await web.apiAccount('Bo Busy'));
    try {
      await page.goto(`${app}/#/events/${event.id}`);
      await page.getByRole('button', { name: 'Hold' }).click();
      const buy = page.getByTestId('hold').getByRole('button', { name: 'Buy' });
      await buy.waitFor();
      // The purchase is held back until the button has been looked at.
      let sent = 0;
      let answer: () => void = () => undefined;
      const answered = new Promise<void>((resolve) => {
        answer = resolve;
      });
      await page.route(started.topology.publicUrl, async (route) => {
        if (!isOperation(route.request().postData(), 'PurchaseTickets')) return route.fallback();
        sent++;
        await answered;
        return route.fallback();
      });
      await buy.focus();
      await page.keyboard.press('Enter');
      const busy = page.getByTestId('hold').locator('button[aria-busy="true"]');
      await until(() => busy.textContent()).toBe('Buying…');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Space');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Buying…');
      answer();
      await until(() => new URL(page.url()).hash).toBe('#/orders');
      expect(sent).toBe(1);
    } finally {
      await page.close();
    }
  });

  it('reflows at 320 CSS px and keeps text whole with wider spacing', async () => {
    const event = await eventOnSale('Narrow');
    const organizer = event.organizer;
    const page = await web.appPage(organizer);
    try {
      await page.setViewportSize({ width: 320, height: 640 });
      await page.emulateMedia({ reducedMotion: 'reduce' });
      const overflow = () =>
        page.evaluate(() => {
          const sideways =
            document.documentElement.scrollWidth - document.documentElement.clientWidth;
          // Anything that hides what does not fit, and has more than fits.
          const clipped = [...document.querySelectorAll<HTMLElement>('body *')]
            .filter((element) => {
              const style = getComputedStyle(element);
              return (
                style.overflowX !== 'visible' &&
                (element.scrollWidth > element.clientWidth + 1 ||
                  element.scrollHeight > element.clientHeight + 1)
              );
            })
            .map((element) => element.outerHTML.slice(0, 60));
          return { sideways, clipped, moving: document.getAnimations().length };
        });
      const pages = [
        { path: '#/', ready: page.getByTestId('event-count') },
        { path: `#/events/${event.id}`, ready: page.getByRole('heading', { name: event.title }) },
        { path: '#/organizer', ready: page.getByTestId('managed-event').first() },
        { path: '#/orders', ready: page.getByText('No orders yet.') },
        { path: '#/login', ready: page.getByLabel('Password') },
      ];
      for (const { path, ready } of pages) {
        if (path === '#/login') await page.getByRole('button', { name: 'Log out' }).click();
        await page.goto(`${app}/${path}`);
        await ready.waitFor();
        expect.soft(await overflow(), `${path} at 320 px`).toEqual({
          sideways: 0,
          clipped: [],
          moving: 0,
        });
        // WCAG 1.4.12's spacing, as a reader's style sheet or bookmarklet sets it.
        await page.evaluate(() => {
          for (const element of document.querySelectorAll<HTMLElement>('body *')) {
            element.style.setProperty('line-height', '1.5', 'important');
            element.style.setProperty('letter-spacing', '0.12em', 'important');
            element.style.setProperty('word-spacing', '0.16em', 'important');
            if (element.matches('p'))
              element.style.setProperty('margin-bottom', '2em', 'important');
          }
        });
        expect.soft(await overflow(), `${path} with text spacing`).toEqual({
          sideways: 0,
          clipped: [],
          moving: 0,
        });
      }
    } finally {
      await page.close();
    }
  });
});
