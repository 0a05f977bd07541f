// QR tokens against a real database: each event's key is made once however many replicas
// ask at once, and a token verifies only for its own event, untampered.
import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@ticketing/prisma/testing';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SigningKeyRepository } from '../src/repositories/SigningKeyRepository.ts';
import { TicketTokens, ticketKeysKeptInMemory } from '../src/services/TicketTokens.ts';

let database: TestDatabase<PrismaClient>;

beforeAll(async () => {
  database = await createTestDatabase(ticketsDatabase);
});
afterAll(async () => {
  await database?.close();
});

/** A replica's view: its own cache of keys, the shared database. */
const replica = () => new TicketTokens(new SigningKeyRepository(database.prisma));

const claims = (eventId: string) => ({
  ticketId: randomUUID(),
  eventId,
  tierId: randomUUID(),
  version: 1,
});

describe('ticket tokens', () => {
  it('use one key per event, whichever of several replicas makes it first', async () => {
    const eventId = randomUUID();
    const replicas = Array.from({ length: 8 }, replica);
    const tokens = await Promise.all(replicas.map((tokens) => tokens.sign(claims(eventId))));
    const kids = new Set(tokens.map((token) => decodeProtectedHeader(token).kid));
    expect(kids.size).toBe(1);
    expect(await database.prisma.eventSigningKey.count({ where: { eventId } })).toBe(1);
    // Any replica verifies what any other signed.
    for (const token of tokens) {
      expect(await replica().verify(token, eventId)).toHaveProperty('claims.eventId', eventId);
    }
  });

  it('verify only for their own event', async () => {
    const [mine, other] = [randomUUID(), randomUUID()];
    const tokens = replica();
    const token = await tokens.sign(claims(mine));
    await tokens.publicKeys(other);
    expect(await tokens.verify(token, other)).toEqual({ problem: 'otherEvent' });
  });

  it('refuse a changed claim, another type and garbage', async () => {
    const eventId = randomUUID();
    const tokens = replica();
    const token = await tokens.sign(claims(eventId));
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const changed = JSON.parse(Buffer.from(payload, 'base64url').toString());
    changed.ver = 2;
    const tampered = `${header}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`;
    expect(await tokens.verify(tampered, eventId)).toEqual({ problem: 'invalid' });
    expect(await tokens.verify('a.b.c', eventId)).toEqual({ problem: 'invalid' });
    // A JWT of another kind, even one signed with a key the attacker made, is not a ticket.
    const { privateKey } = await generateKeyPair('EdDSA');
    const foreign = await new SignJWT({ evt: eventId, tir: randomUUID(), ver: 1 })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setSubject(randomUUID())
      .sign(privateKey);
    expect(await tokens.verify(foreign, eventId)).toEqual({ problem: 'invalid' });
  });
});

describe('the event keys a tickets service holds in memory', () => {
  it('are a bounded number, however many events it has signed or checked for', async () => {
    const tokens = replica();
    const events = Array.from({ length: ticketKeysKeptInMemory + 200 }, () => randomUUID());
    const first = await tokens.publicKeys(events[0] as string);
    for (let start = 0; start < events.length; start += 50) {
      await Promise.all(events.slice(start, start + 50).map((id) => tokens.publicKeys(id)));
    }
    expect(tokens.keptEvents).toBe(ticketKeysKeptInMemory);
    // An event's key let go of is read again from the database: the same key, not a new one.
    expect(await tokens.publicKeys(events[0] as string)).toEqual(first);
    const token = await tokens.sign(claims(events[0] as string));
    expect(await replica().verify(token, events[0] as string)).toHaveProperty('claims');
  }, 60_000);
});
