// Operations the check-in and transfer tests share: buying tickets, scanning and giving them.
import { randomUUID } from 'node:crypto';
import type { Supergraph } from './harness.ts';

export interface BoughtTicket {
  id: string;
  code: string;
  qrToken: string;
  tier: { id: string };
}

/** Buys `quantity` tickets of a tier as `token`, with their codes and QR tokens. */
export async function buyTickets(
  supergraph: Supergraph,
  token: string,
  tierId: string,
  quantity = 1,
): Promise<BoughtTicket[]> {
  const result = await supergraph.request<{ purchaseTickets: { tickets: BoughtTicket[] } }>(
    `mutation ($input: PurchaseInput!) {
      purchaseTickets(input: $input) { tickets { id code qrToken tier { id } } }
    }`,
    { input: { tierId, quantity, idempotencyKey: randomUUID() } },
    { token },
  );
  if (!result.data) throw new Error(`purchaseTickets failed: ${JSON.stringify(result.errors)}`);
  return result.data.purchaseTickets.tickets;
}

export const checkInMutation = `mutation ($code: String!, $eventId: ID!) {
  checkInTicket(code: $code, eventId: $eventId) {
    checkedInAt
    ticket { id status tier { name } owner { name } }
  }
}`;

export interface CheckInData {
  checkInTicket: {
    checkedInAt: string;
    ticket: { id: string; status: string; tier: { name: string }; owner: { name: string } };
  };
}

export function scan(
  supergraph: Supergraph,
  token: string,
  code: string,
  eventId: string,
  gateway = 0,
) {
  return supergraph.request<CheckInData>(checkInMutation, { code, eventId }, { token, gateway });
}

export const uploadMutation = `mutation ($eventId: ID!, $scans: [OfflineScanInput!]!) {
  uploadCheckIns(eventId: $eventId, scans: $scans) { index outcome checkedInAt ticket { id } }
}`;

export interface UploadData {
  uploadCheckIns: {
    index: number;
    outcome: string;
    checkedInAt: string | null;
    ticket: { id: string } | null;
  }[];
}

export function upload(
  supergraph: Supergraph,
  token: string,
  eventId: string,
  scans: { token: string; scannedAt: string }[],
) {
  return supergraph.request<UploadData>(uploadMutation, { eventId, scans }, { token });
}

export async function addDoorStaff(
  supergraph: Supergraph,
  token: string,
  eventId: string,
  email: string,
) {
  return supergraph.request<{
    addDoorStaff: { addedAt: string; user: { id: string; name: string } };
  }>(
    'mutation ($eventId: ID!, $email: String!) { addDoorStaff(eventId: $eventId, email: $email) { addedAt user { id name } } }',
    { eventId, email },
    { token },
  );
}

/** The owner offers a ticket to the account with `toEmail`; the offer's id, or null when refused. */
export async function offerTicket(
  supergraph: Supergraph,
  token: string,
  ticketId: string,
  toEmail: string,
): Promise<string | null> {
  const result = await supergraph.request<{
    transferTicket: { pendingTransfer: { id: string } | null };
  }>(
    'mutation ($id: ID!, $toEmail: String!) { transferTicket(id: $id, toEmail: $toEmail) { pendingTransfer { id } } }',
    { id: ticketId, toEmail },
    { token },
  );
  return result.data?.transferTicket.pendingTransfer?.id ?? null;
}

/** The receiver accepts an offer: the ticket becomes theirs. */
export function acceptTransfer(
  supergraph: Supergraph,
  token: string,
  offerId: string,
  gateway = 0,
) {
  return supergraph.request<{ acceptTicketTransfer: { id: string } }>(
    'mutation ($id: ID!) { acceptTicketTransfer(id: $id) { id } }',
    { id: offerId },
    { token, gateway },
  );
}
