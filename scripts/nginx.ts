import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultRequestsPerClient } from './services.ts';

export const nginxTemplatePath = resolve(
  import.meta.dirname,
  '..',
  'nginx',
  'templates',
  'gateway.conf.template',
);

/**
 * Fills `${NAME}` placeholders the way the nginx image's envsubst step does: only names
 * given in `variables`; NGINX's own `$variables` stay. A placeholder left unfilled is an
 * error, so that a template change cannot silently render a broken configuration.
 */
export function renderTemplate(template: string, variables: Record<string, string>): string {
  const rendered = template.replace(/\$\{([A-Z][A-Z0-9_]*)\}/g, (placeholder, name: string) =>
    Object.hasOwn(variables, name) ? (variables[name] as string) : placeholder,
  );
  const missing = rendered.match(/\$\{[A-Z][A-Z0-9_]*\}/g);
  if (missing) throw new Error(`No value for ${[...new Set(missing)].join(', ')} in the template`);
  return rendered;
}

/** The script that turns CORS_ORIGINS into the template's pattern, as the nginx image runs it. */
export const corsScriptPath = resolve(import.meta.dirname, '..', 'nginx', 'cors-origins.envsh');

/** The built web app (npm run build --workspace @ticketing/web), served at `/`. */
export const webRoot = resolve(import.meta.dirname, '..', 'clients', 'web', 'dist');

/**
 * In development, pages served from localhost or 127.0.0.1 on any port may call the API
 * (a frontend's dev server); in production, no other origin until CORS_ORIGINS lists it.
 */
export const developmentCorsOrigins = 'http://localhost:*,http://127.0.0.1:*';

export interface EdgeSettings {
  listenPort: number;
  /** host:port of each gateway instance. */
  gateways: [string, string];
  /**
   * Failed attempts after which an entry of `gateways` is skipped for 5 s
   * (GATEWAY_MAX_FAILS): 1 for two gateways; 0, never, when both name one Service that
   * spreads connections over its replicas.
   * @default 1
   */
  gatewayMaxFails?: number;
  /**
   * Origins allowed to call the API from a browser, comma-separated (CORS_ORIGINS; a port
   * of `*` allows any). Default: CORS_ORIGINS, else `developmentCorsOrigins` outside
   * production and none in production.
   */
  corsOrigins?: string;
  /** The folder served at `/` (default: the built web app). */
  webRoot?: string;
  /**
   * Requests one client address may have in progress at once (EDGE_REQUESTS_PER_CLIENT,
   * default `defaultRequestsPerClient`); beyond that the edge answers 429.
   */
  requestsPerClient?: number;
}

/** The default allowlist for this process's environment. */
export function defaultCorsOrigins(env: NodeJS.ProcessEnv = process.env): string {
  return env.CORS_ORIGINS ?? (env.NODE_ENV === 'production' ? '' : developmentCorsOrigins);
}

