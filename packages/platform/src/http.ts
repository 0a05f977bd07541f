import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex, Transform } from 'node:stream';
import { format, MIMEType } from 'node:util';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type {
  ApolloServer,
  ApolloServerPlugin,
  BaseContext,
  ContextFunction,
} from '@apollo/server';
import { type ExpressContextFunctionArgument, expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { pinoHttp } from 'pino-http';
import getRawBody from 'raw-body';
import { z } from 'zod';
import { baseSettings, ConfigurationError, millisecondsSetting } from './config.ts';
import { drainOnStop, type HttpDrainer } from './drain.ts';
import { createLogger, cutForLog, cutPathForLog, type Logger } from './logger.ts';
import { requestMetricsPlugin, serveMetrics } from './metrics.ts';
import {
  isOperationalPath,
  requestIdFrom,
  requestIdHeader,
  runWithRequestId,
} from './request-context.ts';
import { shutdownTelemetry, tracingPlugins } from './telemetry.ts';

/**
 * Far longer than the idle timeout of the proxy in front (NGINX keeps idle upstream
 * connections 4 s), so that the proxy, never Node, closes an idle keep-alive connection,
 * and no request is sent on a socket Node has just closed.
 */
const keepAliveTimeoutMs = 75_000;

/** How a service stops; part of every service's settings (subgraphs' and gateways'). */
export const shutdownSettings = z.object({
  /**
   * How long a stopping service waits for the connections it has to close (see drain.ts).
   * Longer than NGINX's upstream `keepalive_timeout` (4 s), so that NGINX closes its idle
   * pooled connections itself, with room for in-flight requests; shorter than the 10 s
   * after which the local runner and Docker send SIGKILL. 0 closes them at once, for
   * services run in-process by tests, with no proxy in front.
   */
  DRAIN_DEADLINE_MS: millisecondsSetting(8_000),
});

/** Where every service answers its probes (liveness, readiness), and its metrics. */
export const servicePaths = {
  live: '/health/live',
  ready: '/health/ready',
  metrics: '/metrics',
} as const;

export interface ServeOptions<TContext extends BaseContext> {
  /** The service's name, for logs and the readiness message. */
  name: string;
  host: string;
  port: number;
  logger: Logger;
  /**
   * Builds the Apollo Server with the given plugins (one drains the HTTP server on stop),
   * with `stopOnTerminationSignals: false`: the service, not Apollo, handles SIGTERM.
   */
  createApolloServer(plugins: ApolloServerPlugin<TContext>[]): ApolloServer<TContext>;
  context: ContextFunction<[ExpressContextFunctionArgument], TContext>;
  /**
   * Set when the Apollo Server's `formatError` logs each error it masks itself (the
   * gateway's does, naming the subgraph): no error is then logged here a second time.
   */
  formatErrorLogsMasked?: boolean;
  /** Throws when the service cannot serve requests (e.g. its database is unreachable). */
  checkReadiness?(): Promise<Record<string, unknown> | undefined>;
  /** Adds routes or middleware before the GraphQL endpoint. */
  configure?(app: express.Express): void;
  /** How long a stop waits for open connections (default: DRAIN_DEADLINE_MS's, 8 s). */
  drainDeadlineMs?: number;
  /** Releases what the service holds (database pools) after the server stopped. */
  onStop?(): Promise<void>;
}

export interface RunningService {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Serves an Apollo Server at `/graphql`, with liveness at `/health/live`, readiness at
 * `/health/ready` and Prometheus metrics at `/metrics`. Every request gets an id (its
 * `X-Request-Id`, or a new one) that is echoed in the response and carried by every log
 * line written while it is handled. When started by the local runner it reports
 * readiness over IPC; on SIGTERM, SIGINT or SIGHUP it stops taking connections, drains
 * in-flight requests and exits.
 */
export async function serveGraphQL<TContext extends BaseContext>(
  options: ServeOptions<TContext>,
): Promise<RunningService> {
  const { logger } = options;
  const app = express();
  app.disable('x-powered-by');
  // Express's ETag names the body alone, on every answer: `etagOverMediaType` instead.
  app.set('etag', false);
  closeWhenBodyUnread(app);
  etagOverMediaType(app);
  const httpServer = createServer(
    {
      headersTimeout: headersDeadlineMs,
      // A backstop for a body no reader bounds: `readBody` answers its own first.
      requestTimeout: headersDeadlineMs + bodyDeadlineMs,
      // Node checks both deadlines every so often (30 s by default): one then came 30 s late.
      connectionsCheckingInterval: 1_000,
      // Node answered an HTTP/1.1 request without Host itself, with an empty body:
      // `requireHost` answers it as every other refusal.
      requireHostHeader: false,
    },
    app,
  );
  httpServer.on('clientError', answerUnreadableRequest);
  httpServer.on('connect', refuseTunnel);
  // A client that asks before sending its body (Expect: 100-continue) is told to send it by
  // the body's reader alone (`readBody`), once its headers passed every check: Node said so
  // before any handler ran, and the client sent a body the answer then refused (413 over
  // the limit, 405). Another expectation is ignored, as NGINX ignores it: Node answered it
  // 417, with no body.
  // Node hands such requests to these listeners instead of `request`'s: they are passed on
  // to those (the drain's mark of every answer among them), not to the app alone.
  const asRequest = (request: IncomingMessage, response: ServerResponse) =>
    httpServer.emit('request', request, response);
  httpServer.on('checkContinue', asRequest);
  httpServer.on('checkExpectation', asRequest);
  // Node counts neither deadline on an idle kept-alive connection, only from the first
  // byte of its next request: `keepAliveTimeoutMs` may be the longer.
  httpServer.keepAliveTimeout = keepAliveTimeoutMs;
  const drainer = drainOnStop(httpServer, {
    deadlineMs: options.drainDeadlineMs ?? shutdownSettings.parse({}).DRAIN_DEADLINE_MS,
    onDeadline: (open) =>
      logger.warn({ open }, 'drain deadline reached: closing the remaining connections'),
  });

  const apollo = options.createApolloServer([
    drainPlugin(drainer),
    ...(options.formatErrorLogsMasked ? [] : [logUnexpectedErrors<TContext>(logger)]),
    requestMetricsPlugin(),
    ...tracingPlugins<TContext>(),
  ]);
  await apollo.start();

  app.use(
    accessLog(logger),
    (req, res, next) => runWithRequestId(req.id as string, next, abandonment(res)),
    requireHost,
    refuseTransferCodings,
  );
  app.get(servicePaths.metrics, serveMetrics);
  app.get(servicePaths.live, (_req, res) => {
    res.json({ status: 'ok' });
  });
  const checkReadiness = sharedReadinessCheck(options.checkReadiness, logger);
  app.get(servicePaths.ready, async (_req, res) => {
    // Draining: still answering the connections a proxy holds, but to be taken out of
    // rotation (it no longer accepts connections anyway).
    if (drainer.draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    const details = await checkReadiness();
    if (details) res.json({ status: 'ready', ...details });
    else res.status(503).json({ status: 'unavailable' });
  });
  options.configure?.(app);
  app.use('/graphql', jsonBody, expressMiddleware(apollo, { context: options.context }));
  app.use(answerNotFound);
  app.use(answerHttpErrors(logger));

  httpServer.listen(options.port, options.host);
  try {
    await once(httpServer, 'listening');
  } catch (error) {
    await apollo.stop();
    throw listenFailure(error as NodeJS.ErrnoException, options);
  }
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/graphql`;

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Refuse connections and report draining from this moment on, not only once Apollo
      // reaches its drain phase (whose plugin waits for this same drain).
      void drainer.drain();
      await apollo.stop();
      await options.onStop?.();
    })();
    return stopping;
  };

  logger.info({ url }, `${options.name} ready`);
  // A runner already gone is told nothing: runService's watch on the channel ends the service.
  if (process.connected) process.send?.({ type: 'ready', service: options.name, url, port });
  return { url, port, stop };
}

/** A port or address that cannot be listened on: the operator's HOST or PORT, by name. */
function listenFailure(
  error: NodeJS.ErrnoException,
  { host, port }: { host: string; port: number },
): Error {
  const reasons: Record<string, string> = {
    EADDRINUSE: 'is already in use',
    EACCES: 'may not be used by this user',
    EADDRNOTAVAIL: 'is not an address of this machine',
    ENOTFOUND: 'is not a name this machine can resolve',
    EAI_AGAIN: 'is not a name this machine can resolve now',
  };
  const reason = error.code ? reasons[error.code] : undefined;
  if (!reason) return error;
  return new ConfigurationError(`Cannot listen on HOST ${host}, PORT ${port}: it ${reason}.`);
}

/**
 * One line a request, at debug level (LOG_LEVEL=debug shows them; the default, info, keeps
 * stdout quiet under load), or at warn for a server error. Adopts the request's id from
 * `X-Request-Id` (NGINX sets it) or makes one, and echoes it in the response. The request
 * is its method and path (`loggedPath`): no query string, header or body.
 */
function accessLog(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req, res) {
      const id = requestIdFrom(req.headers[requestIdHeader]);
      res.setHeader(requestIdHeader, id);
      return id;
    },
    autoLogging: { ignore: (req) => isOperationalPath(req.url) },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'warn' : 'debug'),
    // The id goes in the line itself, under the same key as in every other line.
    customSuccessObject: (req, _res, fields) => ({ requestId: req.id, ...fields }),
    customErrorObject: (req, _res, _error, fields) => ({ requestId: req.id, ...fields }),
    serializers: {
      req: (req: { method: string; url: string }) => ({
        method: req.method,
        url: loggedPath(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

/**
 * What an access line keeps of a request's target: its path, cut at `loggedValueLength`.
 * Never the query string: a GET's holds the operation and its variables (a password, an
 * email), and a careless client's an access token; and the target is the client's, up to
 * the 16 KiB of a request's head, on every line.
 */
function loggedPath(target: string): string {
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  return cutForLog(path);
}

/**
 * `check` shared by the probes that arrive while it runs: each gets the answer of the check
 * in flight, and the first probe after it ends starts the next, so that no answer outlives
 * its check. `/health/ready` is public through NGINX, and a gateway's check asks every
 * subgraph and Redis: a flood of probes was as many checks. Resolves with the details, or
 * undefined when the check failed. Logged when the state changes (ready, degraded, not
 * ready), with the reason, not at every check: during an outage, probes every 2 s from each
 * of several probers were some 30 lines a minute per process, all alike.
 */
function sharedReadinessCheck(
  check: ServeOptions<BaseContext>['checkReadiness'],
  logger: Logger,
): () => Promise<Record<string, unknown> | undefined> {
  let running: Promise<Record<string, unknown> | undefined> | undefined;
  // The service said it was ready when it began to listen.
  let state: 'ready' | 'degraded' | 'not ready' = 'ready';
  const run = async () => {
    try {
      const details = (await check?.()) ?? {};
      if (details.status === 'degraded') {
        if (state !== 'degraded') logger.warn({ problems: details.problems }, 'readiness degraded');
        state = 'degraded';
      } else {
        if (state !== 'ready') logger.info('ready again');
        state = 'ready';
      }
      return details;
    } catch (error) {
      if (state !== 'not ready') logger.warn({ err: error }, 'readiness check failed');
      state = 'not ready';
      return undefined;
    } finally {
      running = undefined;
    }
  };
  return () => {
    running ??= run();
    return running;
  };
}

/**
 * A GET answer of `/graphql` is negotiated by its Accept header (`application/json` or
 * `application/graphql-response+json`): one body, two media types, which Express's ETag
 * (a hash of the body alone) named alike, so that a cache revalidating one's copy with
 * If-None-Match got a 304 for the other. Its ETag is taken over its Content-Type and body;
 * Express's `send` then answers a matching If-None-Match with 304, as before. A POST answer,
 * which no client revalidates, gets none (Express's own is off, `app.set('etag', false)`).
 */
function etagOverMediaType(app: express.Express): void {
  // On the app's response prototype, as `closeWhenBodyUnread`: no layer of the router for
  // every request, and nothing for a POST but the method's check.
  const send = app.response.send;
  app.response.send = function (this: express.Response, body?: unknown) {
    const { method, originalUrl } = this.req;
    if (
      (method === 'GET' || method === 'HEAD') &&
      (typeof body === 'string' || Buffer.isBuffer(body)) &&
      originalUrl.startsWith('/graphql') &&
      !this.get('ETag')
    ) {
      const hash = createHash('sha1')
        .update(this.get('Content-Type') ?? '')
        .update('\n')
        .update(body)
        .digest('base64url');
      this.set('ETag', `W/"${hash}"`);
    }
    return send.call(this, body);
  };
}

/** Aborted when `response`'s connection closes before the response was sent in full. */
function abandonment(response: ServerResponse): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * The deepest a request's JSON may nest: the body's own levels included, ample for any
 * input of the schema (the deepest, `{variables: {input: {…}}}`, takes four or five). The
 * servers' code walks values recursively (Apollo's variable coercion, the response cache's
 * key, JSON.stringify): twenty kilobytes of `[` would overflow the stack, a server error
 * for what is the client's.
 */
export const maxJsonDepth = 32;

/**
 * Whether `value` nests deeper than `maxDepth` levels (`value` itself is level 1), and if so
 * the first keys (at most two) on the way to the first such place. Walks with a stack of
 * its own, not recursion, so that no depth overflows it.
 */
function tooDeeplyNested(value: unknown, maxDepth: number): string[] | undefined {
  const pending: { value: unknown; depth: number; keys: string[] }[] = [
    { value, depth: 1, keys: [] },
  ];
  for (let item = pending.pop(); item; item = pending.pop()) {
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.depth > maxDepth) return item.keys;
    for (const [key, child] of Object.entries(item.value)) {
      if (typeof child !== 'object' || child === null) continue;
      const keys = item.keys.length < 2 ? [...item.keys, key] : item.keys;
      pending.push({ value: child, depth: item.depth + 1, keys });
    }
  }
  return undefined;
}

/**
 * A GET request's search parameters as Apollo Server reads them: every one, with
 * URLSearchParams. Express's `request.query` reads the first 1,000 (node:querystring's
 * default), so a check that read it never saw what a client put after 1,000 others, and
 * Apollo ran it unchecked. Apollo refuses a name given twice itself: `get` (the first) is
 * what a check needs.
 */
export function searchParametersOf(request: { url: string }): URLSearchParams {
  return new URLSearchParams(queryStringOf(request));
}

/**
 * What follows the first `?` up to a `#`, as Apollo's Express integration takes it
 * (`url.parse`), and never an error, whatever the request line holds.
 */
function queryStringOf(request: { url: string }): string {
  return /^[^#?]*\?([^#]*)/.exec(request.url)?.[1] ?? '';
}

/** A GET request's JSON parameters, parsed as Apollo Server parses them; unparsable ones skipped. */
function jsonParameters(search: URLSearchParams): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  for (const name of ['variables', 'extensions']) {
    const text = search.get(name);
    if (text === null) continue;
    try {
      parameters[name] = JSON.parse(text);
    } catch {
      // Apollo Server answers that one itself, with 400.
    }
  }
  return parameters;
}

/**
 * Refuses a request whose JSON (the POST body, or a GET's `variables` and `extensions`)
 * nests deeper than `maxJsonDepth`, with HTTP 400: `BAD_USER_INPUT` naming the variable,
 * or `BAD_REQUEST` for the rest of the request.
 */
const limitJsonDepth: express.RequestHandler = (request, response, next) => {
  const json =
    request.method === 'GET' ? jsonParameters(searchParametersOf(request)) : request.body;
  const keys = tooDeeplyNested(json, maxJsonDepth);
  if (!keys) {
    next();
    return;
  }
  const [section, variable] = keys;
  const message = `The request's JSON nests deeper than ${maxJsonDepth} levels`;
  const error =
    section === 'variables' && variable !== undefined
      ? {
          message: `${message}, in the variable \`${variable}\`.`,
          extensions: { code: 'BAD_USER_INPUT', field: variable },
        }
      : { message: `${message}.`, extensions: { code: 'BAD_REQUEST' } };
  response.status(400).json({ errors: [error] });
};

/**
 * A refusal of a request's body or head, answered through `bodyFailures` by its `type`, with
 * `message` instead of the type's own when given (one that names what the client sent).
 */
function bodyFailure(type: string, status: number, message?: string): Error {
  return Object.assign(new Error(type), {
    type,
    status,
    expose: true,
    ...(message ? { publicMessage: message } : {}),
  });
}

/**
 * JSON between systems is UTF-8 (RFC 8259, 8.1). body-parser took any `utf-*` charset (UTF-7
 * too), and a decoder reads bytes that are not UTF-8 (a stray 0xFF, an overlong `/`) as
 * U+FFFD, so that two different passwords or idempotency keys would arrive as one: another
 * charset is refused by the headers (`readBody`), such bytes before the body is decoded. A
 * byte order mark is allowed (the decoder drops it).
 */
function requireUtf8(body: Buffer) {
  if (!isUtf8(body)) throw bodyFailure('entity.invalid.utf8', 400);
}

/**
 * A GET request's query string must be UTF-8 too, once its percent-escapes are decoded:
 * URLSearchParams (which Apollo Server reads it with) reads bytes that are not (`%FF`, an
 * overlong `%C0%AF`) as U+FFFD, as body-parser did a body's. Every parameter is checked,
 * names included, whether Apollo reads it or not. Each run of escapes on its own: what is
 * around one (`&`, `=`, `+`, characters written as they are) starts and ends whole
 * characters, so it never makes the run's bytes valid or invalid.
 */
const requireUtf8Parameters: express.RequestHandler = (request, _response, next) => {
  if (request.method === 'GET') {
    for (const [run] of queryStringOf(request).matchAll(/(?:%[0-9A-Fa-f]{2})+/g)) {
      if (!isUtf8(Buffer.from(run.replaceAll('%', ''), 'hex'))) {
        next(bodyFailure('parameters.invalid.utf8', 400));
        return;
      }
    }
  }
  next();
};

/** The largest request body any GraphQL endpoint reads (1 MB, as NGINX's `client_max_body_size`). */
export const maxBodyBytes = 2 ** 20;

/**
 * Refuses a body whose Content-Length is over `limit` at once, with 413, before a byte of it
 * is read: a client that declared more than it sends would otherwise hold the connection
 * until it timed out. The answer closes the connection (`closeWhenBodyUnread`).
 */
export function refuseDeclaredOver(limit: number): express.RequestHandler {
  return (request, _response, next) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    next(declared > limit ? bodyFailure('entity.too.large', 413) : undefined);
  };
}

/** The Content-Encodings a body is read in (body-parser's), each with its decoder. */
const decoders: Record<string, () => Transform> = {
  gzip: createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

export interface BodyReading {
  /** Parsed as JSON (`req.body`, a UTF-8 object or array), or kept as its bytes (a Buffer). */
  read: 'json' | 'raw';
  /** The most bytes read, once inflated: 413 past it. */
  limit: number;
  /** Given the bytes as they arrived (inflated), before they are parsed; throws to refuse. */
  verify?(request: express.Request, body: Buffer): void;
}

/**
 * Reads an `application/json` body, within `limit` bytes once inflated, and leaves every
 * other body to the next handler (Apollo refuses it without reading it). body-parser did
 * this, but read the rest of a body it refused (over the limit, corrupt) to its end before
 * answering: a chunked body, whose length no header declares, crossed the limit only as it
 * arrived, and a client trickling an endless one held the connection for ever. A refusal
 * here is answered at once, and the connection closed after it (`closeWhenBodyUnread`).
 * What the headers alone refuse (an encoding or charset no one reads) is refused before a
 * byte is read.
 */
export function readBody({ read, limit, verify }: BodyReading): express.RequestHandler {
  return (request, response, next) => {
    // Express answers `'body' in req` with false until a parser has run: Apollo's middleware
    // then takes the app for misconfigured (a 500).
    if (!Reflect.has(request, 'body')) request.body = undefined;
    if (bodiesRead.has(request) || !hasBody(request) || !request.is('application/json')) {
      next();
      return;
    }
    if (read === 'json' && !/^utf-?8$/i.test(charsetOf(request))) {
      next(bodyFailure('charset.unsupported', 415));
      return;
    }
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const decoder = encoding === 'identity' ? undefined : decoders[encoding];
    if (encoding !== 'identity' && !decoder) {
      next(bodyFailure('encoding.unsupported', 415));
      return;
    }
    bodiesRead.add(request);
    if (/\b100-continue\b/i.test(request.headers.expect ?? '')) response.writeContinue();
    const inflating = decoder?.();
    const length = inflating ? undefined : request.headers['content-length'];
    const stream = inflating ? request.pipe(inflating) : request;
    // One answer, whichever comes first: the body, its refusal, or the wait's end (the
    // reader's own callback then comes once the connection is closed, and is dropped).
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      clearTimeout(deadline);
      request.off('data', arrived);
      next(error);
    };
    const idle = setTimeout(() => settle(bodyFailure('request.timeout', 408)), bodyIdleTimeoutMs);
    const deadline = setTimeout(() => settle(bodyFailure('request.timeout', 408)), bodyDeadlineMs);
    const arrived = () => idle.refresh();
    request.on('data', arrived);
    getRawBody(stream, { limit, ...(length ? { length } : {}) }, (error, body) => {
      if (inflating) {
        request.unpipe(inflating);
        inflating.destroy();
      }
      if (error) {
        settle(
          (error as { type?: string }).type === 'entity.too.large'
            ? bodyFailure('entity.too.large', 413)
            : bodyFailure('entity.unreadable', 400),
        );
        return;
      }
      // What an inflated body left unread, or what came after the limit, is Node's to drop.
      if (inflating) request.resume();
      if (settled) return;
      try {
        verify?.(request, body);
        if (read === 'json') requireUtf8(body);
        request.body = read === 'json' ? parseJsonBody(body) : body;
      } catch (failure) {
        settle(failure);
        return;
      }
      settle();
    });
  };
}

/**
 * How long a body's reader waits for its next byte before answering 408 and closing the
 * connection: NGINX's `client_body_timeout` at the edge. NGINX buffers a body before a
 * gateway sees it, but nothing does for a subgraph or the relay's deliveries, where a client
 * that declared more than it sent held the connection until Node's `requestTimeout` (300 s).
 */
export const bodyIdleTimeoutMs = 10_000;

/**
 * How long a body's reader waits for the whole body, from its request's head (the reader
 * starts as the head is read), before answering 408 and closing the connection. A byte every
 * few seconds kept `bodyIdleTimeoutMs` from firing, and held the connection up to Node's
 * `requestTimeout` (300 s). 30 s is a megabyte (`maxBodyBytes`) at some 35 KB/s: ample for
 * any client, and NGINX, which buffers a gateway's bodies, sends each at once.
 */
export const bodyDeadlineMs = 30_000;

/**
 * How long a request's head may take to arrive, from its first byte (Node's `headersTimeout`,
 * checked every second), before it is answered 408 and the connection closed: NGINX's
 * `client_header_timeout` at the edge. It was 76 s, for a head trickled a byte at a time.
 */
export const headersDeadlineMs = 10_000;

/** Whether `request` has a body to read, empty or not (a Content-Length, or chunks). */
function hasBody(request: IncomingMessage): boolean {
  return (
    request.headers['transfer-encoding'] !== undefined ||
    request.headers['content-length'] !== undefined
  );
}

/** Requests whose body `readBody` has read (or is reading): a second reader lets them be. */
const bodiesRead = new WeakSet<object>();

/** The charset a request's Content-Type names, `utf-8` when it names none. */
function charsetOf(request: express.Request): string {
  try {
    return new MIMEType(request.headers['content-type'] ?? '').params.get('charset') ?? 'utf-8';
  } catch {
    return 'unreadable';
  }
}

/** Decodes whole bodies (not a stream: no state is kept between calls), dropping a BOM. */
const utf8 = new TextDecoder();

/**
 * A body as body-parser's `strict` JSON parser read it: an object or an array (an empty body,
 * an empty object), a byte order mark dropped.
 */
function parseJsonBody(body: Buffer): unknown {
  const text = utf8.decode(body);
  if (text.trim() === '') return {};
  if (!/^[\s]*[[{]/.test(text)) throw bodyFailure('entity.parse.failed', 400);
  try {
    return JSON.parse(text);
  } catch {
    throw bodyFailure('entity.parse.failed', 400);
  }
}

/** Whom `/graphql` answers: GraphQL over HTTP's methods, with HEAD and OPTIONS as before. */
const graphqlMethods = new Set(['GET', 'HEAD', 'POST', 'OPTIONS']);

/**
 * Refuses a method `/graphql` does not take (PUT, PATCH, DELETE…) with 405 and `Allow`, by
 * its request line alone. Apollo Server refused it too, but only after the body had been
 * read and parsed, and in a shape of its own.
 */
const refuseOtherMethods: express.RequestHandler = (request, response, next) => {
  if (graphqlMethods.has(request.method)) {
    next();
    return;
  }
  response.setHeader('Allow', 'GET, POST');
  next(bodyFailure('method.not.allowed', 405));
};

/**
 * Refuses a GET (or HEAD) with a body, by its headers: a GraphQL GET request is its query
 * string, and its body was read and parsed (a 400 for one that was not JSON) for nothing.
 * An empty one (`Content-Length: 0`) is no body.
 */
const refuseBodyOnGet: express.RequestHandler = (request, _response, next) => {
  const withBody =
    request.headers['transfer-encoding'] !== undefined ||
    Number(request.headers['content-length'] ?? 0) > 0;
  next(
    withBody && (request.method === 'GET' || request.method === 'HEAD')
      ? bodyFailure('entity.unexpected', 400, `A ${request.method} request has no body.`)
      : undefined,
  );
};

/**
 * Refuses an HTTP/1.1 request without a Host header with 400 (RFC 9112 §3.2), in JSON.
 * HTTP/1.0 had none.
 */
const requireHost: express.RequestHandler = (request, _response, next) => {
  const needsHost = request.httpVersionMajor === 1 && request.httpVersionMinor === 1;
  next(
    needsHost && request.headers.host === undefined ? bodyFailure('host.missing', 400) : undefined,
  );
};

/**
 * Refuses a request whose Transfer-Encoding is other than `chunked` alone (`gzip, chunked`,
 * or `gzip` and `chunked` in two header lines), with 501 naming the coding, as NGINX does at
 * the edge, before a byte is read (RFC 9112 §6.1). Node reads the chunks and hands on what
 * they hold, still in the other coding: a JSON body was then refused as "not valid UTF-8",
 * or read as it was, the coding ignored.
 */
const refuseTransferCodings: express.RequestHandler = (request, _response, next) => {
  const header = request.headers['transfer-encoding'];
  if (header === undefined || header.trim().toLowerCase() === 'chunked') {
    next();
    return;
  }
  const unknown =
    header
      .toLowerCase()
      .split(',')
      .map((coding) => coding.trim())
      .find((coding) => coding !== '' && coding !== 'chunked') ?? 'chunked';
  next(
    bodyFailure(
      'transfer.unsupported',
      501,
      `The transfer coding \`${unknown.slice(0, 40)}\` is not supported: send the body with a Content-Length, or chunked.`,
    ),
  );
};

/**
 * The JSON body reader of every GraphQL endpoint, with its bound on nesting, and the same
 * check of a GET request's parameters; a service may run it earlier itself.
 */
export const jsonBody = [
  refuseOtherMethods,
  refuseBodyOnGet,
  refuseDeclaredOver(maxBodyBytes),
  readBody({ read: 'json', limit: maxBodyBytes }),
  requireUtf8Parameters,
  limitJsonDepth,
];

/** What the refusals of a request's body or head mean to a client (`type` → status and code). */
const bodyFailures: Record<string, { status: number; code: string; message: string }> = {
  'entity.parse.failed': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request body is not valid JSON.',
  },
  'entity.invalid.utf8': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request body is not valid UTF-8.',
  },
  'parameters.invalid.utf8': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request’s query string is not valid UTF-8.',
  },
  'entity.unreadable': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request body could not be read.',
  },
  'entity.unexpected': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'A GET request has no body.',
  },
  'request.timeout': {
    status: 408,
    code: 'REQUEST_TIMEOUT',
    message: 'The request was not received in time.',
  },
  'method.not.allowed': {
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    message: 'This method is not allowed here.',
  },
  'host.missing': {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request must name its Host (a Host header, required in HTTP/1.1).',
  },
  'transfer.unsupported': {
    status: 501,
    code: 'BAD_REQUEST',
    message:
      'This Transfer-Encoding is not supported: send the body with a Content-Length, or chunked.',
  },
  'entity.too.large': {
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'The request body is too large.',
  },
  'encoding.unsupported': {
    status: 415,
    code: 'BAD_REQUEST',
    message: 'The request body’s encoding is not supported.',
  },
  'charset.unsupported': {
    status: 415,
    code: 'BAD_REQUEST',
    message: 'The request body’s charset is not supported.',
  },
};

/**
 * Answers a path nothing serves as NGINX does (the `$edge_error` map): JSON, 404, NOT_FOUND.
 * Express's own answer is an HTML page, which NGINX passes on for the paths it sends here
 * (`/explorer/…`, and `/explorer` itself in production, where no explorer is served).
 */
const answerNotFound: express.RequestHandler = (_request, response) => {
  response.status(404).json({
    errors: [{ message: 'Nothing is served at this path.', extensions: { code: 'NOT_FOUND' } }],
  });
};

/**
 * Answers what fails before GraphQL (a malformed or over-large body, a bug in a
 * middleware) as GraphQL over HTTP does: a JSON body with `errors`, a stable code and no
 * stack trace or server path, in every NODE_ENV. Express's own handler sends an HTML page
 * with the stack outside production. An error once the answer began (a stream that broke)
 * ends its connection, as Express's handler does, and is logged here: that handler printed
 * its stack to the console, outside the log, unless NODE_ENV was `test`.
 */
function answerHttpErrors(logger: Logger): express.ErrorRequestHandler {
  return (
    error: { type?: string; status?: number; publicMessage?: string },
    request,
    response,
    _next,
  ) => {
    if (response.headersSent) {
      const clientStatus = error.status && error.status >= 400 && error.status < 500;
      if (!clientStatus) logger.error({ err: error }, 'request failed after its answer began');
      request.socket.destroy();
      return;
    }
    const failure = error.type ? bodyFailures[error.type] : undefined;
    const known =
      failure && error.publicMessage ? { ...failure, message: error.publicMessage } : failure;
    const clientStatus = error.status && error.status >= 400 && error.status < 500;
    const answer =
      known ??
      (clientStatus
        ? {
            status: error.status as number,
            code: 'BAD_REQUEST',
            message: 'The request is malformed.',
          }
        : { status: 500, code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' });
    // A refusal of the client's request is no failure of the server's, whatever its status.
    if (!known && answer.status >= 500)
      logger.error({ err: error }, 'request failed before GraphQL');
    response
      .status(answer.status)
      .type('application/json')
      .send(
        JSON.stringify({
          errors: [{ message: answer.message, extensions: { code: answer.code } }],
        }),
      );
  };
}

/**
 * How long a connection closed after an answer is still read (and what arrives dropped)
 * before it is let go: closing while the peer still sends the rest of its request would
 * reset the connection, and could lose the answer with it (NGINX's lingering close).
 */
const lingerMs = 1_000;

/** Ends `socket` after what was written to it, reads what still comes for `lingerMs`, then closes it. */
function closeLingering(socket: Duplex): void {
  socket.end();
  setTimeout(() => socket.destroy(), lingerMs).unref();
}

/** Whether `request` has a body (a positive Content-Length, or chunks) not yet all read. */
function bodyUnread(request: IncomingMessage): boolean {
  if (request.complete) return false;
  return (
    request.headers['transfer-encoding'] !== undefined ||
    Number(request.headers['content-length'] ?? 0) > 0
  );
}

/**
 * An answer written before its request's body has all arrived (a refusal by the headers
 * alone: a Content-Length over the limit, a content type or method no one reads, a missing
 * signature, a rate limit) says `Connection: close`, and the connection is closed after it
 * (RFC 9112 §9.6). Node would otherwise discard the rest of the body as it came and keep the
 * connection: a client that declares more than it sends, or sends it slowly, held it, and
 * NGINX's pooled upstream connection with it. Every answer is written through here, whoever
 * writes it. An answer to a request without a body, or once its body was read, keeps the
 * connection.
 */
function closeWhenBodyUnread(app: express.Express): void {
  // Node parses a request without a body whole before any handler runs, but one with a body
  // only after its head is handled: one answered at once (even on a body that came with its
  // head) is closed, never one that had no body. On the app's response prototype, which
  // every response of the app has (Express sets it before any handler runs): a method of
  // each response instead would cost every request, hit or miss, a closure and a change of
  // its shape.
  const writeHead = app.response.writeHead as (...given: unknown[]) => ServerResponse;
  app.response.writeHead = function (this: express.Response, ...args: unknown[]) {
    if (!this.headersSent && bodyUnread(this.req)) {
      this.setHeader('Connection', 'close');
      const socket = this.socket as (Duplex & { destroySoon?: () => void }) | null;
      // What Node calls on a connection to close after the answer: it lingers instead.
      if (socket) socket.destroySoon = () => closeLingering(socket);
    }
    return writeHead.apply(this, args);
  } as express.Response['writeHead'];
}

/** What Node's HTTP parser refuses before any handler runs, as NGINX names the same refusals. */
const unreadableRequests: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'HEADERS_TOO_LARGE',
    message: 'The request headers are too large.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'REQUEST_TIMEOUT',
    message: 'The request was not received in time.',
  },
};

/** Sockets answered by `answerUnreadableRequest`, which their peer may still be writing to. */
const answeredUnreadable = new WeakSet<Duplex>();

/**
 * Answers a request Node's parser could not read (headers over its 16 KiB, a malformed
 * line, a timeout) in the shape of every other refusal: JSON with a stable code, as NGINX's
 * own answers are. Node's default is a bare status line, which NGINX passes on to the client
 * for the headers it takes itself and a gateway does not (NGINX takes up to 32 KB).
 */
function answerUnreadableRequest(error: NodeJS.ErrnoException, socket: Duplex): void {
  // The parser reports each chunk that arrives after the error too: the answer is on its way.
  if (answeredUnreadable.has(socket)) return;
  // Nothing to answer on a connection that is gone, or where an answer has begun (Node's own
  // rule: the response attached to the socket, if any, has sent its headers). A connection
  // that served requests before (NGINX reuses them) is still answered.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, code, message } = (error.code && unreadableRequests[error.code]) || {
    status: 400,
    code: 'BAD_REQUEST',
    message: 'The request is malformed.',
  };
  answeredUnreadable.add(socket);
  answerOnSocket(socket, status, code, message);
}

