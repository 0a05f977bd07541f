// Starts the whole topology as child processes: three subgraphs, two gateway instances
// and NGINX in front. `npm start` and the integration tests both run it.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  defaultCorsOrigins,
  type EdgeSettings,
  findNginx,
  reloadNginx,
  type ServiceUpstream,
  stopLeftoverNginx,
  watchOverNginx,
  writeEdgeConfig,
  writeLocalNginxConfig,
  writeServicesConfig,
} from './nginx.ts';
import { freePort } from './ports.ts';
import {
  defaultPublicPort,
  gatewayServices,
  nodeFlags,
  type ServiceSpec,
  serviceRoutes,
  subgraphServices,
  tokenIssuer,
} from './services.ts';

export const repositoryRoot = resolve(import.meta.dirname, '..');

export interface TopologyOptions {
  /** NGINX's port, the public endpoint (default 8080). */
  publicPort?: number;
  /** Requests one client address may have in progress at the edge (default 512). */
  requestsPerClient?: number;
  /** Each service on a free port (freePort) instead of its fixed one (tests, FREE_SERVICE_PORTS). */
  ephemeralPorts?: boolean;
  /** Environment for every service, over this process's own. */
  env?: NodeJS.ProcessEnv;
  /** Where NGINX's configuration, pid and logs go (default .data/nginx). */
  runDir?: string;
  /** Fail instead of falling back to one gateway when NGINX is not installed. */
  requireNginx?: boolean;
  /** The nginx binary; null runs as if NGINX were not installed (default: found on PATH). */
  nginxBinary?: string | null;
  /** Receives each line a service writes (default: printed, prefixed with its name). */
  output?: (service: string, line: string) => void;
  /** Called when a process exits that was not asked to stop. */
  onUnexpectedExit?: (service: string, code: number | null, signal: string | null) => void;
  readyTimeoutMs?: number;
  /**
   * Several instances of each service, as Kubernetes runs replicas: each subgraph's
   * instances behind a Service of their own, and the gateways behind a Service that both
   * of the edge's upstream entries name (as deploy/kubernetes does). Requires NGINX, which
   * plays the Services too. Instances are named `<service>-<n>`.
   */
  replicas?: ReplicaCounts;
}

export interface ReplicaCounts {
  /** Instances of each subgraph. */
  subgraphs: number;
  /** Gateway instances. */
  gateways: number;
}

export interface RunningProcess {
  readonly spec: ServiceSpec;
  readonly child: ChildProcess;
  /** The service's GraphQL endpoint. */
  readonly url: string;
}

