// The whole topology on fresh PostgreSQL databases, for the end-to-end tests and the
// benchmarks: free ports, real NGINX, and everything it made removed on stop.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, uniqueTestDatabaseUrl } from '@ticketing/prisma/testing';
import { freePort } from './ports.ts';
import { startTopology, type Topology, type TopologyOptions } from './topology.ts';

export type DatabaseUrls = Record<
  'USERS_DATABASE_URL' | 'EVENTS_DATABASE_URL' | 'TICKETS_DATABASE_URL',
  string
>;

export interface FreshTopology {
  topology: Topology;
  databaseUrls: DatabaseUrls;
  /** A scratch folder of this run's own, for the services' files (DATA_DIR). */
  dir: string;
  /** NGINX's configuration and logs (error.log, access.log) while the topology runs. */
  runDir: string;
  /** Stops the topology, then drops its databases and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts the topology with each subgraph on a new database named after `label`, NGINX
 * required, on free ports, `DATA_DIR` in a new folder; `options.env` over those.
 */
export async function startFreshTopology(
  label: string,
  options: Pick<TopologyOptions, 'env' | 'output' | 'replicas'> & {
    /** The PostgreSQL server for the databases (default: the test server). */
    databaseServerUrl?: string;
  } = {},
): Promise<FreshTopology> {
  const server = options.databaseServerUrl;
  const databaseUrls: DatabaseUrls = {
    USERS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_users`, server),
    EVENTS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_events`, server),
    TICKETS_DATABASE_URL: uniqueTestDatabaseUrl(`${label}_tickets`, server),
  };
  const dir = await mkdtemp(join(tmpdir(), `ticketing-${label}-`));
  const runDir = join(dir, 'nginx');
  const cleanUp = async () => {
    await Promise.all(Object.values(databaseUrls).map(dropDatabase));
    await rm(dir, { recursive: true, force: true });
  };
  // The public port is drawn before NGINX binds it; a process beside this one (another test
  // file's service) may take it meanwhile, and NGINX then exits: the port is named in use.
  // The topology starts again on a port drawn anew, three times at most.
  let topology: Topology | undefined;
  for (let attempt = 1; !topology; attempt++) {
    try {
      topology = await startTopology({
        publicPort: await freePort(),
        ephemeralPorts: true,
        requireNginx: true,
        runDir,
        env: { ...databaseUrls, DATA_DIR: dir, ...options.env },
        ...(options.output ? { output: options.output } : {}),
        ...(options.replicas ? { replicas: options.replicas } : {}),
      });
    } catch (error) {
      const portTaken =
        error instanceof Error && /is in use by another process/.test(error.message);
      if (!portTaken || attempt >= 3) {
        await cleanUp();
        throw error;
      }
    }
  }
  return {
    topology,
    databaseUrls,
    dir,
    runDir,
    async stop() {
      await topology.stop();
      await cleanUp();
    },
  };
}