/**
 * Writes an answer in JSON straight to `socket`, where no response object exists (Node's
 * parser refused the request, or handed the socket over), and closes it lingering.
 */
function answerOnSocket(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers = '',
): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      headers +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
  closeLingering(socket);
}

/**
 * Answers CONNECT (a tunnel, which no service offers) with 405, as `/graphql` answers a
 * method it does not take. Node hands such a request to this event's listeners alone, with
 * the socket: without one, it closed the connection without a word.
 */
function refuseTunnel(_request: IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  answerOnSocket(
    socket,
    405,
    'METHOD_NOT_ALLOWED',
    'This method is not allowed here.',
    'Allow: GET, POST\r\n',
  );
}

/** Drains the HTTP server when Apollo stops, while Apollo still executes operations. */
function drainPlugin<TContext extends BaseContext>(
  drainer: HttpDrainer,
): ApolloServerPlugin<TContext> {
  return {
    async serverWillStart() {
      return {
        async drainServer() {
          await drainer.drain();
        },
      };
    },
  };
}

/**
 * Logs errors that are not expected failures (those carry a code other than the default).
 * Apollo Server's own refusals of a request (an unsupported persisted-query version, a hash
 * that does not match its document) carry no code but a 4xx status: the client's error,
 * answered as such, and never logged with a stack that any client could have written in a
 * loop.
 */
