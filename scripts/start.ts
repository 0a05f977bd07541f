// `npm start`: the whole topology on this machine. With no *_DATABASE_URL set, each
// service keeps its data in embedded PostgreSQL (PGlite) under .data/.
import { ConfigurationError, loadConfig, stopSignals } from '@ticketing/platform';
import { localRunnerSettings, services } from './services.ts';
import { Supervisor } from './supervise.ts';
import { startTopology, type Topology } from './topology.ts';
import { buildWebApp } from './web.ts';

// Checked before anything starts, as each service checks its own.
const settings = (() => {
  try {
    return loadConfig(localRunnerSettings);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
})();

// NGINX serves the web app at / beside /graphql: build it once (rebuild with
// `npm run build --workspace @ticketing/web`).
buildWebApp({ ifMissing: true });

let shuttingDown = false;
/** A stop asked for while the services start: done once they have (see runService). */
let stopAskedWhileStarting = false;
const askStopWhileStarting = (signal: NodeJS.Signals) => {
  // A second Ctrl-C: the services got it too, and exit at once (see runService).
  if (stopAskedWhileStarting && signal === 'SIGINT') process.exit(130);
  stopAskedWhileStarting = true;
  console.log(
    '\nStopping once the services have started, each closing its database (Ctrl-C again to stop at once)...',
  );
};
for (const signal of stopSignals) process.on(signal, askStopWhileStarting);
let topology: Topology | undefined;
let supervisor: Supervisor | undefined;
/** A service that exited while the others were still starting. */
let exitedWhileStarting: string | undefined;
topology = await startTopology({
  publicPort: settings.PUBLIC_PORT,
  requestsPerClient: settings.EDGE_REQUESTS_PER_CLIENT,
  ephemeralPorts: settings.FREE_SERVICE_PORTS,
  onUnexpectedExit(service, code, signal) {
    // Asked to stop while starting, each service stops once it has started.
    if (shuttingDown || stopAskedWhileStarting) return;
    // While starting, the start reports a service that exited before it was ready, and stops
    // the rest itself; one that exited after is started again (supervise.ts).
    if (!supervisor) {
      exitedWhileStarting ??= `${service} stopped unexpectedly (code ${code}, signal ${signal})`;
      return;
    }
    supervisor.exited(service, code, signal);
  },
}).catch((error: unknown) => {
  // A service that stopped as asked before the others were ready: not a failure.
  if (stopAskedWhileStarting) process.exit(0);
  console.error(`\nThe topology did not start: ${(error as Error).message}`);
  process.exit(1);
});
if (exitedWhileStarting) {
  console.error(`\n${exitedWhileStarting}; stopping the rest.`);
  await shutDown(1);
}

async function shutDown(exitCode: number) {
  if (shuttingDown) {
    console.log('\nStill stopping: each service closes its database before it exits.');
    return;
  }
  shuttingDown = true;
  supervisor?.stop();
  console.log('\nStopping all services...');
  await topology?.stop();
  process.exit(exitCode);
}
supervisor = new Supervisor(topology, {
  output: (line) => console.error(`\n${line}`),
  onGiveUp(_service, reason) {
    console.error(`\n${reason}; stopping the rest.`);
    void shutDown(1);
  },
});
// Ctrl-C (SIGINT, which the services get too), SIGTERM, or SIGHUP from a closed terminal:
// the same clean stop. A repeated signal does not cut it short (the services' databases
// would be left open); each process still running after its grace period is killed.
for (const signal of stopSignals) process.on(signal, () => void shutDown(0));
// Only now the start's own handlers go: Node stops catching a signal when its last listener
// goes, and one caught meanwhile but not yet handled would be lost with it.
for (const signal of stopSignals) process.off(signal, askStopWhileStarting);
// A closed terminal fails every write from then on: the stop goes on without the output.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
if (stopAskedWhileStarting) await shutDown(0);

const ports = services
  .filter((spec) => topology.processes.has(spec.name))
  .map((spec) => {
    const running = topology.processes.get(spec.name);
    return `    ${spec.name.padEnd(10)} ${running?.url} (pid ${running?.child.pid})`;
  })
  .join('\n');
console.log(`
  Supergraph ready at ${topology.publicUrl}${topology.viaNginx ? ' (NGINX, 2 gateways)' : ' (one gateway, no NGINX)'}
  Open it in a browser for Apollo Sandbox, or ${new URL('/explorer', topology.publicUrl)} for the
  local explorer (works offline).${topology.viaNginx ? ` The web app is at ${new URL('/', topology.publicUrl)}.` : ''}
  A service that stops unexpectedly is started again. Ctrl-C stops everything, each
  service closing its database first (a second Ctrl-C does not cut that short).

  Services:
${ports}
`);
