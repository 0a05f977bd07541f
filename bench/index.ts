// `npm run bench`: every measure of the benchmark suite in one run (see docs/BENCHMARKS.md).
//
//   npm run bench [-- --quick] [-- --only P1,P3] [-- --json results.json]
import { benchCommand } from './suite.ts';

await benchCommand(process.argv.slice(2));