function logUnexpectedErrors<TContext extends BaseContext>(
  logger: Logger,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, operationName }) {
          for (const error of errors) {
            const code = error.extensions?.code;
            const status = (error.extensions?.http as { status?: number } | undefined)?.status;
            if (status !== undefined && status >= 400 && status < 500) continue;
            if (code === undefined || code === 'INTERNAL_SERVER_ERROR') {
              logger.error(
                {
                  err: error.originalError ?? error,
                  // The client's: each up to a document's size, cut like an access line's path.
                  path: cutPathForLog(error.path),
                  operationName: operationName == null ? operationName : cutForLog(operationName),
                },
                'unexpected error',
              );
            }
          }
        },
      };
    },
  };
}

/**
 * Started by a runner over an IPC channel (`npm start`, scripts/topology.ts): the service
 * must not outlive it. Node closes the channel when the parent ends, however it ends (a
 * SIGKILL, a crash, its terminal gone), and the child sees `disconnect`: a pipe the kernel
 * closes needs no cooperation from the dead parent, where polling the parent's pid would
 * race with its reuse. A service started alone has no channel and ignores all this.
 */
function startedByRunner(): boolean {
  return typeof process.send === 'function';
}

/**
 * How long a service whose runner is gone may take to stop: what the runner's own stop
 * gives a process before its SIGKILL.
 */
