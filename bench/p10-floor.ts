// `npm run bench:p10-floor`: how much of P10's tail the machine and the load generator make
// on their own. The same paced run (16 connections, one rate, every request due at i / rate)
// goes in alternating rounds to three servers answering the same bytes (the cached
// listing's answer):
//
// - `static`: an NGINX of its own that answers them itself (`return 200`), no upstream;
// - `node`: an NGINX of its own in front of two minimal Node HTTP servers (separate
//   processes, as the gateways are) that answer them, proxied as the edge proxies;
// - `stack`: the topology's edge and both gateways with the response cache on and in-flight
//   sharing off: P10's path, every answer a hit.
//
// The rate is half of the stack's cached saturation, measured first as P10 measures it, or
// `--rate`. Each round prints its p50, p99, the answers over 30 ms, the worst wait for a
// connection and the generator's event loop delay; then the medians by side.
//
//   npm run bench:p10-floor [-- --rate 4000 --rounds 3 --seconds 5]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { startBenchEnvironment } from './environment.ts';
import { freePort, startExtraNginx } from './extra-nginx.ts';
import { alternate, expectData, median, runLoad, runPaced } from './load.ts';
import { listingQuery, requestBody } from './operations.ts';
import { fmt } from './report.ts';
import { prepare, useCache } from './response-cache.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = 16;

/** A Node HTTP server in a process of its own that answers every request with `answer`. */
async function startFixedAnswer(answer: string): Promise<{ address: string; child: ChildProcess }> {
  const script = `
const http = require('node:http');
const answer = Buffer.from(process.env.FIXED_ANSWER);
const server = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': answer.length });
    response.end(answer);
  });
});
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, FIXED_ANSWER: answer },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  return { address: `127.0.0.1:${line.toString().trim()}`, child };
}

/** `text` as an NGINX string in single quotes. */
function nginxString(text: string): string {
  if (text.includes('$'))
    throw new Error('the answer holds a $, which NGINX would read as a variable');
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

const environment = await startBenchEnvironment({ events: 50 });
const stops: (() => Promise<unknown>)[] = [() => environment.stop()];
try {
  await prepare(environment);
  await useCache(environment, true);
  const url = environment.publicUrl;
  const body = requestBody(listingQuery, { first: 10 });
  await expectData(url, body);
  const answer = await (
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  ).text();

  const servers = await Promise.all([startFixedAnswer(answer), startFixedAnswer(answer)]);
  for (const { child } of servers) {
    stops.push(async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    });
  }
  const proxied = await freePort();
  const nginx = await startExtraNginx('p10-floor', (port) => {
    return `    upstream fixed {
        least_conn;
${servers.map(({ address }) => `        server ${address};`).join('\n')}
        keepalive 64;
        keepalive_timeout 4s;
        keepalive_requests 10000;
    }
    server {
        listen 127.0.0.1:${port};
        keepalive_requests 10000;
        location /graphql {
            default_type "application/json; charset=utf-8";
            return 200 ${nginxString(answer)};
        }
    }
    server {
        listen 127.0.0.1:${proxied};
        keepalive_requests 10000;
        location /graphql {
            proxy_pass http://fixed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }
    }`;
  });
  stops.push(() => nginx.stop());
  const urls = {
    static: `${nginx.origin}/graphql`,
    node: `http://127.0.0.1:${proxied}/graphql`,
    stack: url,
  } as const;
  for (const side of ['static', 'node'] as const) await expectData(urls[side], body);

  // As P10: 10 s saturated (the rate's base, unless given), then 10 s of autocannon at it.
  const saturated = await runLoad({ url, body, connections, seconds: 10 });
  const rate = values.rate ? Number(values.rate) : Math.max(1, Math.round(saturated.rps / 2));
  await runLoad({ url, body, connections, seconds: 10, rate });
  console.log(
    `stack saturated at ${fmt(saturated.rps)} RPS (${saturated.failures} failed); pacing ${rate} RPS, ${rounds} rounds of ${seconds} s a side`,
  );

  const figures = await alternate(['static', 'node', 'stack'] as const, rounds, async (side) => {
    const paced = await runPaced({ url: urls[side], body, seconds, rate, connections });
    const slow = Object.values(paced.slow).reduce((sum, count) => sum + count, 0);
    console.log(
      `${side}: p50 ${fmt(paced.p50)} ms, p99 ${fmt(paced.p99)} ms, ${slow} over 30 ms, ` +
        `worst send lag ${fmt(paced.worstLag)} ms, generator loop p99/max ${fmt(paced.clientLoop.p99)}/${fmt(paced.clientLoop.max)} ms, ` +
        `${fmt(paced.rps)} RPS achieved, ${paced.failures} failed`,
    );
    return { ...paced, slowCount: slow };
  });
  for (const side of ['static', 'node', 'stack'] as const) {
    const runs = figures[side];
    console.log(
      `${side}: median p99 ${fmt(median(runs.map((run) => run.p99)))} ms (rounds ${runs.map((run) => fmt(run.p99)).join(', ')}), ` +
        `median p50 ${fmt(median(runs.map((run) => run.p50)))} ms, over 30 ms ${runs.map((run) => run.slowCount).join(', ')}, ` +
        `${runs.reduce((sum, run) => sum + run.failures, 0)} failed`,
    );
  }
} finally {
  for (const stop of stops.reverse()) await stop();
}
