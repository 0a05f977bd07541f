// The error contract as a whole: the codes the code base can answer with and the README's
// "Error codes" table are the same list, each row saying whether a retry can help and which
// argument its error names, so that a code added without documentation, or one documented
// and no longer answered, fails here; each mutation's SDL description names the codes of its
// service it can answer with; and the web app has a sentence for each code a page can get.
// (test/error-codes.test.ts checks the services' typed unions against the same table.)
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { eventsErrorCodes } from '@ticketing/events-subgraph/errors';
import { commonErrorCodes } from '@ticketing/platform';
import { ticketsErrorCodes } from '@ticketing/tickets-subgraph/errors';
import { usersErrorCodes } from '@ticketing/users-subgraph/errors';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { describeError } from '../clients/web/src/errors.ts';

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

/**
 * The codes of its own service each mutation offered to clients can answer with, found by
 * reading what its resolver and service throw; the common codes (BAD_USER_INPUT, NOT_FOUND,
 * SERVICE_UNAVAILABLE) and those of authentication (UNAUTHENTICATED, FORBIDDEN,
 * TOO_MANY_REQUESTS) aside. Its SDL description must name exactly these: a frontend reads
 * there what to expect, and a code named there that it cannot answer with misleads as much
 * as one left out.
 */
const mutationCodes: Record<string, Record<string, string[]>> = {
  users: {
    signUp: ['EMAIL_TAKEN', 'TOO_MANY_ATTEMPTS'],
    logIn: ['INVALID_CREDENTIALS', 'TOO_MANY_ATTEMPTS', 'ACCOUNT_DELETION_PENDING'],
    refreshSession: ['TOO_MANY_ATTEMPTS', 'ACCOUNT_DELETION_PENDING'],
    logOut: [],
    updateProfile: ['EMAIL_TAKEN', 'INVALID_CREDENTIALS', 'TOO_MANY_ATTEMPTS'],
    changePassword: ['INVALID_CREDENTIALS', 'TOO_MANY_ATTEMPTS'],
    deleteAccount: [
      'INVALID_CREDENTIALS',
      'TOO_MANY_ATTEMPTS',
      'ACCOUNT_HAS_EVENTS',
      'ACCOUNT_HAS_TICKETS',
      'ACCOUNT_DELETION_INCOMPLETE',
    ],
    setUserRole: [],
  },
  events: {
    createEvent: ['TOO_MANY_EVENTS', 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_KEY_IN_USE'],
    updateEvent: ['INVALID_STATE_TRANSITION', 'EVENT_ENDED', 'EVENT_IN_PAST'],
    publishEvent: ['INVALID_STATE_TRANSITION', 'EVENT_IN_PAST'],
    cancelEvent: ['INVALID_STATE_TRANSITION', 'EVENT_ENDED'],
    deleteEvent: ['INVALID_STATE_TRANSITION'],
  },
  tickets: {
    createTicketTier: [
      'TOO_MANY_TIERS',
      'IDEMPOTENCY_KEY_REUSED',
      'IDEMPOTENCY_KEY_IN_USE',
      'INVALID_STATE_TRANSITION',
      'EVENT_ENDED',
    ],
    updateTicketTier: ['CAPACITY_BELOW_SOLD', 'INVALID_STATE_TRANSITION', 'EVENT_ENDED'],
    deleteTicketTier: ['TIER_IN_USE', 'INVALID_STATE_TRANSITION', 'EVENT_ENDED'],
    holdTickets: [
      'IDEMPOTENCY_KEY_REUSED',
      'IDEMPOTENCY_KEY_IN_USE',
      'SOLD_OUT',
      'SALES_CLOSED',
      'ORDER_LIMIT_EXCEEDED',
      'PURCHASE_LIMIT_REACHED',
      'TOO_MANY_HOLDS',
    ],
    purchaseTickets: [
      'SOLD_OUT',
      'ORDER_LIMIT_EXCEEDED',
      'PURCHASE_LIMIT_REACHED',
      'SALES_CLOSED',
      'HOLD_NOT_FOUND',
      'HOLD_EXPIRED',
      'IDEMPOTENCY_KEY_REUSED',
      'IDEMPOTENCY_KEY_IN_USE',
    ],
    releaseHold: ['HOLD_NOT_FOUND', 'HOLD_EXPIRED'],
    cancelTicket: ['TICKET_ALREADY_CANCELLED', 'TICKET_CHECKED_IN'],
    addDoorStaff: ['USER_NOT_FOUND', 'TOO_MANY_DOOR_STAFF'],
    removeDoorStaff: [],
    checkInTicket: [
      'ALREADY_CHECKED_IN',
      'TICKET_NOT_FOUND',
      'WRONG_EVENT',
      'TICKET_CANCELLED',
      'TOKEN_REVOKED',
      'INVALID_TOKEN',
    ],
    undoCheckIn: ['NOT_CHECKED_IN', 'TICKET_NOT_FOUND'],
    uploadCheckIns: [],
    transferTicket: [
      'TICKET_CANCELLED',
      'TICKET_CHECKED_IN',
      'RECIPIENT_NOT_FOUND',
      'TRANSFER_TO_SELF',
      'TRANSFER_PENDING',
      'EVENT_STARTED',
    ],
    acceptTicketTransfer: [
      'TRANSFER_EXPIRED',
      'TRANSFER_NOT_PENDING',
      'TICKET_CANCELLED',
      'TICKET_CHECKED_IN',
      'PURCHASE_LIMIT_REACHED',
    ],
    declineTicketTransfer: ['TRANSFER_NOT_PENDING'],
    cancelTicketTransfer: ['TRANSFER_NOT_PENDING'],
    refundOrder: [
      'REFUND_WINDOW_CLOSED',
      'TICKET_TRANSFERRED',
      'ALREADY_REFUNDED',
      'TICKET_CANCELLED',
      'TICKET_CHECKED_IN',
    ],
    joinWaitlist: [
      'TIER_NOT_SOLD_OUT',
      'ALREADY_ON_WAITLIST',
      'SALES_CLOSED',
      'TOO_MANY_WAITLIST_ENTRIES',
      'ORDER_LIMIT_EXCEEDED',
      'PURCHASE_LIMIT_REACHED',
    ],
    leaveWaitlist: ['NOT_ON_WAITLIST'],
  },
};

const serviceCodes: Record<string, readonly string[]> = {
  users: usersErrorCodes,
  events: eventsErrorCodes,
  tickets: ticketsErrorCodes,
};

/** Each mutation offered to clients (not `@inaccessible`) of a subgraph, with its description. */
async function mutations(subgraph: string): Promise<Map<string, string>> {
  const sdl = await readFile(join(root, 'subgraphs', subgraph, 'schema.graphql'), 'utf8');
  const found = new Map<string, string>();
  for (const definition of parse(sdl).definitions) {
    if (
      (definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
        definition.kind !== Kind.OBJECT_TYPE_EXTENSION) ||
      definition.name.value !== 'Mutation'
    ) {
      continue;
    }
    for (const field of definition.fields ?? []) {
      if (field.directives?.some((directive) => directive.name.value === 'inaccessible')) continue;
      found.set(field.name.value, field.description?.value ?? '');
    }
  }
  return found;
}

describe('each mutation’s SDL description', () => {
  it.each(Object.keys(mutationCodes))(
    'names the %s codes it can answer with, and no other',
    async (subgraph) => {
      const declared = mutationCodes[subgraph] ?? {};
      const own = serviceCodes[subgraph] ?? [];
      const described = await mutations(subgraph);
      // Every mutation is in the list above, and every code there is one of the service's.
      expect([...described.keys()].sort()).toEqual(Object.keys(declared).sort());
      expect(
        Object.values(declared)
          .flat()
          .filter((code) => !own.includes(code)),
      ).toEqual([]);
      const wrong = [...described].flatMap(([name, description]) => {
        const named = own.filter((code) => new RegExp(`\\b${code}\\b`).test(description));
        const expected = declared[name] ?? [];
        const missing = expected.filter((code) => !named.includes(code));
        const impossible = named.filter((code) => !expected.includes(code));
        return missing.length + impossible.length > 0 ? [{ name, missing, impossible }] : [];
      });
      expect(wrong).toEqual([]);
    },
  );
});

/**
 * Documented codes no page of the web app is answered with, or whose sentence is the
 * generic one on purpose. Every other code in the README's table must have one of its own.
 */
const genericInTheWebApp: Record<string, string> = {
  BAD_USER_INPUT: 'shown in the API’s own words, beside its field',
  INTERNAL_SERVER_ERROR: 'a fault of the service: the generic sentence is its sentence',
  HEADERS_TOO_LARGE: 'the page sends a few small headers; nothing for a person to do but retry',
  METHOD_NOT_ALLOWED: 'the web app POSTs every operation',
  URI_TOO_LONG: 'the web app POSTs every operation, to a short URL',
  PERSISTED_QUERY_NOT_FOUND: 'the web app sends whole documents, never a hash alone',
  GRAPHQL_PARSE_FAILED: 'the web app’s documents are parsed when it is built (codegen)',
  PASSWORD_FIELDS_LIMIT: 'no operation of the web app has more than one password field',
  GATEWAY_SIGNATURE_REQUIRED: 'only a request that did not come through a gateway',
  GATEWAY_SIGNATURE_INVALID: 'only a request that did not come through a gateway',
  PRECONDITION_FAILED: 'the browser’s own requests for the app’s files, not an operation',
  RANGE_NOT_SATISFIABLE: 'the browser’s own requests for the app’s files, not an operation',
};

describe('the web app', () => {
  it('says every documented code a page can be answered with in a sentence of its own', async () => {
    const answered = (code: string) =>
      describeError(
        new CombinedGraphQLErrors({
          data: null,
          errors: [{ message: 'Refused.', extensions: { code } }],
        }),
      )?.message;
    const generic = answered('A_CODE_NO_SERVICE_HAS');
    const documented = (await tableRows()).flatMap((row) => row.codes);
    const unsaid = documented.filter(
      (code) => !(code in genericInTheWebApp) && answered(code) === generic,
    );
    expect(unsaid).toEqual([]);
    // What is listed as generic is documented: a code renamed or gone leaves no stale entry.
    expect(Object.keys(genericInTheWebApp).filter((code) => !documented.includes(code))).toEqual(
      [],
    );
  });
});

describe('the README’s error codes and extensions.field', () => {
  it('say of every code whose error names an argument which one it names', async () => {
    const rows = await tableRows();
    const files = execFileSync('git', ['ls-files', 'packages/*/src/**', 'subgraphs/*/src/**'], {
      cwd: root,
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    const naming = new Set<string>();
    for (const file of files) {
      const text = await readFile(join(root, file), 'utf8');
      // A failure(…) call up to its end, not past the next one (a ternary of two).
      const calls = /\bfailure\(\s*'([A-Z][A-Z_]+)'((?:(?!\bfailure\()[\s\S])*?)\);/g;
      for (const [, code = '', rest = ''] of text.matchAll(calls)) {
        if (/\bfield\b/.test(rest)) naming.add(code);
      }
    }
    expect(naming.size).toBeGreaterThan(10);
    const unsaid = [...naming].filter(
      (code) =>
        !rows.some((row) => row.codes.includes(code) && /\bfield\b/.test(row.cells[2] ?? '')),
    );
    expect(unsaid.sort()).toEqual([]);
  });
});