const orphanStopMs = 10_000;

/** The signals that stop a service: its runner's or an orchestrator's, a Ctrl-C, a closed terminal. */
export const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Stops `service` cleanly on SIGTERM, SIGINT or SIGHUP, then exits. A signal during the stop
 * does not cut it short: a Ctrl-C reaches every process of the terminal's group, and
 * `npm start` then sends each service SIGTERM, the one stop asked twice. The stop is bounded
 * anyway (the drain deadline), and what ends it early is what may leave the database open
 * (an embedded one then needs recovery): only SIGKILL does, as the runner's stop sends after
 * its grace period.
 */
export function stopOnSignals(service: RunningService, logger: Logger): void {
  let received = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      logger.info({ signal }, 'already stopping: the stop goes on');
      return;
    }
    received = true;
    logger.info({ signal }, 'draining in-flight requests, then stopping');
    service
      .stop()
      .then(shutdownTelemetry)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'unclean stop');
          process.exit(1);
        },
      );
  };
  for (const signal of stopSignals) process.on(signal, onSignal);
  if (!startedByRunner()) return;
  // The runner gone: drain and stop as on its SIGTERM (or go on with a stop under way),
  // within the time its stop would have given.
  const orphaned = () => {
    setTimeout(() => process.exit(1), orphanStopMs).unref();
    if (!received) onSignal('SIGTERM');
  };
  if (process.connected) process.once('disconnect', orphaned);
  else orphaned();
}

