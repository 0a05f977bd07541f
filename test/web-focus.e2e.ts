// Where the keyboard's focus goes in the reference web app after each action, in a real
// browser (Debian's Chromium, driven by playwright-core) against the real topology: an
// action that removes the control that did it puts the focus on the status message, which
// says what it did; a form or confirmation opened in place takes the focus and gives it back
// when closed (Escape too); busy buttons keep it; a route change from the cache moves it to
// the new heading. And the pages that show no event: they stop asking for it.
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseMutation } from './documents.ts';
import { postGraphQL } from './support.ts';
import {
  type Account,
  holdAnswers,
  isOperation,
  type StartedWebApp,
  startWebApp,
  until,
} from './web-app.ts';

let running: StartedWebApp;
let web: StartedWebApp['web'];
let apiUrl: string;
let app: string;

beforeAll(async () => {
  // Holds run out in seconds, not 10 minutes: a test waits for one to expire.
  running = await startWebApp('web-focus', { HOLD_SECONDS: String(holdSeconds) });
  ({ app, web } = running);
  apiUrl = running.started.topology.publicUrl;
}, 180_000);

afterAll(() => running?.stop());

/** How long a hold lasts here. */
const holdSeconds = 12;

/** The event page's poll (`availabilityPollMs`). */
const availabilityPollMs = 2_000;

/** Sends `query` as `account` (or anonymously) and returns its one field's answer. */
async function send(query: string, variables: Record<string, unknown>, account?: Account) {
  const answer = await postGraphQL(apiUrl, query, variables, account?.accessToken);
  expect(answer.body.errors).toBeUndefined();
  return Object.values(answer.body.data ?? {})[0] as { id: string };
}

/** A draft by `organizer` with a tier of each name; returns its id and title. */
async function draftWithTiers(organizer: Account, tierNames: string[]) {
  const title = `Draft ${randomUUID().slice(0, 8)}`;
  return { id: await web.draftEvent(organizer, { title }, tierNames), title };
}

/**
 * `buyer` buys `quantity` seats of a new event on sale (of `capacity`, 5 unless said), in
 * `orders` orders of `quantity` each (one unless said); returns the event's title.
 */
async function bought(buyer: Account, quantity: number, { orders = 1, capacity = 5 } = {}) {
  const { eventId, title } = await web.eventOnSale('Focus', capacity);
  const read = await postGraphQL(
    apiUrl,
    'query ($id: ID!) { event(id: $id) { ticketTiers { id } } }',
    {
      id: eventId,
    },
  );
  const tierId = (read.body.data as { event: { ticketTiers: { id: string }[] } }).event
    .ticketTiers[0]?.id;
  for (let order = 0; order < orders; order++) {
    await send(
      purchaseMutation,
      { input: { tierId, quantity, idempotencyKey: randomUUID() } },
      buyer,
    );
  }
  return title;
}

/**
 * What has the focus, in words: the status message and what it says, a control and its name,
 * or "nothing" when it fell to the document.
 */
const focused = (page: Page) =>
  page.evaluate(() => {
    const element = document.activeElement as HTMLElement | null;
    if (!element || element === document.body) return 'nothing';
    if (element.dataset.testid === 'status') return `status: ${element.textContent}`;
    const input = element as HTMLInputElement;
    const name =
      element.getAttribute('aria-label') ??
      input.labels?.[0]?.querySelector('span')?.textContent ??
      element.textContent;
    return `${element.tagName.toLowerCase()}: ${name?.trim()}`;
  });

/** Waits until the focus is on `what` (see `focused`). */
const focusIsOn = (page: Page, what: string) => until(() => focused(page)).toBe(what);

/** A page of the app with nobody signed in (this browser's profile may keep a session). */
async function signedOutPage(path: string): Promise<Page> {
  const page = await web.appPage();
  await page.evaluate(() => localStorage.removeItem('ticketing.session'));
  await page.goto(`${app}/#${path}`);
  await page.reload();
  return page;
}

/** Counts the page's requests for the event page's query from now on. */
function countEventPolls(page: Page) {
  const seen = { polls: 0 };
  page.on('request', (request) => {
    if (isOperation(request.postData(), 'EventPage')) seen.polls++;
  });
  return seen;
}

