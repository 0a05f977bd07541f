// Graceful shutdown of an HTTP server that sits behind a proxy pooling keep-alive
// connections to it (NGINX, or the gateway in front of a subgraph).
//
// The usual way to stop a Node server, `server.close()` (which since Node 19 also destroys
// idle keep-alive connections) or Apollo's drain plugin (which ends them), loses requests
// behind such a proxy: the proxy may pick a pooled connection and send a request on it at
// the moment the server closes it. The request has then been sent, so the proxy does not
// retry it elsewhere if it is a POST (NGINX without `non_idempotent`), and the client gets
// a 502. A refused connect, by contrast, is always retried on another instance. So:
//
// 0. Before the drain starts, the instance is out of the proxy's rotation, so that nothing
//    connects to it any more: closing the listening socket resets every connection the
//    kernel has completed into its backlog and Node has not accepted yet, and the proxy has
//    already sent a request on each (a lost POST, a 502). Kubernetes removes a stopping
//    pod's endpoint while its preStop hook sleeps, before the SIGTERM (deploy/kubernetes);
//    the local topology marks the instance `down` in NGINX and reloads it first
//    (scripts/topology.ts, restart).
// 1. Stop listening at once: a connect that still comes is refused, and the proxy moves it
//    to another instance (NGINX: `proxy_next_upstream error`).
// 2. Keep serving requests on the connections the proxy already holds, in-flight ones and
//    newly arriving ones alike, but answer each with `Connection: close`. The proxy then
//    does not pool the connection again, and Node closes it after the response: no request
//    can race with that close.
// 3. Never close an idle connection ourselves: the proxy closes idle pooled connections
//    after its own keep-alive timeout (NGINX's upstream `keepalive_timeout`), which must be
//    shorter than the deadline below. The drain ends as soon as the last connection is gone.
// 4. A hard deadline bounds the wait for clients that keep connections longer (or requests
//    that hang): then every remaining connection is closed.
import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

export interface HttpDrainer {
  /** True from the moment the drain starts: readiness should then report not-ready. */
  readonly draining: boolean;
  /**
   * Stops taking connections, lets the ones open finish as described above, and resolves
   * once none is left; idempotent.
   */
  drain(): Promise<void>;
}

export interface DrainOptions {
  /** After this long, remaining connections are closed (in-flight requests included). */
  deadlineMs: number;
  /** Told when the deadline forced connections closed, with how many were left. */
  onDeadline?(openConnections: number): void;
}

/**
 * Prepares `server` for a drain that loses no request behind a pooling proxy. Call it
 * before the server handles its first request.
 */
export function drainOnStop(server: Server, options: DrainOptions): HttpDrainer {
  const sockets = new Set<Socket>();
  const unanswered = new Set<ServerResponse>();
  let draining = false;
  let drained: Promise<void> | undefined;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Before any other listener, so that the header is set before a handler can answer.
  server.prependListener('request', (_request, response) => {
    if (draining) {
      response.setHeader('connection', 'close');
      return;
    }
    unanswered.add(response);
    const answered = () => unanswered.delete(response);
    response.once('finish', answered);
    response.once('close', answered);
  });

  const drain = async () => {
    draining = true;
    // Requests in flight whose answer has not started yet close their connection too.
    for (const response of unanswered) {
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
    unanswered.clear();
    const closed = new Promise<void>((resolve) => {
      // net.Server's close, not http.Server's: that one also destroys idle keep-alive
      // connections, which is the race described above. It stops listening now and calls
      // back once the last connection has closed.
      NetServer.prototype.close.call(server, () => resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), options.deadlineMs);
      timer.unref();
    });
    const outcome = await Promise.race([closed, deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      options.onDeadline?.(sockets.size);
      for (const socket of sockets) socket.destroy();
      await closed;
    }
  };

  return {
    get draining() {
      return draining;
    },
    drain() {
      drained ??= drain();
      return drained;
    },
  };
}
