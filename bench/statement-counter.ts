// Counts the SQL statements that reach PostgreSQL, by standing between the services and the
// server as a TCP relay that reads the client side of the wire protocol. It counts what the
// database is asked to run, whatever library sent it, and needs nothing from the services
// (no logging flag, no pg_stat_statements, which needs a server restart to load). Bytes go
// through unchanged; only a copy is read.
//
// Protocol 3.0, frontend messages: after the untyped start-up packet, each message is a type
// byte and a length. A statement runs on a simple Query ('Q') or on an Execute ('E') of a
// portal bound ('B') from a statement parsed ('P') earlier, perhaps unnamed.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CountedStatement {
  /** The database the connection opened. */
  database: string;
  sql: string;
}

export interface StatementCounter {
  /** `databaseUrl` with its host and port replaced by the counter's. */
  urlFor(databaseUrl: string): string;
  /** Every statement since the last `reset`, in arrival order. */
  readonly statements: readonly CountedStatement[];
  reset(): void;
  stop(): Promise<void>;
}

const sslRequestCode = 80_877_103;
const gssEncRequestCode = 80_877_104;
const cancelRequestCode = 80_877_102;

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
function cString(buffer: Buffer, offset: number): [string, number] {
  const end = buffer.indexOf(0, offset);
  return [buffer.toString('utf8', offset, end), end + 1];
}

/** Follows one client connection's messages and reports each statement it runs. */
function frontendReader(onStatement: (statement: CountedStatement) => void) {
  let pending: Buffer = Buffer.alloc(0);
  let started = false;
  let database = '';
  const parsed = new Map<string, string>();
  const portals = new Map<string, string>();

  const startup = (message: Buffer) => {
    const code = message.readInt32BE(4);
    // SSL and GSS negotiation come before the real start-up packet; a cancel request
    // opens a connection of its own and ends it.
    if (code === sslRequestCode || code === gssEncRequestCode || code === cancelRequestCode) {
      return;
    }
    const parameters = new Map<string, string>();
    let offset = 8;
    while (offset < message.length && message[offset] !== 0) {
      const [key, afterKey] = cString(message, offset);
      const [value, afterValue] = cString(message, afterKey);
      parameters.set(key, value);
      offset = afterValue;
    }
    database = parameters.get('database') ?? parameters.get('user') ?? '';
    started = true;
  };

  const typed = (type: string, message: Buffer) => {
    switch (type) {
      case 'Q':
        onStatement({ database, sql: cString(message, 5)[0] });
        break;
      case 'P': {
        const [name, afterName] = cString(message, 5);
        parsed.set(name, cString(message, afterName)[0]);
        break;
      }
      case 'B': {
        const [portal, afterPortal] = cString(message, 5);
        const [statement] = cString(message, afterPortal);
        portals.set(portal, parsed.get(statement) ?? '');
        break;
      }
      case 'E':
        onStatement({ database, sql: portals.get(cString(message, 5)[0]) ?? '' });
        break;
    }
  };

  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (!started) {
        if (pending.length < 8) return;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return;
        startup(pending.subarray(0, length));
        pending = pending.subarray(length);
      } else {
        if (pending.length < 5) return;
        const length = 1 + pending.readInt32BE(1);
        if (pending.length < length) return;
        typed(String.fromCharCode(pending[0] as number), pending.subarray(0, length));
        pending = pending.subarray(length);
      }
    }
  };
}

/** Starts a counting relay on a free loopback port in front of `target` (host and port). */
export async function startStatementCounter(target: {
  host: string;
  port: number;
}): Promise<StatementCounter> {
  let statements: CountedStatement[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const read = frontendReader((statement) => statements.push(statement));
    client.on('data', (chunk: Buffer) => {
      read(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('No port was assigned');
  return {
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(address.port);
      return url.toString();
    },
    get statements() {
      return statements;
    },
    reset() {
      statements = [];
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
