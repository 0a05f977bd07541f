import { isIP } from 'node:net';
import type express from 'express';

/**
 * Refuses a request whose client address, as Express reads it behind TRUSTED_PROXIES (the
 * right-most X-Forwarded-For entry a trusted proxy did not add), is not an IP address:
 * 400 BAD_REQUEST naming the header. A proxy that passes the client's header on as sent
 * passes on whatever it holds, and the text was taken as the address: a key of the users
 * service's throttles chosen by the client, of any length, and past 100 characters an
 * assertion every subgraph refused, so that the request failed as SERVICE_UNAVAILABLE.
 */
export const requireClientAddress: express.RequestHandler = (request, response, next) => {
  const address = request.ip;
  if (address === undefined || isIP(address) !== 0) {
    next();
    return;
  }
  response.status(400).json({
    errors: [
      {
        message:
          'X-Forwarded-For must end in the client’s IP address, as the proxy in front saw it.',
        extensions: { code: 'BAD_REQUEST' },
      },
    ],
  });
};
