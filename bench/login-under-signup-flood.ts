// `npm run bench:login-flood`: what a flood of sign-ups does to a normal login. Prints a
// login's median latency while sign-ups flood the users service, divided by its median
// when all is quiet, both measured in this one run against the real topology (NGINX, two
// gateways, three subgraphs, production settings), in alternating rounds. Goal: ≤ 2.
//
//   npm run bench:login-flood [-- --rounds 4 --logins 8 --flooders 8]
//
// The flood: `flooders` clients, each sending sign-ups back to back, each from addresses
// of its own that it changes before the per-address sign-up limit would stop it (as a
// botnet would), so that what holds the flood back is the bounded scrypt queue.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { startFreshTopology } from '../scripts/fresh-topology.ts';
import { graphqlFrom } from '../scripts/local-client.ts';
import { serviceEnv } from './environment.ts';
import { logInMutation, signUpMutation } from './operations.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    logins: { type: 'string', default: '8' },
    flooders: { type: 'string', default: '8' },
  },
});
const rounds = Number(values.rounds);
const loginsPerPhase = Number(values.logins);
const flooders = Number(values.flooders);

const password = 'plum-vortex-harbour-71-quietly';

const fresh = await startFreshTopology('bench_flood', {
  env: { ...serviceEnv, SEED_DEMO_DATA: 'false' },
  output: (service, line) => console.error(`${service} | ${line}`),
});
const url = new URL(fresh.topology.publicUrl);
try {
  const email = 'regular-customer@example.com';
  const created = await graphqlFrom(url, signUpMutation, {
    input: { email, password, name: 'Regular', accountType: 'CUSTOMER' },
  });
  if (!created.json.data?.signUp) throw new Error(`sign-up failed: ${created.text}`);

  /** One normal login from the customer's usual address; its latency in ms. */
  const logIn = async () => {
    const started = performance.now();
    const answer = await graphqlFrom(
      url,
      logInMutation,
      { email, password },
      { from: '127.0.0.2' },
    );
    if (!answer.json.data?.logIn) throw new Error(`login failed: ${answer.text}`);
    return performance.now() - started;
  };
  const loginPhase = async () => {
    const times: number[] = [];
    for (let i = 0; i < loginsPerPhase; i++) times.push(await logIn());
    return times;
  };

  let signUps = 0;
  const outcomes = new Map<string, number>();
  /** How many sign-ups each flooder sent, over all rounds: addresses and emails go on. */
  const sentBy = Array.from({ length: flooders }, () => 0);
  /** Sign-ups back to back from changing addresses until `stop.stopped`. */
  const flood = async (flooder: number, stop: { stopped: boolean }) => {
    while (!stop.stopped) {
      const sent = sentBy[flooder] as number;
      // 9 sign-ups an address, below the per-address limit of 10 an hour.
      const address = `127.${10 + flooder}.${Math.floor(sent / 9 / 250) % 250}.${1 + (Math.floor(sent / 9) % 250)}`;
      signUps += 1;
      sentBy[flooder] = sent + 1;
      const answer = await graphqlFrom(
        url,
        signUpMutation,
        {
          input: {
            email: `flood-${flooder}-${sent + 1}@example.com`,
            password,
            name: 'Flood',
            accountType: 'CUSTOMER',
          },
        },
        { from: address },
      );
      const code = String(answer.json.errors?.[0]?.extensions?.code ?? 'OK');
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
  };

  await loginPhase(); // warm-up: JIT, connections, the plan cache
  const quiet: number[] = [];
  const flooded: number[] = [];
  for (let round = 0; round < rounds; round++) {
    quiet.push(...(await loginPhase()));
    const stop = { stopped: false };
    const floods = Array.from({ length: flooders }, (_, flooder) => flood(flooder, stop));
    await new Promise((wake) => setTimeout(wake, 1_000)); // let the flood build up
    flooded.push(...(await loginPhase()));
    stop.stopped = true;
    await Promise.all(floods);
  }

  const median = (times: number[]) =>
    times.toSorted((a, b) => a - b)[Math.floor(times.length / 2)] as number;
  const [quietMs, floodedMs] = [median(quiet), median(flooded)];
  console.log(
    `cores: ${availableParallelism()}, ${rounds} rounds of ${loginsPerPhase} logins quiet, then ${loginsPerPhase} under ${flooders} sign-up flooders`,
  );
  console.log(`login median, quiet          ${quietMs.toFixed(1)} ms`);
  console.log(`login median, sign-up flood  ${floodedMs.toFixed(1)} ms`);
  console.log(
    `sign-ups sent during floods  ${signUps}: ${[...outcomes].map(([code, count]) => `${code} ${count}`).join(', ')}`,
  );
  console.log(`ratio flood/quiet            ${(floodedMs / quietMs).toFixed(2)} (goal ≤ 2)`);
} finally {
  await fresh.stop();
}
