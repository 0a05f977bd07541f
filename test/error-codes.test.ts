// The error codes a client can branch on are listed once, in the README's "Error codes"
// table, with their meaning: every code of every service's union must be there.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsErrorCodes } from '@ticketing/events-subgraph/errors';
import { commonErrorCodes } from '@ticketing/platform';
import { ticketsErrorCodes } from '@ticketing/tickets-subgraph/errors';
import { usersErrorCodes } from '@ticketing/users-subgraph/errors';
import { describe, expect, it } from 'vitest';

async function readmeErrorCodes(): Promise<string> {
  const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Error codes');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n### ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe('the README’s error codes', () => {
  it.each([
    ['common', commonErrorCodes],
    ['users', usersErrorCodes],
    ['events', eventsErrorCodes],
    ['tickets', ticketsErrorCodes],
    // Answered over HTTP before any resolver runs (platform's body parser, the gateway).
    ['HTTP request', ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'METHOD_NOT_ALLOWED']],
  ] as const)('list every code of the %s union', async (_, codes) => {
    const section = await readmeErrorCodes();
    const missing = codes.filter((code) => !section.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });
});
