// P6: the project's gateway against a peer, Hive Gateway, on the same supergraph, the same
// running subgraphs and the same federated listing; each straight (no NGINX), one process
// each, alternating. The ratio is the project's RPS over the peer's, as the peer ships.
//
// Hive Gateway shares one subgraph fetch among identical queries in flight, by default. A
// benchmark that sends one query over and over is the best case for that, so a second Hive
// Gateway with the sharing turned off runs in the same rotation, and its ratio is reported
// beside the main one: it tells how much of the gap is that feature.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isDeepStrictEqual } from 'node:util';
import { nodeFlags, serviceRoutes, tokenIssuer } from '../scripts/services.ts';
import { repositoryRoot } from '../scripts/topology.ts';
import type { BenchEnvironment } from './environment.ts';
import { alternate, expectData, median, runLoad } from './load.ts';
import { listingQuery, requestBody } from './operations.ts';
import type { BenchOptions } from './options.ts';
import { fmt, type MeasureRow } from './report.ts';

const sides = ['project', 'hive', 'hiveUnshared'] as const;

/**
 * `sharing`: whether the project's gateways share identical subgraph fetches in flight in
 * this run. The ratio is then against the Hive Gateway configured alike: with its sharing
 * (its default), or without; the other ratio is in the details.
 */
export async function measurePeer(
  environment: BenchEnvironment,
  options: BenchOptions,
  sharing = true,
): Promise<MeasureRow[]> {
  const peers: PeerProcess[] = [];
  try {
    peers.push(await startHiveGateway(environment, { deduplicate: true }));
    peers.push(await startHiveGateway(environment, { deduplicate: false }));
    const [hive, hiveUnshared] = peers as [PeerProcess, PeerProcess];
    const urls = {
      project: environment.gatewayUrl('gateway-1'),
      hive: hive.url,
      hiveUnshared: hiveUnshared.url,
    };
    const body = requestBody(listingQuery, { first: options.listingSize });
    const load = (side: (typeof sides)[number], seconds: number) =>
      runLoad({ url: urls[side], body, connections: options.connections, seconds });
    // Like for like: every gateway must answer with the same data.
    const expected = JSON.parse((await expectData(urls.project, body)).body);
    for (const side of sides) {
      const answer = await expectData(urls[side], body);
      if (!isDeepStrictEqual(JSON.parse(answer.body), expected)) {
        throw new Error(
          `${side} answered differently from the project's gateway:\n${answer.body.slice(0, 400)}`,
        );
      }
      await load(side, options.warmupSeconds);
    }
    const rounds = await alternate(sides, options.rounds, (side) =>
      load(side, options.roundSeconds),
    );
    const rps = Object.fromEntries(
      sides.map((side) => [side, rounds[side].map((round) => round.rps)]),
    ) as Record<(typeof sides)[number], number[]>;
    const failures = sides
      .flatMap((side) => rounds[side])
      .reduce((sum, round) => sum + round.failures, 0);
    const sharedRatio = median(rps.project) / median(rps.hive);
    const unsharedRatio = median(rps.project) / median(rps.hiveUnshared);
    const ratio = sharing ? sharedRatio : unsharedRatio;
    const list = (values: number[]) =>
      `${values.map((value) => fmt(value)).join(', ')} RPS (median ${fmt(median(values))})`;
    return [
      {
        id: 'P6',
        measure: `peer: RPS of this project's gateway ÷ Hive Gateway's, same supergraph, subgraphs and federated listing (${options.listingSize} events), straight, ${options.connections} connections`,
        value: ratio,
        result: fmt(ratio),
        target: '≥ 1.0',
        met: ratio >= 1 && failures === 0,
        details:
          `project (sharing ${sharing ? 'on' : 'off'}) ${list(rps.project)}; ` +
          `Hive Gateway ${hive.version} with its sharing of in-flight fetches ${list(rps.hive)}, ratio ${fmt(sharedRatio)}; ` +
          `Hive Gateway without it ${list(rps.hiveUnshared)}, ratio ${fmt(unsharedRatio)}; ` +
          `${options.rounds} × ${options.roundSeconds} s a side; ${failures} failed`,
        figures: { ...rounds, sharedRatio, unsharedRatio, hiveVersion: hive.version, failures },
      },
    ];
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
  }
}

export interface PeerProcess {
  url: string;
  version: string;
  stop(): Promise<void>;
}

/**
 * Hive Gateway in a child process (hive-gateway.ts), ready to serve, verifying tokens with
 * the keys the users service publishes, as the project's gateways do.
 */
export async function startHiveGateway(
  environment: BenchEnvironment,
  { deduplicate }: { deduplicate: boolean },
): Promise<PeerProcess> {
  const version = (
    createRequire(import.meta.url)('@graphql-hive/gateway-runtime/package.json') as {
      version: string;
    }
  ).version;
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeFlags, join(import.meta.dirname, 'hive-gateway.ts')],
    {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        PORT: '0',
        SUPERGRAPH_PATH: join(repositoryRoot, 'gateway', 'supergraph.graphql'),
        USERS_URL: environment.subgraphUrl('users'),
        EVENTS_URL: environment.subgraphUrl('events'),
        TICKETS_URL: environment.subgraphUrl('tickets'),
        AUTH_JWKS_URL: new URL(serviceRoutes.jwks, environment.subgraphUrl(tokenIssuer)).href,
        DEDUPLICATE_INFLIGHT: String(deduplicate),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => output.push(line));
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Hive Gateway did not start')), 60_000);
      child.on('message', (message: { type?: string; url?: string }) => {
        if (message.type === 'ready' && message.url) {
          clearTimeout(timer);
          resolve(message.url);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Hive Gateway exited (code ${code}):\n${output.join('\n')}`));
      });
    });
    return { url, version, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