/** CORS_ORIGIN_PATTERN for an allowlist, computed by the same script as under compose. */
export function corsOriginPattern(corsOrigins: string): string {
  try {
    return execFileSync(
      'sh',
      ['-c', '. "$0" && printf %s "$CORS_ORIGIN_PATTERN"', corsScriptPath],
      {
        env: { PATH: process.env.PATH, CORS_ORIGINS: corsOrigins },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (error) {
    // The script says which origin it refused.
    throw new Error(String((error as { stderr?: string }).stderr ?? error).trim());
  }
}

export function edgeVariables({
  listenPort,
  gateways,
  gatewayMaxFails = 1,
  corsOrigins = defaultCorsOrigins(),
  webRoot: root = webRoot,
  requestsPerClient = defaultRequestsPerClient,
}: EdgeSettings): Record<string, string> {
  if (!Number.isInteger(requestsPerClient) || requestsPerClient < 1) {
    throw new Error(`EDGE_REQUESTS_PER_CLIENT must be a whole number from 1: ${requestsPerClient}`);
  }
  if (!Number.isInteger(gatewayMaxFails) || gatewayMaxFails < 0) {
    throw new Error(`GATEWAY_MAX_FAILS must be a whole number from 0: ${gatewayMaxFails}`);
  }
  return {
    NGINX_PORT: String(listenPort),
    GATEWAY_1_ADDR: gateways[0],
    GATEWAY_2_ADDR: gateways[1],
    GATEWAY_MAX_FAILS: String(gatewayMaxFails),
    CORS_ORIGIN_PATTERN: corsOriginPattern(corsOrigins),
    WEB_ROOT: root,
    EDGE_REQUESTS_PER_CLIENT: String(requestsPerClient),
    // Beside the configuration: NGINX takes a relative path from its prefix.
    NGINX_ACCESS_LOG: 'access.log',
  };
}

/**
 * A Service as Kubernetes gives one: one address in front of a set of interchangeable
 * instances, for runs with several replicas of a service (startTopology's `replicas`).
 */
export interface ServiceUpstream {
  name: string;
  /** The port the Service listens on (on 127.0.0.1). */
  listenPort: number;
  /** host:port of each instance. */
  instances: string[];
}

/**
 * The parameter that takes an upstream `server` out of rotation: NGINX sends it nothing new
 * (see serviceUpstreamsConfig for why an instance leaves before it is signalled).
 */
function rotationFlag(instance: string, outOfRotation: ReadonlySet<string>): string {
  return outOfRotation.has(instance) ? ' down' : '';
}

/**
 * The Services' part of a local NGINX configuration. Like kube-proxy, it spreads requests
 * over the instances and sends a request whose connect failed (an instance crashed) to
 * another; one already sent is never sent again. Idle connections to instances close after
 * the same 4 s as the edge's, within the services' drain deadline.
 *
 * An instance in `outOfRotation` (host:port) is marked `down`, as Kubernetes removes a
 * stopping pod's endpoint before it signals the pod: NGINX sends it nothing new, so that
 * the instance stops with no connect on its way in. Refused connects would be retried, but
 * a connect the kernel completed into the instance's listen backlog just before the
 * instance closed its listening socket is reset with the request already sent on it, and
 * NGINX answers that POST with a 502.
 */
export function serviceUpstreamsConfig(
  services: readonly ServiceUpstream[],
  outOfRotation: ReadonlySet<string> = new Set(),
): string {
  return services
    .map(
      ({ name, listenPort, instances }) => `upstream service_${name.replace(/\W/g, '_')} {
${instances.map((instance) => `    server ${instance} max_fails=1 fail_timeout=5s${rotationFlag(instance, outOfRotation)};`).join('\n')}
    keepalive 32;
    keepalive_timeout 4s;
}

server {
    listen 127.0.0.1:${listenPort};
    # The Service's clients (the edge, the gateways) send one request a connection. An
    # instance leaves the rotation by a reload, whose old worker closes the idle
    # connections clients keep to it: a POST sent on one at that moment would be lost.
    # kube-proxy, which this stands for, only forwards connections and closes none.
    keepalive_timeout 0;
    location / {
        proxy_pass http://service_${name.replace(/\W/g, '_')};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_next_upstream error timeout;
        proxy_next_upstream_tries ${instances.length};
        proxy_connect_timeout 2s;
        proxy_read_timeout 30s;
    }
}
`,
    )
    .join('\n');
}

/** Writes the Services' part of the configuration under `prefix` (see serviceUpstreamsConfig). */
export async function writeServicesConfig(
  prefix: string,
  services: readonly ServiceUpstream[],
  outOfRotation: ReadonlySet<string> = new Set(),
): Promise<void> {
  await writeFile(join(prefix, 'services.conf'), serviceUpstreamsConfig(services, outOfRotation));
}

/**
 * The edge's part of the configuration: the template rendered, with each gateway in
 * `outOfRotation` (host:port) marked `down` in the `gateways` upstream, as the runner's
 * restart does before it signals a gateway (serviceUpstreamsConfig says why). The template
 * itself has no place for it: compose and Kubernetes render it too, and take a gateway out
 * of rotation by other means (Kubernetes removes a stopping pod's endpoint from its Service).
 */
export function edgeConfig(
  template: string,
  edge: EdgeSettings,
  outOfRotation: ReadonlySet<string> = new Set(),
): string {
  const site = renderTemplate(template, edgeVariables(edge));
  if (outOfRotation.size === 0) return site;
  if (edge.gateways[0] === edge.gateways[1]) {
    throw new Error('Both upstream entries name one Service: it takes its instances out itself');
  }
  const marked = new Set<string>();
  const upstream = /upstream gateways \{[^}]*\}/.exec(site);
  if (!upstream) throw new Error('The template has no `upstream gateways` block');
  const block = upstream[0].replace(
    /^(\s*server (\S+) [^;\n]*);$/gm,
    (line, head: string, address: string) => {
      if (!outOfRotation.has(address)) return line;
      marked.add(address);
      return `${head}${rotationFlag(address, outOfRotation)};`;
    },
  );
  const unknown = [...outOfRotation].filter((address) => !marked.has(address));
  if (unknown.length > 0) throw new Error(`No gateway at ${unknown.join(', ')} in the edge`);
  return site.replace(upstream[0], () => block);
}

/** Writes the edge's part of the configuration under `prefix` (see edgeConfig). */
export async function writeEdgeConfig(
  prefix: string,
  edge: EdgeSettings,
  outOfRotation: ReadonlySet<string> = new Set(),
): Promise<void> {
  const template = await readFile(nginxTemplatePath, 'utf8');
  await writeFile(join(prefix, 'gateway.conf'), edgeConfig(template, edge, outOfRotation));
}

/** The worker processes of the NGINX master `masterPid`. */
function workersOf(masterPid: number): number[] {
  return liveProcesses()
    .filter((entry) => entry.ppid === masterPid)
    .map((entry) => entry.pid);
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Has the NGINX master `masterPid` load its configuration again (SIGHUP), and resolves
 * once every worker that ran the old one has exited: from then on, every request goes by
 * the new configuration. NGINX does this gracefully: the old workers finish the requests
 * they are proxying (within the proxy timeouts) and close their idle connections, and the
 * new ones take the listening sockets, which stay open throughout. A configuration NGINX
 * refuses leaves the old workers running: an error after `timeoutMs`.
 */
export async function reloadNginx(
  masterPid: number,
  errorLog: string,
  timeoutMs = 40_000,
): Promise<void> {
  const previous = workersOf(masterPid);
  if (previous.length === 0) throw new Error(`NGINX (pid ${masterPid}) has no worker to replace`);
  process.kill(masterPid, 'SIGHUP');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = workersOf(masterPid);
    // New workers run, and none of the old ones is left.
    if (current.length > 0 && !current.some((pid) => previous.includes(pid))) return;
    if (!isAlive(masterPid)) throw new Error(`NGINX exited while reloading; see ${errorLog}`);
    if (Date.now() > deadline) {
      throw new Error(`NGINX did not reload within ${timeoutMs} ms; see ${errorLog}`);
    }
    await sleep(20);
  }
}

/** The path of the nginx binary, or undefined when NGINX is not installed. */
export function findNginx(): string | undefined {
  for (const candidate of [process.env.NGINX_BIN, 'nginx', '/usr/sbin/nginx']) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

/**
 * Writes a runnable configuration under `prefix`: the shared template rendered, inside the
 * process-level settings that the nginx image supplies under compose (foreground, pid,
 * logs and temp folders kept under the prefix, so that no root-owned path is needed).
 * Returns the main configuration file's path.
 */
export async function writeLocalNginxConfig(
  prefix: string,
  edge: EdgeSettings,
  services: readonly ServiceUpstream[] = [],
): Promise<string> {
  const temp = join(prefix, 'temp');
  await mkdir(temp, { recursive: true });
  await writeEdgeConfig(prefix, edge);
  await writeServicesConfig(prefix, services);
  const main = `# Generated by scripts/nginx.ts for a local run; edit nginx/templates/ instead.
daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;

events {
    # Each request takes a client and an upstream connection: room for a few thousand
    # concurrent clients on the one worker.
    worker_connections 8192;
}

http {
    # Log lines are written 64 KiB at a time, or every second, instead of one write a
    # request: the same log, without a system call per request on the one worker.
    access_log ${join(prefix, 'access.log')} combined buffer=64k flush=1s;
    client_body_temp_path ${join(temp, 'client_body')};
    proxy_temp_path ${join(temp, 'proxy')};
    fastcgi_temp_path ${join(temp, 'fastcgi')};
    uwsgi_temp_path ${join(temp, 'uwsgi')};
    scgi_temp_path ${join(temp, 'scgi')};
    include ${join(prefix, 'gateway.conf')};
    include ${join(prefix, 'services.conf')};
}
`;
  const mainPath = join(prefix, 'nginx.conf');
  await writeFile(mainPath, main);
  return mainPath;
}

/**
 * Every live process (zombies left out), with its parent, its process group and its command
 * line. `ps -A -o`, not `--ppid` or `-g`: the same on Linux and macOS.
 */
function liveProcesses(): { pid: number; ppid: number; pgid: number; command: string }[] {
  let listing: string;
  try {
    listing = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat=,command='], {
      encoding: 'utf8',
    });
  } catch {
    return [];
  }
  return listing.split('\n').flatMap((line) => {
    const match = line.trim().match(/^(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*(.*)$/);
    if (!match || match[4]?.startsWith('Z')) return [];
    const [pid, ppid, pgid] = [match[1], match[2], match[3]].map(Number) as [
      number,
      number,
      number,
    ];
    return [{ pid, ppid, pgid, command: match[5] ?? '' }];
  });
}

/** The live processes of process group `pgid`, with their command lines. */
function groupMembers(pgid: number): { pid: number; command: string }[] {
  return liveProcesses().filter((entry) => entry.pgid === pgid);
}

/**
 * Stops the NGINX that an earlier run left under `prefix` with the configuration `config`,
 * if one still runs: `npm start` ended without stopping it (a SIGKILL of its whole process
 * group, a crash of the machine's session), and it would hold the public port in front of
 * nothing. NGINX runs in a process group of its own, led by its master, whose pid its pid
 * file names. The group is stopped only if every process in it is NGINX, its master (if it
 * still runs) started with this very configuration: a pid the system gave since to another
 * program, or another project's NGINX, is left alone. Returns the group stopped.
 */
export async function stopLeftoverNginx(
  prefix: string,
  config: string,
  graceMs = 5_000,
): Promise<number | undefined> {
  const pidText = await readFile(join(prefix, 'nginx.pid'), 'utf8').catch(() => undefined);
  const pgid = Number(pidText?.trim());
  if (!Number.isInteger(pgid) || pgid <= 1) return undefined;
  const members = groupMembers(pgid);
  const ours =
    members.length > 0 &&
    members.every(({ pid, command }) =>
      pid === pgid
        ? command.startsWith('nginx: master process') && command.includes(` -c ${config}`)
        : command.startsWith('nginx: '),
    );
  if (!ours) return undefined;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(-pgid, signal);
    } catch {
      return pgid;
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (groupMembers(pgid).length === 0) return pgid;
      await sleep(50);
    }
  }
  return pgid;
}

/**
 * Stops NGINX's process group when this process ends, however it ends. NGINX cannot watch
 * its parent, and its group of its own is out of reach of what ends `npm start`'s (a
 * terminal's hang-up, a kill of the group). The watchdog is a shell reading a pipe from
 * this process, which the kernel closes when this process ends, even by SIGKILL; it then
 * sends the group SIGTERM (NGINX's fast shutdown), and SIGKILL if it is still there 5 s
 * later. It ignores the signals that end a foreground job, so that Ctrl-C leaves the stop
 * to this process, which kills the watchdog (`SIGKILL`) once it stopped NGINX itself. What
 * even the watchdog misses (killed with the group) `stopLeftoverNginx` stops on the next
 * start.
 */
export function watchOverNginx(pgid: number): ChildProcess {
  const script = [
    'trap "" HUP INT TERM',
    'read -r _',
    'kill -TERM -"$0" 2>/dev/null || exit 0',
    'sleep 5',
    'kill -KILL -"$0" 2>/dev/null',
  ].join('; ');
  const watchdog = spawn('sh', ['-c', script, String(pgid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // Neither keeps this process alive.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  return watchdog;
}
