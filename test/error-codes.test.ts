// The error codes a client can branch on are listed once, in the README's "Error codes"
// table, with their meaning: every code of every service's union must be there.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloServerErrorCode } from '@apollo/server/errors';
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

/** The codes in the first column of the section's table. */
function tableCodes(section: string): Set<string> {
  const firstCells = section.split('\n').flatMap((line) => line.match(/^\| ([^|]+) \|/)?.[1] ?? []);
  return new Set(
    firstCells.flatMap((cell) => [...cell.matchAll(/`([A-Z_]+)`/g)].map(([, code = '']) => code)),
  );
}

/** The codes of the answers NGINX writes itself (the template's `$edge_error` map). */
async function edgeErrorCodes(): Promise<string[]> {
  const template = await readFile(
    join(import.meta.dirname, '..', 'nginx', 'templates', 'gateway.conf.template'),
    'utf8',
  );
  return [...new Set([...template.matchAll(/"code":"([A-Z_]+)"/g)].map(([, code = '']) => code))];
}

/**
 * The codes Apollo Server answers with itself, before any resolver runs, that reach a
 * client of the gateway: not PERSISTED_QUERY_NOT_SUPPORTED (persisted queries are always
 * on), nor OPERATION_RESOLUTION_FAILURE (the gateway refuses a missing or unknown
 * operationName first, as GRAPHQL_VALIDATION_FAILED).
 */
const apolloServerCodes = Object.values(ApolloServerErrorCode).filter(
  (code) =>
    code !== ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED &&
    code !== ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
);

describe('the README’s error codes', () => {
  it.each([
    ['common', commonErrorCodes],
    ['users', usersErrorCodes],
    ['events', eventsErrorCodes],
    ['tickets', ticketsErrorCodes],
    // Answered over HTTP before any resolver runs (platform's body parser, the gateway).
    ['HTTP request', ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'METHOD_NOT_ALLOWED']],
    ['Apollo Server', apolloServerCodes],
  ] as const)('list every code of the %s union', async (_, codes) => {
    const listed = tableCodes(await readmeErrorCodes());
    const missing = codes.filter((code) => !listed.has(code));
    expect(missing).toEqual([]);
  });

  it('name every code NGINX answers with itself', async () => {
    const section = await readmeErrorCodes();
    const missing = (await edgeErrorCodes()).filter((code) => !section.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
