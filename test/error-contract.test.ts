// The error contract as a whole: the codes the code base can answer with and the README's
// "Error codes" table are the same list, each row saying whether a retry can help, so that
// a code added without documentation, or one documented and no longer answered, fails here.
// (test/error-codes.test.ts checks the services' typed unions against the same table.)
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { eventsErrorCodes } from '@ticketing/events-subgraph/errors';
import { commonErrorCodes } from '@ticketing/platform';
import { ticketsErrorCodes } from '@ticketing/tickets-subgraph/errors';
import { usersErrorCodes } from '@ticketing/users-subgraph/errors';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** The rows of the README's "Error codes" table: each code of the first cell, and the cells. */
async function tableRows(): Promise<{ codes: string[]; cells: string[] }[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('### Error codes');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n### ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim());
      const codes = [...(cells[0] ?? '').matchAll(/`([A-Z_]+)`/g)].map(([, code = '']) => code);
      return { codes, cells };
    });
}

/**
 * Literals that are not codes a client is answered with, though they stand beside the word
 * `code`: the errno codes of Node's sockets and files compared against, and the fallback
 * code of a composition error, which the schema check prints to the developer.
 */
const notAnswered = new Set(['ECONNRESET', 'ENOENT', 'COMPOSITION_ERROR']);

/**
 * The codes the services, the gateway and NGINX write themselves, as literals: the first
 * argument of a `failure(…)` or `refusal(…)`, and any upper-case literal on a line that
 * speaks of a `code` (`extensions: { code: 'X' }`, `"code":"X"` in NGINX's template, a
 * `code: 'A' | 'B'` type, a comparison). A code built another way is in a service's typed
 * union, which is read beside these.
 */
async function writtenCodes(): Promise<Map<string, Set<string>>> {
  const files = execFileSync(
    'git',
    ['ls-files', 'packages/*/src/**', 'subgraphs/*/src/**', 'gateway/src/**', 'nginx/**'],
    { cwd: root, encoding: 'utf8' },
  )
    .trim()
    .split('\n');
  const written = new Map<string, Set<string>>();
  const add = (code: string, file: string) => {
    if (notAnswered.has(code)) return;
    written.set(code, (written.get(code) ?? new Set()).add(file));
  };
  for (const file of files) {
    const text = await readFile(join(root, file), 'utf8');
    for (const line of text.split('\n')) {
      if (!/\bcode\b/.test(line)) continue;
      for (const [, code = ''] of line.matchAll(/\\?['"`]([A-Z][A-Z_]*[A-Z])\\?['"`]/g)) {
        add(code, file);
      }
    }
    for (const [, code = ''] of text.matchAll(
      /\b(?:failure|refusal)\(\s*['"`]([A-Z][A-Z_]+)['"`]/g,
    )) {
      add(code, file);
    }
  }
  return written;
}

/** What Apollo Server answers itself that reaches a client (as test/error-codes.test.ts says). */
const apolloServerCodes: string[] = Object.values(ApolloServerErrorCode).filter(
  (code) =>
    code !== ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED &&
    code !== ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
);

const unionCodes: string[] = [
  ...commonErrorCodes,
  ...usersErrorCodes,
  ...eventsErrorCodes,
  ...ticketsErrorCodes,
];

describe('the error contract', () => {
  it('documents every code the code base writes in a row of the README’s table', async () => {
    const listed = new Set((await tableRows()).flatMap((row) => row.codes));
    const written = await writtenCodes();
    const undocumented = [...written.keys()]
      .filter((code) => !listed.has(code))
      .map((code) => `${code} (${[...(written.get(code) ?? [])].join(', ')})`);
    expect(undocumented).toEqual([]);
  });

  it('documents no code that nothing answers with any more', async () => {
    const answered = new Set([
      ...(await writtenCodes()).keys(),
      ...unionCodes,
      ...apolloServerCodes,
    ]);
    const stale = (await tableRows())
      .flatMap((row) => row.codes)
      .filter((code) => !answered.has(code));
    expect(stale).toEqual([]);
  });

  it('says for every code whether a retry can help', async () => {
    const rows = await tableRows();
    expect(rows.length).toBeGreaterThan(50);
    const unsaid = rows
      .filter((row) => row.cells.length !== 4 || !/^(yes|no|maybe)\b/.test(row.cells[3] ?? ''))
      .map((row) => row.codes.join(', '));
    expect(unsaid).toEqual([]);
  });
});
