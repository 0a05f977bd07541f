import { isIP } from 'node:net';
import type express from 'express';

/**
 * Refuses a request whose client address, as Express reads it behind TRUSTED_PROXIES (the
 * right-most X-Forwarded-For entry a trusted proxy did not add), is not an IP address:
 * 400 BAD_REQUEST naming the header. A proxy that passes the client's header on as sent
 * passes on whatever it holds, and the text was taken as the address: a key of the users
 * service's throttles chosen by the client, of any length, and past 100 characters an
 * assertion every subgraph refused, so that the request failed as SERVICE_UNAVAILABLE. An
 * IPv6 address whose zone is no interface's name is refused alike.
 */
/**
 * Whether an IP address has no zone, or one that can name an interface (`fe80::1%eth0`, at
 * most 15 characters as Linux names them, or a number). Node takes `fe80::1%<any text>` for
 * an IP address, zone and all: text of the client's once more, of any length.
 */
function zoneNamesAnInterface(address: string): boolean {
  const zone = address.indexOf('%');
  return zone < 0 || /^[\w.-]{1,15}$/.test(address.slice(zone + 1));
}

export const requireClientAddress: express.RequestHandler = (request, response, next) => {
  const address = request.ip;
  if (address === undefined || (isIP(address) !== 0 && zoneNamesAnInterface(address))) {
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
