import { type ChildProcess, spawn } from 'node:child_process';
import { type FreshTopology, startFreshTopology } from '../scripts/fresh-topology.ts';
import { launchDefaults, type ReplicaCounts, repositoryRoot } from '../scripts/topology.ts';

export { freePort } from '../scripts/ports.ts';

/** Debian's Chromium, which the browser test drives through playwright-core. */
export const chromiumPath = '/usr/bin/chromium';

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

/**
 * Runs the real `npm start` on embedded databases under `dataDir`, on `port`, its output
 * piped; `detached` makes it the leader of a process group, as a shell's foreground job.
 * Each service takes a free port (FREE_SERVICE_PORTS), so that another run holding the
 * services' own ports does not stop it. `env` goes over those settings.
 */
export function spawnStart(
  dataDir: string,
  port: number,
  detached = false,
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  return spawn(process.execPath, ['--experimental-strip-types', 'scripts/start.ts'], {
    cwd: repositoryRoot,
    env: {
      ...process.env,
      ...launchDefaults,
      DATA_DIR: dataDir,
      PUBLIC_PORT: String(port),
      LOG_LEVEL: 'warn',
      USERS_DATABASE_URL: '',
      EVENTS_DATABASE_URL: '',
      TICKETS_DATABASE_URL: '',
      FREE_SERVICE_PORTS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
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

export interface TestTopology extends FreshTopology {
  /** What the services wrote, for explaining a failure. */
  logs: string[];
}

/**
 * The real topology on free ports and real NGINX, each service on a fresh PostgreSQL
 * database named after `label`, in test mode; `stop` removes it all.
 */
export async function startTestTopology(
  label: string,
  env: NodeJS.ProcessEnv = {},
  options: { databaseServerUrl?: string; replicas?: ReplicaCounts } = {},
): Promise<TestTopology> {
  const logs: string[] = [];
  const fresh = await startFreshTopology(label, {
    ...options,
    env: { LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env },
    output: (service, line) => logs.push(`${service} | ${line}`),
  });
  return { ...fresh, logs };
}
