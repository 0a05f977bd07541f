// What a client can put in the HTTP request itself, around the operation, to make the gateway
// fail on its own. Each is the client's error (HTTP 400 with a stable code), never a server
// error, and the gateway goes on serving.
import { once } from 'node:events';
import { connect } from 'node:net';
import { startGateway } from '@ticketing/gateway/main';
import { maxJsonDepth, type RunningService } from '@ticketing/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Supergraph, startSupergraph, subgraphsOf } from './harness.ts';

let supergraph: Supergraph;

beforeAll(async () => {
  supergraph = await startSupergraph();
});
afterAll(async () => {
  await supergraph?.stop();
});

interface Answer {
  status: number;
  body: {
    data?: unknown;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

async function answerOf(response: Response): Promise<Answer> {
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** POSTs `body`, written as it is: JSON.stringify itself overflows on what these send. */
async function postRaw(
  body: string | Uint8Array<ArrayBuffer>,
  contentType = 'application/json',
): Promise<Answer> {
  const response = await fetch(supergraph.gatewayUrls[0] as string, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return answerOf(response);
}

/** A JSON array `depth` levels deep, as text. */
const nestedArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const countEvents = 'query Count($first: Int) { events(first: $first) { totalCount } }';

describe('JSON nested deeper than any input needs', () => {
  // Twenty kilobytes of `[` overflowed the stack in the code that walks variables (the
  // response cache's key, Apollo's coercion): a 500, logged as a server error.
  it.each([
    ['unused by the operation', '{ __typename }'],
    ['given to an Int argument', countEvents],
  ])('in a variable %s is BAD_USER_INPUT naming it', async (_, query) => {
    const result = await postRaw(
      `{"query":${JSON.stringify(query)},"variables":{"first":${nestedArray(10_000)}}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
    expect(result.body.errors?.[0]?.message).toContain(`deeper than ${maxJsonDepth} levels`);
  });

  it('in a variable of objects is BAD_USER_INPUT naming it', async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const result = await postRaw(`{"query":"{ __typename }","variables":{"filter":${deep}}}`);
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'filter',
    });
  });

  it('elsewhere in the body is BAD_REQUEST', async () => {
    const result = await postRaw(
      `{"query":"{ __typename }","extensions":{"x":${nestedArray(10_000)}}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST' });
  });

  it('in a GET request’s variables is BAD_USER_INPUT naming the variable', async () => {
    // Brackets unescaped (the URL parser leaves them), so that 6,000 levels fit in Node's
    // 16 KiB of request head.
    const url = new URL(
      `?query=${encodeURIComponent(countEvents)}&variables={"first":${nestedArray(6_000)}}`,
      supergraph.gatewayUrls[0],
    );
    const result = await answerOf(
      await fetch(url, { headers: { 'apollo-require-preflight': 'true' } }),
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });

  it('up to the limit is read as usual, and the gateway still serves', async () => {
    // The body and `variables` are two of the levels.
    const result = await postRaw(
      `{"query":${JSON.stringify(countEvents)},"variables":{"first":${nestedArray(maxJsonDepth - 2)}}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.message).toMatch(/^Variable "\$first" got an invalid value/);
    const events = await supergraph.request<{ events: { totalCount: number } }>(countEvents, {
      first: 1,
    });
    expect(events.errors).toBeUndefined();
    expect(events.data?.events.totalCount).toBe(0);
  });
});

describe('a GET request after 1,000 other parameters', () => {
  // Express reads a URL's first 1,000 parameters, Apollo Server all of them: the gateway's
  // checks of a GET request read what Express read, and never saw what came after. 3,000
  // levels of `[` in variables (what fits in NGINX's 8 KB request line) overflowed the
  // stack, a 500 logged as a server error.
  const filler = 'a&'.repeat(1_000);
  const get = (parameters: string) =>
    fetch(new URL(`?${filler}${parameters}`, supergraph.gatewayUrls[0]), {
      headers: { 'apollo-require-preflight': 'true' },
    }).then(answerOf);

  it('has its variables’ nesting checked: BAD_USER_INPUT naming the variable', async () => {
    const result = await get(
      `query=${encodeURIComponent('{ __typename }')}&variables={"first":${nestedArray(3_000)}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });

  it('has its document’s size checked: 413 DOCUMENT_TOO_LARGE', async () => {
    const document = `#${'a'.repeat(9_000)}\n{ __typename }`;
    const result = await get(`query=${encodeURIComponent(document)}`);
    expect(result.status).toBe(413);
    expect(result.body.errors?.[0]?.extensions?.code).toBe('DOCUMENT_TOO_LARGE');
  });

  it('is otherwise read as usual', async () => {
    const result = await get(`query=${encodeURIComponent('{ __typename }')}`);
    expect(result).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });
});

describe('a body that is not UTF-8', () => {
  const signUpDocument =
    'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken } }';

  /** A sign-up whose password ends in `tail`, bytes written as they are. */
  const signUpWithPasswordEnding = (email: string, tail: number[]) =>
    Buffer.concat([
      Buffer.from(
        `{"query":${JSON.stringify(signUpDocument)},"variables":{"input":{"email":"${email}","name":"Bytes","accountType":"CUSTOMER","password":"plum-vortex-harbour-71-`,
      ),
      Buffer.from(tail),
      Buffer.from('"}}}'),
    ]);

  // A JSON parser reads bytes that are not UTF-8 (a stray 0xFF, an overlong `/`) as U+FFFD,
  // so that different passwords or idempotency keys would be stored as one.
  it.each([
    ['a byte that never starts a character', [0xff, 0xfe]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a truncated sequence', [0xe2, 0x82]],
  ])('with %s is a 400 BAD_REQUEST, and nothing is written', async (_, tail) => {
    const email = `bytes-${tail.join('-')}@example.com`;
    const result = await postRaw(signUpWithPasswordEnding(email, tail));
    expect(result.status).toBe(400);
    expect(result.body).toEqual({
      errors: [
        { message: 'The request body is not valid UTF-8.', extensions: { code: 'BAD_REQUEST' } },
      ],
    });
    expect(await supergraph.databases.users.user.count({ where: { email } })).toBe(0);
  });

  // JSON between systems is UTF-8 (RFC 8259, 8.1); the parser took any `utf-*` charset, UTF-7
  // too, in which `+ACI-` is a quote.
  it.each([
    ['utf-7', 'ascii'],
    ['utf-16le', 'utf16le'],
    ['iso-8859-1', 'latin1'],
  ] as const)('in the charset %s is a 415 BAD_REQUEST', async (charset, encoding) => {
    const result = await postRaw(
      Buffer.from('{"query":"{ __typename }"}', encoding),
      `application/json; charset=${charset}`,
    );
    expect(result.status).toBe(415);
    expect(result.body.errors?.[0]?.extensions).toEqual({ code: 'BAD_REQUEST' });
  });

  it('in UTF-8, with or without a byte order mark, is read as usual', async () => {
    for (const body of [
      Buffer.from('{"query":"{ __typename }"}'),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"query":"{ __typename }"}')]),
    ]) {
      const result = await postRaw(body, 'application/json; charset=UTF-8');
      expect(result).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
    }
  });
});

describe('a GET request whose parameters are not UTF-8', () => {
  const get = (search: string) =>
    fetch(new URL(search, supergraph.gatewayUrls[0]), {
      headers: { 'apollo-require-preflight': 'true' },
    }).then(answerOf);

  // URLSearchParams reads percent-encoded bytes that are not UTF-8 (a stray 0xFF, an
  // overlong `/`) as U+FFFD, as a JSON parser reads them in a body: two different byte
  // strings arrived as one document, variable value or cache key.
  it.each([
    ['a byte that never starts a character, after the document', '?query=%7Bevents%7D%FF'],
    [
      'an overlong encoding, in a variable',
      `?query=${encodeURIComponent(countEvents)}&variables=%7B%22s%22%3A%22%C0%AF%22%7D`,
    ],
    [
      'a truncated sequence, in the operation name',
      '?query=%7B__typename%7D&operationName=A%E2%82',
    ],
    [
      'a byte that never starts a character, in the extensions',
      '?query=%7B__typename%7D&extensions=%7B%22x%22%3A%22%FE%22%7D',
    ],
    ['a byte that never starts a character, in another parameter', '?query=%7B__typename%7D&x=%FF'],
    [
      'a byte that never starts a character, in a parameter’s name',
      '?query=%7B__typename%7D&%FF=1',
    ],
  ])('with %s is a 400 BAD_REQUEST', async (_, search) => {
    const result = await get(search);
    expect(result).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'The request’s query string is not valid UTF-8.',
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      },
    });
  });

  it('in UTF-8, multi-byte characters included, is read as usual', async () => {
    // A comment of é, € and 🎫 (two, three and four bytes) after the document.
    const comment = encodeURIComponent('# é € 🎫');
    expect(await get(`?query=%7B__typename%7D${comment}%0A`)).toEqual({
      status: 200,
      body: { data: { __typename: 'Query' } },
    });
    // The same characters in the document are read as themselves, not as U+FFFD.
    const parsed = await get(`?query=${encodeURIComponent('{ é }')}`);
    expect(parsed.status).toBe(400);
    expect(parsed.body.errors?.[0]?.message).toContain('U+00E9');
  });

  it('reads `+` and `%20` as a space, and `%2B` as a plus, as before', async () => {
    for (const search of ['?query=%7B+__typename+%7D', '?query=%7B%20__typename%20%7D']) {
      expect(await get(search)).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
    }
    const plus = await get('?query=%7B%2B%7D');
    expect(plus.body.errors?.[0]?.message).toContain('Unexpected character: "+"');
  });
});

describe('a variable that does not coerce', () => {
  const uploadScans =
    'mutation Upload($scans: [OfflineScanInput!]!) { uploadCheckIns(eventId: "e", scans: $scans) { index } }';
  const signUpDocument =
    'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken } }';
  const password = 'a secret passphrase, not to be echoed';

  it.each([
    [
      'an unknown field',
      { role: 'ADMIN', accountType: 'CUSTOMER' },
      'input',
      'Variable "$input" got an invalid value: Field "role" is not defined by type "SignUpInput".',
    ],
    [
      'a wrong enum value',
      { accountType: 'ADMIN' },
      'input.accountType',
      'Variable "$input" got an invalid value at "input.accountType": Value "ADMIN" does not exist in "AccountType" enum.',
    ],
  ])(
    'with %s is named without echoing the rest, password included',
    async (_, changes, field, message) => {
      const result = await supergraph.request(signUpDocument, {
        input: { email: 'echo@example.com', password, name: 'Echo', ...changes },
      });
      expect(result.status).toBe(400);
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(result.errors?.[0]?.message).toBe(message);
      expect(JSON.stringify(result)).not.toContain(password);
    },
  );

  it('of 500 KB is not echoed back', async () => {
    const result = await supergraph.request(countEvents, { first: 'x'.repeat(500_000) });
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(result.errors?.[0]?.message).toBe(
      `Variable "$first" got an invalid value: Int cannot represent non-integer value: "${'x'.repeat(40)}…"`,
    );
    expect(JSON.stringify(result).length).toBeLessThan(1_000);
  });

  it('in every item of a long list is answered with one short error, not one an item', async () => {
    // The gateway checked every item and answered each with an error of its own: 800 KB of
    // `1,` (within NGINX's 1 MB) held the gateway's only thread for some 20 s, and its answer
    // was 86 MB.
    const scans = `[${Array.from({ length: 20_000 }, () => '1').join(',')}]`;
    const result = await postRaw(
      `{"query":${JSON.stringify(uploadScans)},"variables":{"scans":${scans}}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors?.[0]?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'scans[0]',
    });
    expect(result.body.errors?.[0]?.message).toBe(
      'Variable "$scans" got an invalid value at "scans[0]": Expected type "OfflineScanInput" to be an object. More than 50 values are invalid; only the first is named.',
    );
  });

  it('in a few items of a list is an error for each', async () => {
    const result = await postRaw(
      `{"query":${JSON.stringify(uploadScans)},"variables":{"scans":[1,{"token":"t","scannedAt":"2027-01-01T00:00:00Z"},2]}}`,
    );
    expect(result.status).toBe(400);
    expect(result.body.errors?.map((error) => error.extensions?.field)).toEqual([
      'scans[0]',
      'scans[2]',
    ]);
  });

  it('whose value holds what reads as a path is named by its real path', async () => {
    // graphql-js prints an object's keys unquoted: this one read as the path `input.email`.
    const result = await supergraph.request(signUpDocument, {
      input: { email: 'echo@example.com', password, name: 'Echo', 'x at "input.email"': 1 },
    });
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input' });
  });
});

describe('in production, a misspelt input field', () => {
  // graphql-armor's suggestion mask rewrote the message before the gateway wrote it again
  // without the value: in production only, the whole variable was echoed, password included,
  // and every suggestion became "[Suggestion hidden]?".
  let production: RunningService;
  beforeAll(async () => {
    const secret = (name: string) => `a-production-length-${name}-secret-0123456789`;
    production = await startGateway({
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
      DRAIN_DEADLINE_MS: '0',
      WARM_UP_TIMEOUT_MS: '0',
      ...subgraphsOf(supergraph),
      USERS_SUBGRAPH_SECRET: secret('users'),
      EVENTS_SUBGRAPH_SECRET: secret('events'),
      TICKETS_SUBGRAPH_SECRET: secret('tickets'),
    });
  });
  afterAll(async () => {
    await production?.stop();
  });

  async function postToProduction(query: string, variables: Record<string, unknown> = {}) {
    const response = await fetch(production.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, text: await response.text() };
  }

  it('in a variable is named without echoing the value, password included', async () => {
    const password = 'a secret passphrase, not to be echoed';
    const result = await postToProduction(
      'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken } }',
      { input: { emial: 'echo@example.com', password, name: 'Echo', accountType: 'CUSTOMER' } },
    );
    expect(result.status).toBe(400);
    // With the missing `email`, which is an error of its own.
    expect(JSON.parse(result.text).errors).toContainEqual({
      message:
        'Variable "$input" got an invalid value: Field "emial" is not defined by type "SignUpInput".',
      locations: [{ line: 1, column: 17 }],
      extensions: { code: 'BAD_USER_INPUT', field: 'input' },
    });
    expect(result.text).not.toContain(password);
    expect(result.text).not.toMatch(/did you mean|suggestion/i);
  });

  it.each([
    ['in a literal', '{ events(first: 1, filter: { serch: "x" }) { totalCount } }'],
    ['in a type name', 'query($f: EvntFilter) { events(first: 1, filter: $f) { totalCount } }'],
  ])('%s suggests nothing, and says so in plain words', async (_, query) => {
    const result = await postToProduction(query);
    expect(result.status).toBe(400);
    expect(result.text).not.toMatch(/did you mean|suggestion|search|EventFilter"?,/i);
    for (const error of JSON.parse(result.text).errors) {
      expect(error.message).toMatch(/\.$/);
    }
  });
});

describe('a literal that does not coerce', () => {
  // graphql-js refuses these in validation, with no field and the code
  // GRAPHQL_VALIDATION_FAILED: as written in a variable, they are BAD_USER_INPUT naming it.
  const signUp = (input: string) => `mutation { signUp(input: { ${input} }) { accessToken } }`;
  const scan = '{ token: "t", scannedAt: "2027-01-01T00:00:00Z" }';
  const valid = 'email: "literal@example.com", password: "a long enough passphrase"';

  it.each([
    [
      'an Int past 32 bits',
      'mutation { purchaseTickets(input: { tierId: "t", quantity: 2147483648, idempotencyKey: "k" }) { id } }',
      'input.quantity',
    ],
    ['a string for an Int', '{ events(first: "ten") { totalCount } }', 'first'],
    ['a number for a String', signUp(`${valid}, name: 5`), 'input.name'],
    [
      'an unknown enum value',
      signUp(`${valid}, name: "N", accountType: ADMIN`),
      'input.accountType',
    ],
    ['an unknown input field', signUp(`${valid}, name: "N", role: ADMIN`), 'input.role'],
    ['a missing required input field', signUp(valid), 'input.name'],
    [
      'a number for a String inside a list',
      `mutation { uploadCheckIns(eventId: "e", scans: [${scan}, { token: 5, scannedAt: "2027-01-01T00:00:00Z" }]) { index } }`,
      'scans[1].token',
    ],
  ])('as %s is BAD_USER_INPUT naming it, and writes nothing', async (_, query, field) => {
    const result = await supergraph.request(query);
    expect(result.status).toBe(400);
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(result.data).toBeUndefined();
  });

  it('keeps its message short whatever the literal’s length', async () => {
    const result = await supergraph.request(signUp(`${valid}, name: ["${'x'.repeat(5_000)}"]`));
    expect(result.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.name' });
    expect(JSON.stringify(result).length).toBeLessThan(1_000);
  });
});

describe('a request the HTTP parser cannot read', () => {
  /**
   * Sends `head` as it is, after `answered` requests answered on the same connection (as
   * NGINX reuses its connections to a gateway), and returns the last answer, read until the
   * gateway closes the connection.
   */
  async function exchange(head: string, answered: number): Promise<string> {
    const { hostname, port } = new URL(supergraph.gatewayUrls[0] as string);
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
    });
    for (let request = 0; request < answered; request++) {
      socket.write('GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n');
      while (received.split('{"status":"ok"}').length <= request + 1) await once(socket, 'data');
    }
    const before = received.length;
    socket.end(head);
    await once(socket, 'close', { signal: AbortSignal.timeout(5_000) });
    return received.slice(before);
  }

  // Node answered these with a bare status line, no body and no code.
  it.each([
    ['a header name with a space', 'x bad: 1\r\n', 400, 'BAD_REQUEST', 0],
    ['headers over 16 KiB', `x-padding: ${'a'.repeat(17_000)}\r\n`, 431, 'HEADERS_TOO_LARGE', 0],
    [
      'headers over 16 KiB, on a connection that served a request',
      `x-padding: ${'a'.repeat(17_000)}\r\n`,
      431,
      'HEADERS_TOO_LARGE',
      2,
    ],
  ])('%s is answered in JSON with a code', async (_, header, status, code, answered) => {
    const answer = await exchange(`POST /graphql HTTP/1.1\r\nhost: x\r\n${header}\r\n`, answered);
    const [head = '', body] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(head).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(body ?? '').errors[0].extensions).toEqual({ code });
  });
});

describe('a path nothing serves', () => {
  // NGINX sends `/explorer/…` on to a gateway (and `/explorer` itself, which a production
  // gateway does not serve): Express answered those with an HTML page.
  it.each(['/explorer/nothing-here', '/explorer/assets/nothing.js/x', '/nothing-here'])(
    '%s is JSON with NOT_FOUND, as NGINX answers, never an HTML page',
    async (path) => {
      const response = await fetch(new URL(path, supergraph.gatewayUrls[0]));
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toEqual({
        errors: [{ message: 'Nothing is served at this path.', extensions: { code: 'NOT_FOUND' } }],
      });
    },
  );

  it('beside the explorer, still served outside production', async () => {
    const response = await fetch(new URL('/explorer', supergraph.gatewayUrls[0]));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