export interface Topology extends AsyncDisposable {
  /** The public GraphQL endpoint. */
  readonly publicUrl: string;
  /** False when NGINX was missing and one gateway serves the public port. */
  readonly viaNginx: boolean;
  readonly processes: ReadonlyMap<string, RunningProcess>;
  /** With `replicas`: each Service's base URL (users, events, tickets, gateway). */
  readonly serviceUrls?: ReadonlyMap<string, string>;
  /**
   * Starts a service (or `nginx`) again, on the port and with the settings it had (after a
   * kill), with `env` over those settings from then on. One still running is stopped first
   * (SIGTERM, then its exit). Behind NGINX, an instance that NGINX sends requests to (a
   * gateway; with `replicas`, any instance) leaves NGINX's rotation before that, and is back
   * in once ready: NGINX connects to no instance on its way out, so the restart loses no
   * request.
   */
  restart(name: string, env?: NodeJS.ProcessEnv): Promise<RunningProcess>;
  /** Sends `signal` to a service's process; its exit is then expected, not reported. */
  signal(name: string, signal: NodeJS.Signals): void;
  /** Resolves once a service's current process has exited, with how it exited. */
  waitForExit(name: string): Promise<ProcessExit>;
  /** Stops everything: NGINX first, then the gateways, then the subgraphs. */
  stop(): Promise<void>;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const stopGraceMs = 10_000;

/**
 * The environment every service starts with, under the caller's own. @apollo/gateway
 * reports anonymous usage data to Apollo's servers unless its process starts with
 * APOLLO_TELEMETRY_DISABLED=true (it has no option for it); set it to false to allow it.
 */
export const launchDefaults: NodeJS.ProcessEnv = { APOLLO_TELEMETRY_DISABLED: 'true' };

export async function startTopology(options: TopologyOptions = {}): Promise<Topology> {
  const publicPort = options.publicPort ?? defaultPublicPort;
  const output = options.output ?? printServiceLine;
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const processes = new Map<string, RunningProcess>();
  const stopping = new Set<ChildProcess>();
  const children: { name: string; child: ChildProcess }[] = [];

  const track = (name: string, child: ChildProcess) => {
    // A restarted service keeps its place, so that `stop` still stops NGINX first.
    const previous = children.findIndex((entry) => entry.name === name);
    if (previous >= 0) children[previous] = { name, child };
    else children.push({ name, child });
    child.once('exit', (code, signal) => {
      if (!stopping.has(child)) options.onUnexpectedExit?.(name, code, signal);
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => output(name, line));
    }
  };

  const launched = new Map<string, { port: number; env: NodeJS.ProcessEnv }>();
  /** Set by stop(): nothing starts after it, not even a restart already under way. */
  let stoppedAll = false;
  const refuseAfterStop = (name: string, child: ChildProcess) => {
    if (!stoppedAll) return;
    stopping.add(child);
    child.kill('SIGKILL');
    throw new Error(`${name} was not started again: the topology is stopping`);
  };
  const launch = async (spec: ServiceSpec, port: number, env: NodeJS.ProcessEnv) => {
    const child = spawn(process.execPath, [...nodeFlags, ...(spec.flags ?? []), spec.entry], {
      cwd: repositoryRoot,
      env: {
        ...launchDefaults,
        ...process.env,
        ...options.env,
        ...env,
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    track(spec.name, child);
    refuseAfterStop(spec.name, child);
    const url = await waitForReady(spec.name, child, readyTimeoutMs);
    const running = { spec, child, url };
    processes.set(spec.name, running);
    launched.set(spec.name, { port: Number(new URL(url).port), env });
    return running;
  };

  /** Each NGINX's watchdog, which stops its group if this process ends without stopping it. */
  const watchdogs = new Map<ChildProcess, ChildProcess>();
  /** Stops NGINX: its master, then what is left of its group, then its watchdog. */
  const stopEdge = async (edge: ChildProcess) => {
    await stopChild(edge);
    // NGINX's workers outlive a master that was killed.
    killGroup(edge);
    watchdogs.get(edge)?.kill('SIGKILL');
    watchdogs.delete(edge);
  };

  /** NGINX as it was started: how to start it again. */
  let edgeLaunch: { nginx: string; prefix: string; config: string; origin: string } | undefined;
  const launchEdge = async (settings: NonNullable<typeof edgeLaunch>) => {
    const { nginx, prefix, config, origin } = settings;
    edgeLaunch = settings;
    const leftover = await stopLeftoverNginx(prefix, config);
    if (leftover) output('nginx', `stopped the NGINX an earlier run left (pid ${leftover})`);
    // In a process group of its own: if its master is killed, its workers would go on
    // holding the public port, and a restart kills the group first.
    const edge = spawn(nginx, ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    track('nginx', edge);
    refuseAfterStop('nginx', edge);
    if (edge.pid) watchdogs.set(edge, watchOverNginx(edge.pid));
    const taken = portsTaken(edge);
    try {
      await waitForHttp(`${origin}/health/live`, edge, join(prefix, 'error.log'), readyTimeoutMs);
    } catch (error) {
      const [port] = taken;
      if (port === undefined) throw error;
      throw new Error(
        `port ${port} is in use by another process: stop it${port === publicPort ? ', or set PUBLIC_PORT to a free port' : ''}`,
      );
    }
    return edge;
  };

  /**
   * Behind NGINX: each instance's address in its upstream, where the configuration is, and
   * how to write it with some instances out of rotation. An instance restarts out of its
   * upstream's rotation (serviceUpstreamsConfig says why), as a Deployment's pod leaves its
   * Service's endpoints before it is signalled (deploy/kubernetes: preStop), and is back in
   * once ready: with replicas, every instance in its Service; in the plain topology, each
   * gateway in the edge's upstream.
   */
  let rotation:
    | {
        addresses: ReadonlyMap<string, string>;
        prefix: string;
        write: (outOfRotation: ReadonlySet<string>) => Promise<void>;
      }
    | undefined;
  const outOfRotation = new Set<string>();
  /** Changes to the rotation, one at a time: each writes the configuration and reloads NGINX. */
  let rotationChanged: Promise<void> = Promise.resolve();
  const setInRotation = (name: string, inRotation: boolean): Promise<void> => {
    const address = rotation?.addresses.get(name);
    if (!rotation || !address) return Promise.resolve();
    const { prefix, write } = rotation;
    if (inRotation) outOfRotation.delete(address);
    else outOfRotation.add(address);
    const change = rotationChanged.then(async () => {
      await write(new Set(outOfRotation));
      const edge = children.find((entry) => entry.name === 'nginx')?.child;
      if (edge?.pid && edge.exitCode === null && edge.signalCode === null) {
        await reloadNginx(edge.pid, join(prefix, 'error.log'));
      }
    });
    rotationChanged = change.catch(() => {});
    return change;
  };

  const restart = async (name: string, env: NodeJS.ProcessEnv = {}) => {
    if (name === 'nginx') {
      if (!edgeLaunch) throw new Error('nginx was never started');
      const previous = children.find((entry) => entry.name === 'nginx')?.child;
      if (previous) {
        stopping.add(previous);
        await stopEdge(previous);
      }
      const child = await launchEdge(edgeLaunch);
      return { spec: { name: 'nginx' } as ServiceSpec, child, url: `${edgeLaunch.origin}/graphql` };
    }
    const previous = processes.get(name);
    const settings = launched.get(name);
    if (!previous || !settings) throw new Error(`${name} was never started`);
    stopping.add(previous.child);
    // NGINX sends it nothing new before it is signalled, and again once it is ready.
    await setInRotation(name, false);
    await stopChild(previous.child);
    const running = await launch(previous.spec, settings.port, { ...settings.env, ...env });
    await setInRotation(name, true);
    return running;
  };

  const processOf = (name: string) => {
    const running = processes.get(name);
    if (!running) throw new Error(`${name} was never started`);
    return running.child;
  };

  const signal = (name: string, signalName: NodeJS.Signals) => {
    const child = processOf(name);
    stopping.add(child);
    child.kill(signalName);
  };

  const waitForExit = async (name: string): Promise<ProcessExit> => {
    const child = processOf(name);
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    return { code: child.exitCode, signal: child.signalCode };
  };

  const stop = async () => {
    stoppedAll = true;
    // Reverse start order: the edge stops taking requests before what serves them goes.
    for (const { child } of children) stopping.add(child);
    for (const { name, child } of children.toReversed()) {
      await (name === 'nginx' ? stopEdge(child) : stopChild(child));
    }
  };

  const topologyAt = (
    publicUrl: string,
    viaNginx: boolean,
    serviceUrls?: ReadonlyMap<string, string>,
  ): Topology => ({
    publicUrl,
    viaNginx,
    processes,
    ...(serviceUrls ? { serviceUrls } : {}),
    restart,
    signal,
    waitForExit,
    stop,
    [Symbol.asyncDispose]: stop,
  });

  /** Every service as `replicas` asks, each behind its Service, NGINX last. */
  const startReplicas = async (counts: ReplicaCounts, nginx: string): Promise<Topology> => {
    // Every address is known before anything starts: the Services' and the instances'.
    const instancesOf = (spec: ServiceSpec, count: number) =>
      Array.from({ length: count }, (_, i) => ({ ...spec, name: `${spec.name}-${i + 1}` }));
    const [gateway] = gatewayServices as [ServiceSpec];
    const groups = [
      ...subgraphServices.map((spec) => ({
        name: spec.name,
        instances: instancesOf(spec, counts.subgraphs),
      })),
      { name: 'gateway', instances: instancesOf({ ...gateway, name: 'gateway' }, counts.gateways) },
    ];
    const upstreams: ServiceUpstream[] = [];
    const instancePorts = new Map<string, number>();
    for (const group of groups) {
      for (const instance of group.instances) instancePorts.set(instance.name, await freePort());
      upstreams.push({
        name: group.name,
        listenPort: await freePort(),
        instances: group.instances.map(
          (instance) => `127.0.0.1:${instancePorts.get(instance.name)}`,
        ),
      });
    }
    const serviceUrls = new Map(
      upstreams.map((service) => [service.name, `http://127.0.0.1:${service.listenPort}`]),
    );
    const serviceUrl = (name: string, path = '/graphql') => `${serviceUrls.get(name)}${path}`;
    const authEnv = { AUTH_JWKS_URL: serviceUrl(tokenIssuer, serviceRoutes.jwks) };
    const subgraphEnv: Record<string, NodeJS.ProcessEnv> = {
      events: { EVENT_CHANGES_URL: serviceUrl('tickets', serviceRoutes.eventChanges) },
      tickets: { EVENTS_URL: serviceUrl('events'), USERS_URL: serviceUrl('users') },
      users: { TICKETS_URL: serviceUrl('tickets') },
    };
    const [subgraphGroups, gatewayGroup] = [groups.slice(0, -1), groups.at(-1)];
    // The first instance of each subgraph migrates its new database; the others start once
    // it is current, as a Deployment's pods do after the release's migration (a replica
    // waits for Prisma Migrate's advisory lock only 10 s, less than a migration may take
    // on a busy machine).
    const launchInstance = (group: (typeof groups)[number], instance: ServiceSpec) =>
      launch(instance, instancePorts.get(instance.name) as number, {
        ...authEnv,
        ...subgraphEnv[group.name],
      });
    await Promise.all(
      subgraphGroups.map((group) => launchInstance(group, group.instances[0] as ServiceSpec)),
    );
    await Promise.all(
      subgraphGroups.flatMap((group) =>
        group.instances.slice(1).map((instance) => launchInstance(group, instance)),
      ),
    );
    const subgraphUrls = {
      ...authEnv,
      ...Object.fromEntries(
        subgraphServices.map((spec) => [`${spec.name.toUpperCase()}_URL`, serviceUrl(spec.name)]),
      ),
    };
    await Promise.all(
      (gatewayGroup?.instances ?? []).map((instance) =>
        launch(instance, instancePorts.get(instance.name) as number, {
          ...subgraphUrls,
          GATEWAY_NAME: instance.name,
        }),
      ),
    );
    const prefix = resolve(options.runDir ?? join(repositoryRoot, '.data', 'nginx'));
    const gatewayService = new URL(serviceUrl('gateway', '')).host;
    const config = await writeLocalNginxConfig(
      prefix,
      // Both entries are the gateway Service, as under Kubernetes: never skipped.
      { listenPort: publicPort, gateways: [gatewayService, gatewayService], gatewayMaxFails: 0 },
      upstreams,
    );
    rotation = {
      addresses: new Map([...instancePorts].map(([name, port]) => [name, `127.0.0.1:${port}`])),
      prefix,
      write: (down) => writeServicesConfig(prefix, upstreams, down),
    };
    const origin = `http://127.0.0.1:${publicPort}`;
    await launchEdge({ nginx, prefix, config, origin });
    return topologyAt(`${origin}/graphql`, true, serviceUrls);
  };

  try {
    if (options.replicas) {
      const nginx = options.nginxBinary === undefined ? findNginx() : options.nginxBinary;
      if (!nginx) throw new Error('Replicas run behind NGINX, which is not installed.');
      return await startReplicas(options.replicas, nginx);
    }
    // Every subgraph's address is known before any starts: the users service publishes the
    // keys the others verify tokens with, and the events relay and the tickets service call
    // each other. Free ports are drawn for the gateways too, not left to the OS (port 0): a
    // gateway started again takes its port again, which one from the OS's range for outgoing
    // connections could be some client's by then (see freePort).
    const ports = new Map<string, number>();
    for (const spec of [...subgraphServices, ...gatewayServices]) {
      ports.set(spec.name, options.ephemeralPorts ? await freePort() : spec.port);
    }
    const urlOf = (name: string, path = '/graphql') => `http://127.0.0.1:${ports.get(name)}${path}`;
    const authEnv = { AUTH_JWKS_URL: urlOf(tokenIssuer, serviceRoutes.jwks) };
    const subgraphEnv: Record<string, NodeJS.ProcessEnv> = {
      events: { EVENT_CHANGES_URL: urlOf('tickets', serviceRoutes.eventChanges) },
      tickets: { EVENTS_URL: urlOf('events'), USERS_URL: urlOf('users') },
      users: { TICKETS_URL: urlOf('tickets') },
    };
    const subgraphs = await Promise.all(
      subgraphServices.map((spec) =>
        launch(spec, ports.get(spec.name) as number, { ...authEnv, ...subgraphEnv[spec.name] }),
      ),
    );
    const subgraphUrls = {
      ...authEnv,
      ...Object.fromEntries(
        subgraphs.map(({ spec, url }) => [`${spec.name.toUpperCase()}_URL`, url]),
      ),
    };

    const nginx = options.nginxBinary === undefined ? findNginx() : options.nginxBinary;
    if (!nginx) {
      if (options.requireNginx) throw new Error('NGINX is required but not installed.');
      output(
        'start',
        'NGINX is not installed, so one gateway serves the public port without the load ' +
          'balancer. Install it to run the full topology (Debian/Ubuntu: apt-get install ' +
          'nginx; macOS: brew install nginx), or set NGINX_BIN to its path.',
      );
      const [lone] = gatewayServices as [ServiceSpec];
      const gateway = await launch(lone, publicPort, { ...subgraphUrls, GATEWAY_NAME: lone.name });
      return topologyAt(gateway.url, false);
    }

    const gateways = await Promise.all(
      gatewayServices.map((spec) =>
        launch(spec, ports.get(spec.name) as number, { ...subgraphUrls, GATEWAY_NAME: spec.name }),
      ),
    );
    const prefix = resolve(options.runDir ?? join(repositoryRoot, '.data', 'nginx'));
    const edgeSettings: EdgeSettings = {
      corsOrigins: defaultCorsOrigins({ ...process.env, ...options.env }),
      listenPort: publicPort,
      gateways: gateways.map(({ url }) => new URL(url).host) as [string, string],
      requestsPerClient: options.requestsPerClient,
    };
    const config = await writeLocalNginxConfig(prefix, edgeSettings);
    rotation = {
      addresses: new Map(gateways.map(({ spec, url }) => [spec.name, new URL(url).host])),
      prefix,
      write: (down) => writeEdgeConfig(prefix, edgeSettings, down),
    };
    const origin = `http://127.0.0.1:${publicPort}`;
    await launchEdge({ nginx, prefix, config, origin });
    return topologyAt(`${origin}/graphql`, true);
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves with the URL a service reports over IPC once it listens. */
function waitForReady(name: string, child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} was not ready within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'ready' && message.url) {
        clearTimeout(timer);
        resolveReady(message.url);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
}

/**
 * Waits until NGINX answers `url`. The answer must be NGINX's own (its `Server` header): a
 * port NGINX failed to bind, because another process took it first, may be answered by
 * that process, and NGINX then exits, naming the cause in its log.
 */
async function waitForHttp(url: string, child: ChildProcess, logPath: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      const cause = log
        .trim()
        .split('\n')
        .findLast((line) => line.includes('[emerg]'));
      throw new Error(
        `nginx exited with code ${child.exitCode}${cause ? `: ${cause}` : ''}; see ${logPath}`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.ok && response.headers.get('server') === 'nginx') return;
    } catch {
      // Not listening yet.
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** The ports NGINX says, as it starts, another process holds (its `bind() … failed`). */
function portsTaken(edge: ChildProcess): Set<number> {
  const ports = new Set<number>();
  if (edge.stderr) {
    createInterface({ input: edge.stderr }).on('line', (line) => {
      const port = /bind\(\) to \S+:(\d+) failed \(\d+: Address already in use\)/.exec(line)?.[1];
      if (port) ports.add(Number(port));
    });
  }
  return ports;
}

/** Whatever is left of a process group whose leader has exited (NGINX's workers). */
function killGroup(leader: ChildProcess): void {
  try {
    if (leader.pid) process.kill(-leader.pid, 'SIGKILL');
  } catch {
    // None left.
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after a grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
  await exited;
  clearTimeout(timer);
}

const levelNames: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Prints a service's line, shortening its JSON log entries for a terminal. */
export function printServiceLine(service: string, line: string): void {
  let text = line;
  try {
    const { level, msg, time: _time, service: _service, ...fields } = JSON.parse(line);
    const extra = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    text = `${(levelNames[level] ?? String(level)).padEnd(5)} ${msg}${extra}`;
  } catch {
    // Not a JSON log entry: print it as it is.
  }
  process.stdout.write(`${service.padEnd(9)} | ${text}\n`);
}
