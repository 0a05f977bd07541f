// A request whose signature covers its body (a gateway's assertion at a subgraph, the events
// outbox relay's delivery at the tickets service) is read in three steps, so that one that
// cannot be signed is refused before a byte of its body is read, inflated or parsed.
import type express from 'express';
import { readBody, refuseDeclaredOver } from './http.ts';

export interface SignedBodyOptions {
  /**
   * Refuses, by throwing, what the request's headers alone show cannot be signed: no
   * signature, one of another shape, a stale timestamp. Needs no body.
   */
  check(request: express.Request): void;
  /** How the body is read: parsed as JSON (`req.body`), or kept as its bytes (a Buffer). */
  read: 'json' | 'raw';
  /**
   * The largest body read, in bytes: 413 past it, by its Content-Length before a byte is
   * read (once `check` passed: what cannot be signed is 401 or 403 whatever its length).
   */
  limit: number;
  /**
   * Refuses, by throwing, a body its signature does not cover; given the bytes as they
   * arrived (none when the request had no JSON body `readBody` reads).
   */
  verify(request: express.Request, response: express.Response, body: Buffer): Promise<void> | void;
  /** Answers a refusal `check` or `verify` threw and says true; false for any other error. */
  refuse(error: unknown, request: express.Request, response: express.Response): boolean;
}

const rawBodies = new WeakMap<object, Buffer>();

/** The middleware that reads a signed request's body: its check, its body, its verification. */
export function signedBody(options: SignedBodyOptions): express.RequestHandler[] {
  return [
    (request, response, next) => {
      try {
        options.check(request);
      } catch (error) {
        if (!options.refuse(error, request, response)) next(error);
        return;
      }
      next();
    },
    refuseDeclaredOver(options.limit),
    readBody({
      read: options.read,
      limit: options.limit,
      verify: (request, body) => {
        rawBodies.set(request, body);
      },
    }),
    (request, response, next) => {
      Promise.resolve()
        .then(() => options.verify(request, response, rawBodies.get(request) ?? Buffer.alloc(0)))
        .then(
          () => next(),
          (error: unknown) => {
            if (!options.refuse(error, request, response)) next(error);
          },
        );
    },
  ];
}