/**
 * What Node itself writes in a service, as lines of `logger` instead of text on stderr: its
 * warnings (a deprecation, too many listeners) at warn, and the error nobody caught (a
 * promise rejected that nobody awaited) at fatal. That error still ends the service, as it
 * would have: what it left half-done is unknown. What a library writes to the console,
 * having no logger to be given (ioredis warns there of a password Redis does not need), is
 * a line at the console method's level.
 */
function logProcessOutput(logger: Logger): void {
  const toLog =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) =>
      logger[level](format(...args));
  Object.assign(console, {
    debug: toLog('debug'),
    log: toLog('info'),
    info: toLog('info'),
    warn: toLog('warn'),
    error: toLog('error'),
    trace: toLog('error'),
  });
  // Node's own listener prints each warning to stderr.
  for (const listener of process.listeners('warning')) process.off('warning', listener);
  process.on('warning', (warning: Error & { code?: string }) => {
    logger.warn({ warning: { name: warning.name, code: warning.code } }, warning.message);
  });
  process.on('uncaughtException', (error, origin) => {
    logger.fatal(
      { err: error },
      origin === 'unhandledRejection'
        ? 'unhandled rejection: exiting'
        : 'uncaught exception: exiting',
    );
    process.exit(1);
  });
}

/**
 * Runs a service's start-up with a logger at LOG_LEVEL, logging a failure as one line and
 * exiting non-zero. A setting the operator got wrong is told in that line without a stack
 * trace: the trace points into this code, not at the setting.
 */
