// `npm run bench:purchase`: only the hot-tier purchase measure (P4) of the suite, with the
// options this script has always had.
//
//   npm run bench:purchase [-- --seconds 5 --rounds 3 --concurrency 32]
import { parseArgs } from 'node:util';
import { benchCommand } from './suite.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'string' },
  },
});
const flag = (name: string, value: string | undefined) =>
  value === undefined ? [] : [name, value];
await benchCommand([
  '--only',
  'P4',
  ...flag('--round-seconds', values.seconds),
  ...flag('--purchase-rounds', values.rounds),
  ...flag('--purchase-concurrency', values.concurrency),
  ...flag('--json', values.json),
]);