/** That `page` asks for its event no more, over more than two of its polls. */
async function expectNoMorePolls(page: Page, seen: { polls: number }) {
  const before = seen.polls;
  // Nothing to wait for: what is checked is that nothing happens in this time.
  await page.waitForTimeout(availabilityPollMs * 2.5);
  expect(seen.polls - before, 'requests for the event after it was not found').toBe(0);
}

describe('the focus after an action removes its control', () => {
  it('goes to the status message for a released hold, a cancelled ticket, the last orders loaded and logging out', async () => {
    const buyer = await web.apiAccount('Fran Focus');
    const event = await web.eventOnSale('Release');
    const page = await web.appPage(buyer);
    try {
      await page.goto(`${app}/#/events/${event.eventId}`);
      await page.getByRole('button', { name: 'Hold' }).click();
      const release = page.getByTestId('hold').getByRole('button', { name: 'Release' });
      await release.focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: Hold released: its tickets are on sale again.');
      await page.getByRole('button', { name: 'Hold' }).waitFor();
      // Said, and gone once the focus moves on: it hides nothing under it.
      await page.getByRole('button', { name: 'Hold' }).focus();
      expect(await page.getByTestId('status').textContent()).toBe('');

      const title = await bought(buyer, 2);
      await page.goto(`${app}/#/orders`);
      const order = page.getByTestId('order').filter({ hasText: title });
      const cancel = order.getByRole('button', { name: 'Cancel ticket' }).first();
      await cancel.focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: Ticket cancelled.');
      await until(() => order.getByRole('button', { name: 'Cancel ticket' }).count()).toBe(1);

      // "My orders" shows 10 at a time: the last ones loaded take "Load more orders" away.
      await bought(buyer, 1, { orders: 10, capacity: 10 });
      await page.reload();
      await until(() => page.getByTestId('order').count()).toBe(10);
      await page.getByRole('button', { name: 'Load more orders' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: All of them are shown now.');
      expect(await page.getByTestId('order').count()).toBe(11);

      await page.goto(`${app}/#/`);
      await page.getByRole('button', { name: 'Log out' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: You are logged out.');
    } finally {
      await page.close();
    }
  });

  it('opens "Give to someone" on its email, gives the focus back when closed, and says what offers became', async () => {
    const giver = await web.apiAccount('Gil Giver');
    const receiver = await web.apiAccount('Rae Receiver');
    const title = await bought(giver, 2);
    const page = await web.appPage(giver);
    try {
      await page.goto(`${app}/#/orders`);
      const ticket = page.getByTestId('held-ticket').filter({ hasText: title });
      await until(() => ticket.count()).toBe(2);
      const giveButton = ticket.first().getByRole('button', { name: 'Give to someone' });

      await giveButton.focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'input: Their email');
      await page.keyboard.press('Escape');
      await focusIsOn(page, 'button: Give to someone');
      expect(await page.locator('form.give').count()).toBe(0);

      await page.keyboard.press('Enter');
      await focusIsOn(page, 'input: Their email');
      await page.locator('form.give').getByRole('button', { name: 'Never mind' }).click();
      await focusIsOn(page, 'button: Give to someone');

      // Offered from the keyboard: the form goes, and the status message says to whom.
      // The first offer's answer is held back while its form is sent again, with Enter and a
      // click: it is sent once.
      const offers = await holdAnswers(page, apiUrl, 'TransferTicket');
      for (const offer of [1, 2]) {
        await ticket.getByRole('button', { name: 'Give to someone' }).first().focus();
        await page.keyboard.press('Enter');
        await page.keyboard.type(receiver.user.email);
        await page.keyboard.press('Enter');
        if (offer === 1) {
          const sending = page.locator('form.give button[aria-busy="true"]');
          await until(() => sending.textContent()).toBe('Offering…');
          await page.keyboard.press('Enter');
          // Forced: Playwright waits for a control marked aria-disabled, as a person would not.
          await sending.click({ force: true });
          expect(offers.sent()).toBe(1);
          offers.release();
        }
        await focusIsOn(
          page,
          `status: Ticket offered to ${receiver.user.email}: it is theirs once they accept.`,
        );
      }
      const pending = ticket.getByTestId('pending-offer');
      await until(() => pending.count()).toBe(2);
      expect(offers.sent()).toBe(2);

      await pending.first().getByRole('button', { name: 'Cancel the offer' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: Offer cancelled: the ticket is yours to give again.');
      await until(() => pending.count()).toBe(1);
    } finally {
      await page.close();
    }

    // The receiver answers the offer left, and one made through the API after it.
    const given = await postGraphQL(
      apiUrl,
      '{ myTickets(first: 20) { edges { node { id pendingTransfer { id } } } } }',
      {},
      giver.accessToken,
    );
    const free = (
      given.body.data as {
        myTickets: { edges: { node: { id: string; pendingTransfer: unknown } }[] };
      }
    ).myTickets.edges.find(({ node }) => !node.pendingTransfer)?.node.id;
    await send(
      'mutation ($id: ID!, $toEmail: String!) { transferTicket(id: $id, toEmail: $toEmail) { id } }',
      { id: free, toEmail: receiver.user.email },
      giver,
    );
    const receiving = await web.appPage(receiver);
    try {
      await receiving.goto(`${app}/#/orders`);
      const offers = receiving.getByTestId('incoming-offer');
      await until(() => offers.count()).toBe(2);
      await offers.first().getByRole('button', { name: 'Accept' }).focus();
      await receiving.keyboard.press('Enter');
      await focusIsOn(receiving, 'status: Offer accepted: the ticket is in your wallet.');
      await until(() => offers.count()).toBe(1);
      await offers.getByRole('button', { name: 'Decline' }).focus();
      await receiving.keyboard.press('Enter');
      await focusIsOn(receiving, 'status: Offer declined.');
      await until(() => offers.count()).toBe(0);
    } finally {
      await receiving.close();
    }
  });

  it('asks before deleting a tier with the focus on Keep, gives it back on Escape, and says what was deleted, published and cancelled', async () => {
    const organizer = await web.apiAccount('Ola Organizer', 'ORGANIZER');
    const draft = await draftWithTiers(organizer, ['Floor', 'Balcony']);
    const page = await web.appPage(organizer);
    try {
      await page.goto(`${app}/#/organizer`);
      const managed = page.getByTestId('managed-event').filter({ hasText: draft.title });
      const row = (name: string) => managed.getByRole('row').filter({ hasText: name });
      await row('Balcony').getByRole('button', { name: 'Delete', exact: true }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'button: Keep');
      await page.keyboard.press('Escape');
      await focusIsOn(page, 'button: Delete');
      expect(await managed.getByRole('button', { name: 'Keep' }).count()).toBe(0);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'button: Delete');

      await page.keyboard.press('Enter');
      await row('Balcony').getByRole('button', { name: 'Delete Balcony' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: Tier Balcony deleted.');
      await until(() => row('Balcony').count()).toBe(0);

      // Publishing is held back until its button has been looked at: busy, it keeps the
      // focus and ignores presses.
      const publishing = await holdAnswers(page, apiUrl, 'PublishEvent');
      await managed.getByRole('button', { name: 'Publish' }).focus();
      await page.keyboard.press('Enter');
      const busy = managed.locator('button[aria-busy="true"]');
      await until(() => busy.textContent()).toBe('Publishing…');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Space');
      expect(await focused(page)).toBe('button: Publishing…');
      publishing.release();
      await focusIsOn(page, `status: ${draft.title} is published: its tickets are on sale.`);
      expect(publishing.sent()).toBe(1);

      await managed.getByRole('button', { name: 'Cancel event' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, `status: ${draft.title} is cancelled: its ticket sales have stopped.`);
      await until(() => managed.getAttribute('data-status')).toBe('CANCELLED');
    } finally {
      await page.close();
    }
  });
});

describe('the event page', () => {
  it('says why an expired hold cannot be bought, keeps the focus on Buy, and releases it', async () => {
    const event = await web.eventOnSale('Expiring');
    const page = await web.appPage(await web.apiAccount('Eli Expired'));
    try {
      let purchases = 0;
      page.on('request', (request) => {
        if (isOperation(request.postData(), 'PurchaseTickets')) purchases++;
      });
      await page.goto(`${app}/#/events/${event.eventId}`);
      await page.getByRole('button', { name: 'Hold' }).click();
      const buy = page.getByTestId('hold').getByRole('button', { name: 'Buy' });
      await buy.focus();
      const note = page.getByTestId('hold-expired');
      await until(() => note.textContent()).toBe(
        'This hold has expired, so it cannot be bought: release it to hold tickets again.',
      );
      expect(await buy.getAttribute('aria-disabled')).toBe('true');
      expect(await buy.getAttribute('aria-describedby')).toBe(await note.getAttribute('id'));
      await page.keyboard.press('Enter');
      expect(await focused(page)).toBe('button: Buy');
      expect(purchases).toBe(0);

      // The API counts it released already (HOLD_EXPIRED): the page catches up, and says so.
      await page.getByTestId('hold').getByRole('button', { name: 'Release' }).focus();
      await page.keyboard.press('Enter');
      await focusIsOn(page, 'status: The hold had expired: its tickets are on sale again.');
      await page.getByRole('button', { name: 'Hold' }).waitFor();
      expect(await page.getByTestId('hold').count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('moves the focus to the heading of an event reached from the cache by editing the hash', async () => {
    const first = await web.eventOnSale('First');
    const second = await web.eventOnSale('Second');
    const page = await signedOutPage(`/events/${first.eventId}`);
    try {
      const heading = (title: string) => page.getByRole('heading', { name: title, level: 1 });
      await heading(first.title).waitFor();
      await page.evaluate((id) => {
        location.hash = `#/events/${id}`;
      }, second.eventId);
      await focusIsOn(page, `h1: ${second.title}`);
      // Somewhere else on the page meanwhile: the heading shown again must take the focus.
      await page.getByRole('link', { name: 'Events', exact: true }).focus();
      await page.evaluate((id) => {
        location.hash = `#/events/${id}`;
      }, first.eventId);
      await focusIsOn(page, `h1: ${first.title}`);
    } finally {
      await page.close();
    }
  });

  it('stops asking for an event that is not there: unknown, not an id, a draft, deleted', async () => {
    const organizer = await web.apiAccount('Dee Drafts', 'ORGANIZER');
    const draft = await draftWithTiers(organizer, ['Floor']);
    // Side by side, each in a page of its own.
    await Promise.all(
      [randomUUID(), 'not-an-id', draft.id].map(async (id) => {
        const page = await signedOutPage('/');
        try {
          const seen = countEventPolls(page);
          await page.goto(`${app}/#/events/${id}`);
          await page.getByRole('heading', { name: 'No such event' }).waitFor();
          await expectNoMorePolls(page, seen);
        } finally {
          await page.close();
        }
      }),
    );

    // Its organizer sees the draft, until it is deleted.
    const page = await web.appPage(organizer);
    try {
      const seen = countEventPolls(page);
      await page.goto(`${app}/#/events/${draft.id}`);
      await page.getByRole('heading', { name: draft.title }).waitFor();
      await send('mutation ($id: ID!) { deleteEvent(id: $id) }', { id: draft.id }, organizer);
      await page.getByRole('heading', { name: 'No such event' }).waitFor();
      await expectNoMorePolls(page, seen);
    } finally {
      await page.close();
    }
  });

  it('shows a cancelled event’s link with its reason and nothing to hold', async () => {
    const event = await web.eventOnSale('Called off');
    await send(
      'mutation ($id: ID!) { cancelEvent(id: $id, reason: "Storm") { id } }',
      { id: event.eventId },
      event.organizer,
    );
    const page = await signedOutPage(`/events/${event.eventId}`);
    try {
      await page.getByText('Cancelled: Storm').waitFor();
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(event.title);
      expect(await page.getByRole('button', { name: 'Hold' }).count()).toBe(0);
    } finally {
      await page.close();
    }
  });
});
