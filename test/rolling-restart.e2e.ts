// A rolling restart under load loses no request. Every GraphQL request is a POST, which
// NGINX never sends a second time once it has sent it: a request lost on its way to an
// instance that is stopping reaches the client as a 502. Here instances of the gateway and
// of a subgraph are restarted in turn, one at a time as a Deployment rolls, while clients
// keep more requests in flight than NGINX keeps pooled connections, so that it connects
// to the instances all the time, also at the moment one of them stops.
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startTestTopology, type TestTopology } from './support.ts';

let started: TestTopology;

beforeAll(async () => {
  started = await startTestTopology('rolling', {}, { replicas: { subgraphs: 2, gateways: 2 } });
}, 120_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(started.logs.join('\n'));
});

afterAll(async () => {
  await started?.stop();
});

const query = JSON.stringify({ query: '{ events(first: 1) { totalCount } }' });

/**
 * What a client got for one request: OK, a GraphQL error's code, or an HTTP status. Each
 * request on a connection of its own, as many clients of the edge send them.
 */
function ask(url: string): Promise<string> {
  return new Promise((resolve) => {
    const request = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: 30_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(query) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => resolve(`TRANSPORT ${error.message}`));
        response.on('end', () => {
          if (response.statusCode !== 200) return resolve(`HTTP ${response.statusCode}`);
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              errors?: { extensions?: { code?: string } }[];
            };
            resolve(body.errors ? String(body.errors[0]?.extensions?.code ?? 'UNKNOWN') : 'OK');
          } catch {
            resolve('NOT JSON');
          }
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
    request.on('error', (error) => resolve(`TRANSPORT ${error.message}`));
    request.end(query);
  });
}

it('fails no request while gateways and subgraph replicas restart in turn', async () => {
  const url = started.topology.publicUrl;
  expect(await ask(url)).toBe('OK');
  let running = true;
  const answers: string[] = [];
  // More in flight than NGINX keeps idle connections to a Service (32): new connects all
  // the time.
  const clients = Array.from({ length: 40 }, async () => {
    while (running) answers.push(await ask(url));
  });
  const restarted: string[] = [];
  try {
    for (const name of ['gateway-2', 'events-2', 'gateway-1', 'events-1', 'gateway-2']) {
      await started.topology.restart(name);
      restarted.push(name);
    }
  } finally {
    running = false;
    await Promise.all(clients);
  }
  const failures: Record<string, number> = {};
  for (const answer of answers) {
    if (answer !== 'OK') failures[answer] = (failures[answer] ?? 0) + 1;
  }
  const errorLog = await readFile(join(started.runDir, 'error.log'), 'utf8').catch(() => '');
  // Every connect NGINX made reached an instance that was serving: not even a refused one
  // (retried elsewhere, but a sign that NGINX still sent to a stopping instance).
  const upstreamErrors = errorLog.split('\n').filter((line) => line.includes('upstream'));
  console.info(
    `rolling restart of ${restarted.join(', ')}: ${answers.length} requests, failures ${JSON.stringify(failures)}\n${upstreamErrors.join('\n')}`,
  );
  expect(answers.length).toBeGreaterThan(500);
  expect(failures).toEqual({});
  expect(upstreamErrors).toEqual([]);
}, 110_000);