export async function runService(
  name: string,
  start: (logger: Logger) => Promise<RunningService>,
  env: NodeJS.ProcessEnv = process.env,
) {
  // A LOG_LEVEL it does not know is reported by the start's check of every setting: at info.
  const level = baseSettings.shape.LOG_LEVEL.safeParse(env.LOG_LEVEL);
  const logger = createLogger(name, level.success ? level.data : 'info');
  logProcessOutput(logger);
  // Until it is ready there is nothing to drain: a runner gone meanwhile ends the service at
  // once.
  const orphanedWhileStarting = () => process.exit(1);
  if (startedByRunner()) {
    if (!process.connected) orphanedWhileStarting();
    process.once('disconnect', orphanedWhileStarting);
  }
  // A stop asked for while starting (a Ctrl-C reaches every process of the terminal's
  // group) waits for the start to end: cut short, it would leave the database open, a
  // migration perhaps half-applied. The service then stops as on that signal. A second
  // Ctrl-C is someone who will not wait: the service exits at once.
  let stopAsked: NodeJS.Signals | undefined;
  const askStop = (signal: NodeJS.Signals) => {
    if (stopAsked && signal === 'SIGINT') process.exit(130);
    stopAsked ??= signal;
  };
  for (const signal of stopSignals) process.on(signal, askStop);
  try {
    const service = await start(logger);
    process.off('disconnect', orphanedWhileStarting);
    // The stop's handlers first, then the start's off: Node stops catching a signal when its
    // last listener goes, and one caught meanwhile but not yet handled (sent the moment the
    // service said it was ready, while its start still ran) would be lost with it.
    stopOnSignals(service, logger);
    for (const signal of stopSignals) process.off(signal, askStop);
    if (stopAsked) process.kill(process.pid, stopAsked);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      logger.fatal(`${name} failed to start: ${error.message}`);
    } else {
      logger.fatal({ err: error }, `${name} failed to start`);
    }
    process.exit(1);
  }
}
