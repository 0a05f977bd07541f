import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { freePort } from '../scripts/ports.ts';
import { startTopology, type Topology } from '../scripts/topology.ts';

export { freePort } from '../scripts/ports.ts';

/** Redis for the tests that share a cache between gateway instances. */
export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface GraphQLHttpResult {
  status: number;
  servedBy: string | null;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** POSTs a GraphQL operation the way a browser client would. */
export async function postGraphQL(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  accessToken?: string,
): Promise<GraphQLHttpResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    servedBy: response.headers.get('x-served-by'),
    body: await response.json(),
  };
}

export interface TestTopology {
  topology: Topology;
  /** What the services wrote, for explaining a failure. */
  logs: string[];
  databaseUrls: Record<
    'USERS_DATABASE_URL' | 'EVENTS_DATABASE_URL' | 'TICKETS_DATABASE_URL',
    string
  >;
  /** NGINX's configuration and logs (error.log, access.log) while the topology runs. */
  runDir: string;
  stop(): Promise<void>;
}

/**
 * The real topology on free ports and real NGINX, each service on a fresh PostgreSQL
 * database named after `label`; `stop` removes it all.
 */
export async function startTestTopology(
  label: string,
  env: NodeJS.ProcessEnv = {},
): Promise<TestTopology> {
  const databaseUrls = {
    USERS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_users`),
    EVENTS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_events`),
    TICKETS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_tickets`),
  };
  const runDir = await mkdtemp(join(tmpdir(), `ticketing-${label}-`));
  const logs: string[] = [];
  const cleanUp = async () => {
    await Promise.all(Object.values(databaseUrls).map(dropDatabase));
    await rm(runDir, { recursive: true, force: true });
  };
  let topology: Topology;
  try {
    topology = await startTopology({
      publicPort: await freePort(),
      ephemeralPorts: true,
      requireNginx: true,
      runDir,
      env: { ...databaseUrls, LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env },
      output: (service, line) => logs.push(`${service} | ${line}`),
    });
  } catch (error) {
    await cleanUp();
    throw error;
  }
  return {
    topology,
    logs,
    databaseUrls,
    runDir,
    async stop() {
      await topology.stop();
      await cleanUp();
    },
  };
}
