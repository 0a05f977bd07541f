// The Kubernetes manifests (deploy/kubernetes) rendered as a cluster would get them, each
// object checked against the Kubernetes API's schemas (kubernetes-models), and against what
// the services really do: their commands, ports, health paths, the variables they read, how
// they reach each other and how long they take to drain. test/kubernetes.test.ts runs it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsSettings } from '@ticketing/events-subgraph/subgraph';
import { gatewaySettings, subgraphReadinessWaitMs } from '@ticketing/gateway/main';
import {
  readinessDeadlineMs,
  type SubgraphName,
  servicePaths,
  shutdownSettings,
  stopWaitMs,
  subgraphSecret,
  subgraphStartSettings,
} from '@ticketing/platform';
import { migrationLockWaitMs } from '@ticketing/prisma';
import { eventsDatabase } from '@ticketing/prisma/events';
import { ticketsDatabase } from '@ticketing/prisma/tickets';
import { usersDatabase } from '@ticketing/prisma/users';
import { ticketsSettings } from '@ticketing/tickets-subgraph/subgraph';
import { usersSettings } from '@ticketing/users-subgraph/subgraph';
import { parseAllDocuments } from 'yaml';
import {
  corsOriginPattern,
  corsScriptPath,
  nginxTemplatePath,
  renderTemplate,
} from '../scripts/nginx.ts';
import {
  gatewayServices,
  nodeFlags,
  type ServiceSpec,
  serviceCommand,
  subgraphServices,
  tokenIssuer,
} from '../scripts/services.ts';
import { repositoryRoot } from '../scripts/topology.ts';

export const kubernetesDir = join(repositoryRoot, 'deploy', 'kubernetes');
export const overlays = ['development', 'production'] as const;
export type Overlay = (typeof overlays)[number];

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, checked below.
type Json = any;

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Json;
  data?: Record<string, string>;
}

/**
 * What a cluster would receive for `overlay`: `kubectl kustomize`, as in the README. Throws
 * when kubectl is missing, so that CI cannot pass without rendering.
 */
export function renderOverlay(overlay: Overlay): KubernetesObject[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', join(kubernetesDir, 'overlays', overlay)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') {
      throw new Error(
        'kubectl (1.27 or later, for its built-in kustomize v5) is required to render the manifests: see the README, Running on Kubernetes.',
      );
    }
    throw error;
  }
  return parseAllDocuments(output).map((document) => document.toJS() as KubernetesObject);
}

/**
 * The object's violations of its API schema, or an empty list. Every kind must be known to
 * kubernetes-models: an unknown kind is a problem too, not a pass.
 */
export async function schemaProblems(object: KubernetesObject): Promise<string[]> {
  const where = `${object.kind}/${object.metadata?.name}`;
  let model: Json;
  try {
    const module = await import(
      /* @vite-ignore */ `kubernetes-models/${object.apiVersion}/${object.kind}`
    );
    model = module[object.kind];
  } catch {
    return [`${where}: ${object.apiVersion} ${object.kind} is not a Kubernetes API kind`];
  }
  // kustomize folds long base64 values over lines, which the API server's decoder skips.
  const unfolded =
    object.kind === 'Secret' && object.data
      ? {
          ...object,
          data: Object.fromEntries(
            Object.entries(object.data).map(([key, value]) => [key, value.replace(/\s/g, '')]),
          ),
        }
      : object;
  try {
    new model(unfolded).validate();
    return [];
  } catch (error) {
    return [`${where}: ${(error as Error).message}`];
  }
}

/** A Deployment in the manifests, and the process of the project it runs. */
interface Workload {
  name: string;
  spec: ServiceSpec;
  /** Whether the service reads an environment variable. */
  reads: (variable: string) => boolean;
  /** Variables it cannot run in production without. */
  requiredInProduction: string[];
}

const keysOf = (...schemas: { shape: object }[]) =>
  new Set(schemas.flatMap((schema) => Object.keys(schema.shape)));

/** Whether `subgraphSecret(subgraph, …)` takes its secret from `variable`. */
const readsSecret = (subgraphs: SubgraphName[], variable: string) =>
  subgraphs.some((subgraph) => {
    const value = `a-secret-of-at-least-32-characters-${variable}`;
    try {
      return subgraphSecret(subgraph, { NODE_ENV: 'production', [variable]: value }) === value;
    } catch {
      return false;
    }
  });

const databases = { users: usersDatabase, events: eventsDatabase, tickets: ticketsDatabase };

function subgraphWorkload(
  spec: ServiceSpec,
  settings: { shape: object },
  secrets: SubgraphName[],
): Workload {
  const name = spec.name as SubgraphName;
  const database = databases[name];
  const keys = keysOf(settings, subgraphStartSettings(spec.port), shutdownSettings);
  return {
    name,
    spec,
    reads: (variable) =>
      keys.has(variable) ||
      readsSecret(secrets, variable) ||
      // The database is PostgreSQL when its URL is set; DATA_DIR places the embedded one.
      database.locate({ [variable]: 'postgresql://db/x' }).kind === 'postgres' ||
      (variable === 'DATA_DIR' && database.locate({ DATA_DIR: '/x' }).kind === 'pglite'),
    requiredInProduction: [
      database.urlVariable,
      // A replay to another replica is refused only through the shared store.
      'REDIS_URL',
      ...secrets.map((subgraph) => `${subgraph.toUpperCase()}_SUBGRAPH_SECRET`),
    ],
  };
}

const specOf = (name: string) => {
  const spec = subgraphServices.find((candidate) => candidate.name === name);
  if (!spec) throw new Error(`no service ${name}`);
  return spec;
};

const gatewayKeys = keysOf(gatewaySettings, shutdownSettings);

/** The project's services, as the manifests must run them. */
export const workloads: Workload[] = [
  {
    ...subgraphWorkload(specOf('users'), usersSettings, ['users', 'tickets']),
    // Without keys in production the users service refuses to start; the manifest may mark
    // the reference optional for development, but production must provide it.
    requiredInProduction: [
      'USERS_DATABASE_URL',
      'USERS_SUBGRAPH_SECRET',
      'TICKETS_SUBGRAPH_SECRET',
      'REDIS_URL',
    ],
  },
  (() => {
    const workload = subgraphWorkload(specOf('events'), eventsSettings, ['events']);
    return {
      ...workload,
      requiredInProduction: [...workload.requiredInProduction, 'EVENT_RELAY_SECRET'],
    };
  })(),
  (() => {
    const workload = subgraphWorkload(specOf('tickets'), ticketsSettings, [
      'tickets',
      'events',
      'users',
    ]);
    return {
      ...workload,
      requiredInProduction: [...workload.requiredInProduction, 'EVENT_RELAY_SECRET'],
    };
  })(),
  {
    name: 'gateway',
    spec: gatewayServices[0] as ServiceSpec,
    reads: (variable) =>
      gatewayKeys.has(variable) || readsSecret(['users', 'events', 'tickets'], variable),
    requiredInProduction: [
      'USERS_SUBGRAPH_SECRET',
      'EVENTS_SUBGRAPH_SECRET',
      'TICKETS_SUBGRAPH_SECRET',
      'REDIS_URL',
    ],
  },
];

/** Variables whose values are credentials: they come from Secrets, never from a literal. */
const secretVariable = /SECRET|PASSWORD|SIGNING_KEYS$|DATABASE_URL$|REDIS_URL$/;

const byKind = (objects: KubernetesObject[], kind: string) =>
  objects.filter((object) => object.kind === kind);

const find = (objects: KubernetesObject[], kind: string, name: string) =>
  objects.find((object) => object.kind === kind && object.metadata.name === name);

const matchesSelector = (selector: Json, labels: Record<string, string> = {}): boolean => {
  if (!selector) return false;
  const matchLabels = Object.entries(selector.matchLabels ?? {}).every(
    ([key, value]) => labels[key] === value,
  );
  const expressions = (selector.matchExpressions ?? []).every(
    (expression: { key: string; operator: string; values?: string[] }) => {
      const value = labels[expression.key];
      switch (expression.operator) {
        case 'In':
          return value !== undefined && (expression.values ?? []).includes(value);
        case 'NotIn':
          return value === undefined || !(expression.values ?? []).includes(value);
        case 'Exists':
          return value !== undefined;
        default:
          return value === undefined;
      }
    },
  );
  return matchLabels && expressions;
};

/** A sleep-only preStop hook's length in seconds, or 0. */
const preStopSeconds = (container: Json): number => {
  const command: string[] | undefined = container.lifecycle?.preStop?.exec?.command;
  if (command?.[0] === 'sleep') return Number(command[1]);
  return Number(container.lifecycle?.preStop?.sleep?.seconds ?? 0);
};

/** Where a connection goes: a pod with labels, or an address outside the cluster. */
type Peer = { labels: Record<string, string> } | { external: true };

/**
 * Whether NetworkPolicies let `from` open a TCP connection to `to` on `port`: the egress
 * policies selecting `from` and the ingress policies selecting `to` must both admit it (a
 * pod no policy selects for a direction is open in that direction). Peers chosen by
 * namespace only stand for other namespaces; ip blocks for addresses outside the cluster.
 */
export function connectionAllowed(
  objects: KubernetesObject[],
  from: { labels: Record<string, string> },
  to: Peer,
  port: number,
): boolean {
  const policies = byKind(objects, 'NetworkPolicy');
  const peerMatches = (peer: Json, target: Peer) => {
    if (peer.ipBlock) return 'external' in target;
    if (peer.namespaceSelector) return false;
    return 'labels' in target && matchesSelector(peer.podSelector, target.labels);
  };
  const ruleAdmits = (rule: Json, peers: Json[] | undefined, target: Peer) =>
    (rule.ports === undefined ||
      rule.ports.some(
        (entry: { port?: number }) => entry.port === undefined || entry.port === port,
      )) &&
    (peers === undefined || peers.some((peer) => peerMatches(peer, target)));
  const admitted = (direction: 'Ingress' | 'Egress', selected: Peer, other: Peer) => {
    if (!('labels' in selected)) return true;
    const applying = policies.filter(
      (policy) =>
        (policy.spec.policyTypes ?? ['Ingress']).includes(direction) &&
        matchesSelector(policy.spec.podSelector, selected.labels),
    );
    if (applying.length === 0) return true;
    return applying.some((policy) =>
      direction === 'Ingress'
        ? (policy.spec.ingress ?? []).some((rule: Json) => ruleAdmits(rule, rule.from, other))
        : (policy.spec.egress ?? []).some((rule: Json) => ruleAdmits(rule, rule.to, other)),
    );
  };
  return admitted('Egress', from, to) && admitted('Ingress', to, from);
}

/** A Deployment's pod labels, to stand for one of its pods. */
export const podOf = (objects: KubernetesObject[], name: string) => ({
  labels: (find(objects, 'Deployment', name)?.spec?.template?.metadata?.labels ?? {}) as Record<
    string,
    string
  >,
});

/**
 * The URLs of other Services that the pods are given (every `http://` variable of every
 * container), each of which the NetworkPolicies must let that pod open: a URL the network
 * refuses fails only when a client first takes the path that uses it. An empty list when
 * every one is reachable.
 */
export function unreachableUrls(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const deployment of byKind(objects, 'Deployment')) {
    const pod = deployment.spec.template.spec;
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const { name, value } of container.env ?? []) {
        if (typeof value !== 'string' || !/^https?:\/\//.test(value)) continue;
        const url = new URL(value);
        const service = find(objects, 'Service', url.hostname);
        const entry = service?.spec.ports.find(
          (candidate: { port: number }) => String(candidate.port) === url.port,
        );
        if (!service || !entry) continue; // not a Service of the overlay: checked elsewhere
        const target = byKind(objects, 'Deployment').find((candidate) =>
          matchesSelector(
            { matchLabels: service.spec.selector },
            candidate.spec.template.metadata.labels,
          ),
        );
        if (!target) continue;
        // The port the pod listens on: the Service's targetPort, by number or by name.
        const targetPort =
          typeof entry.targetPort === 'number'
            ? entry.targetPort
            : (target.spec.template.spec.containers
                .flatMap((candidate: Json) => candidate.ports ?? [])
                .find((candidate: Json) => candidate.name === (entry.targetPort ?? entry.port))
                ?.containerPort ?? entry.port);
        if (
          !connectionAllowed(
            objects,
            podOf(objects, deployment.metadata.name),
            podOf(objects, target.metadata.name),
            targetPort,
          )
        ) {
          problems.push(
            `Deployment/${deployment.metadata.name}: ${name} is ${value}, which its NetworkPolicies refuse`,
          );
        }
      }
    }
  }
  return problems;
}

/** The Deployments of the project's own processes: the Node services and NGINX. */
const projectDeployments = (objects: KubernetesObject[]) =>
  [...workloads.map((workload) => workload.name), 'nginx'].flatMap(
    (name) => find(objects, 'Deployment', name) ?? [],
  );

/**
 * What a compromised process of the project could reach beyond its own work: a Kubernetes
 * API token none of them uses (mounted by default), and every system call the kernel has
 * (a pod with no seccomp profile runs unconfined, whatever the node's runtime would apply).
 */
export function podIsolationProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const deployment of projectDeployments(objects)) {
    const where = `Deployment/${deployment.metadata.name}`;
    const pod = deployment.spec.template.spec;
    if (pod.automountServiceAccountToken !== false) {
      problems.push(`${where}: mounts a service-account token`);
    }
    const confined = (context: Json) =>
      ['RuntimeDefault', 'Localhost'].includes(context?.seccompProfile?.type);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      if (!confined(container.securityContext) && !confined(pod.securityContext)) {
        problems.push(`${where}: container ${container.name} runs without a seccomp profile`);
      }
    }
  }
  return problems;
}

/**
 * Where each image writes, beside its emptyDir volumes: the Node services write only to
 * /tmp (and the users service to its DATA_DIR); the edge image, NGINX's unprivileged one,
 * its pid file and temp folders to /tmp and the rendered template to /etc/nginx/conf.d.
 */
const writablePaths: Record<string, string[]> = {
  nginx: ['/tmp', '/etc/nginx/conf.d'],
};

/**
 * The restricted Pod Security Standard, and a read-only root filesystem, for every process
 * of the project: a process someone took over runs as no root user, gains no privilege,
 * holds no capability and changes no file of its image.
 */
export function podSecurityProblems(objects: KubernetesObject[], overlay: Overlay): string[] {
  const problems: string[] = [];
  // In production the API server refuses a pod that breaks the standard; development runs
  // the stock PostgreSQL and Redis images beside them, which start as root.
  const namespace = byKind(objects, 'Namespace')[0];
  if (
    overlay === 'production' &&
    namespace?.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== 'restricted'
  ) {
    problems.push(
      `Namespace/${namespace?.metadata.name}: does not enforce the restricted standard`,
    );
  }
  for (const deployment of projectDeployments(objects)) {
    const name = deployment.metadata.name;
    const where = `Deployment/${name}`;
    const pod = deployment.spec.template.spec;
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const context = { ...pod.securityContext, ...container.securityContext };
      const problem = (text: string) =>
        problems.push(`${where}: container ${container.name} ${text}`);
      if (context.runAsNonRoot !== true || context.runAsUser === 0) problem('may run as root');
      if (context.allowPrivilegeEscalation !== false) problem('may gain privileges');
      if (context.privileged === true) problem('is privileged');
      if (!context.capabilities?.drop?.includes('ALL')) problem('keeps its capabilities');
      if ((context.capabilities?.add ?? []).some((added: string) => added !== 'NET_BIND_SERVICE')) {
        problem('adds a capability');
      }
      if (context.readOnlyRootFilesystem !== true) problem('may write to its image');
    }
    const main = pod.containers.find((container: Json) => container.name === name);
    for (const path of writablePaths[name] ?? []) {
      const mount = main?.volumeMounts?.find((entry: Json) => entry.mountPath === path);
      const volume = pod.volumes?.find((entry: Json) => entry.name === mount?.name);
      if (!volume?.emptyDir || mount.readOnly) {
        problems.push(`${where}: nothing writable at ${path}, where the image writes`);
      }
    }
  }
  return problems;
}

/**
 * Everything in `objects` (one rendered overlay) that disagrees with the project: an empty
 * list when the manifests run the services as the code expects.
 */
export function manifestProblems(objects: KubernetesObject[], overlay: Overlay): string[] {
  const problems: string[] = [];
  const problem = (text: string) => problems.push(text);
  const services = byKind(objects, 'Service');
  const serviceAt = (url: string) => {
    const parsed = new URL(url);
    return services.find(
      (service) =>
        service.metadata.name === parsed.hostname &&
        service.spec.ports.some((entry: { port: number }) => String(entry.port) === parsed.port),
    );
  };
  const nginxTemplate = readFileSync(nginxTemplatePath, 'utf8');
  const keepaliveSeconds = Number(/keepalive_timeout\s+(\d+)s;/.exec(nginxTemplate)?.[1]);

  for (const workload of workloads) {
    const deployment = find(objects, 'Deployment', workload.name);
    if (!deployment) {
      problem(`${workload.name}: no Deployment`);
      continue;
    }
    const where = `Deployment/${workload.name}`;
    const pod = deployment.spec.template.spec;
    const container = pod.containers.find((entry: Json) => entry.name === workload.name);
    if (!container) {
      problem(`${where}: no container named ${workload.name}`);
      continue;
    }
    const port = workload.spec.port;
    const env = new Map<string, Json>(container.env.map((entry: Json) => [entry.name, entry]));
    const literal = (name: string): string | undefined => env.get(name)?.value;

    // The process: the command `npm start` and compose run, on the port they use.
    if (JSON.stringify(container.command) !== JSON.stringify(serviceCommand(workload.spec))) {
      problem(`${where}: command ${JSON.stringify(container.command)} is not the service's`);
    }
    const http = container.ports?.find((entry: Json) => entry.name === 'http');
    if (http?.containerPort !== port) problem(`${where}: containerPort is not ${port}`);
    if (literal('PORT') !== String(port)) problem(`${where}: PORT is not ${port}`);
    if (literal('HOST') !== '0.0.0.0') problem(`${where}: HOST is not 0.0.0.0`);

    // Every variable is one the service reads; those it needs in production are there.
    for (const name of env.keys()) {
      if (!workload.reads(name)) problem(`${where}: sets ${name}, which the service never reads`);
    }
    for (const name of workload.requiredInProduction) {
      if (!env.has(name)) problem(`${where}: ${name} is missing (required in production)`);
    }

    // Probes on the paths the services serve.
    const probePath = (probe: string) => container[probe]?.httpGet;
    for (const [probe, path] of [
      ['startupProbe', servicePaths.live],
      ['livenessProbe', servicePaths.live],
      ['readinessProbe', servicePaths.ready],
    ] as const) {
      const get = probePath(probe);
      if (get?.path !== path) problem(`${where}: ${probe} is not on ${path}`);
      if (get && get.port !== 'http' && get.port !== port) {
        problem(`${where}: ${probe} is not on port ${port}`);
      }
    }

    // A readiness probe waits for the answer longer than the service takes to give it
    // whatever is frozen behind it, with a second to spare for a busy pod. A probe that
    // times out counts as not ready: with Kubernetes' default (1 s), one frozen subgraph
    // would take every gateway, then every NGINX, out of the Services.
    const readinessMs = workload.name === 'gateway' ? subgraphReadinessWaitMs : readinessDeadlineMs;
    const probeTimeout = (probe: Json) => (probe?.timeoutSeconds ?? 1) * 1000;
    if (probeTimeout(container.readinessProbe) < readinessMs + 1_000) {
      problem(`${where}: readinessProbe times out before readiness answers (${readinessMs} ms)`);
    }

    // Draining fits: the hook, then the drain deadline, within the grace period; NGINX
    // closes its idle connections before the deadline.
    const drainMs = shutdownSettings.parse({
      DRAIN_DEADLINE_MS: literal('DRAIN_DEADLINE_MS'),
    }).DRAIN_DEADLINE_MS;
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (preStopSeconds(container) < 1) problem(`${where}: no preStop pause`);
    // A subgraph then waits a little more for its background work and its database.
    const afterDrainMs = workload.name === 'gateway' ? 0 : stopWaitMs;
    if (grace < preStopSeconds(container) + (drainMs + afterDrainMs) / 1000 + 1) {
      problem(`${where}: terminationGracePeriodSeconds ${grace} cuts the drain short`);
    }
    // A start waits up to migrationLockWaitMs for a lock its migrations need, then fails by
    // itself, naming the session that holds it: the startup probe lets it, where a probe
    // that gave up first would kill the pod with nothing said.
    const startupMs =
      (container.startupProbe?.periodSeconds ?? 10) *
      (container.startupProbe?.failureThreshold ?? 3) *
      1000;
    if (workload.spec.kind === 'subgraph' && startupMs < migrationLockWaitMs + 10_000) {
      problem(`${where}: startupProbe gives up before a migration’s lock wait ends`);
    }
    if (drainMs <= keepaliveSeconds * 1000) {
      problem(`${where}: DRAIN_DEADLINE_MS ${drainMs} is within NGINX's keepalive_timeout`);
    }

    // Reached through a Service on its own port.
    const service = find(objects, 'Service', workload.name);
    if (!service?.spec.ports.some((entry: Json) => entry.port === port)) {
      problem(`Service/${workload.name}: does not expose port ${port}`);
    } else if (
      !matchesSelector({ matchLabels: service.spec.selector }, podOf(objects, workload.name).labels)
    ) {
      problem(`Service/${workload.name}: does not select the Deployment's pods`);
    }

    for (const entry of [...pod.containers, ...(pod.initContainers ?? [])]) {
      if (!entry.resources?.requests || !entry.resources?.limits) {
        problem(`${where}: container ${entry.name} has no requests and limits`);
      }
    }

    if (workload.spec.kind === 'subgraph') {
      // Migrations by the init container, on the same database, before the service starts.
      const migrate = pod.initContainers?.find((entry: Json) => entry.name === 'migrate');
      const expected = ['node', ...nodeFlags, 'prisma/scripts/migrate.ts', workload.name];
      if (JSON.stringify(migrate?.command) !== JSON.stringify(expected)) {
        problem(`${where}: no init container migrating ${workload.name}'s database`);
      } else {
        const variable = databases[workload.name as SubgraphName].urlVariable;
        const mine = migrate.env?.find((entry: Json) => entry.name === variable);
        if (JSON.stringify(mine?.valueFrom) !== JSON.stringify(env.get(variable)?.valueFrom)) {
          problem(`${where}: migrations run against another database than the service's`);
        }
      }
    }
  }

  // How the services find each other: URLs at Services that exist, on the right paths.
  const envOf = (name: string) =>
    new Map<string, string>(
      (find(objects, 'Deployment', name)?.spec.template.spec.containers[0]?.env ?? []).map(
        (entry: Json) => [entry.name, entry.value],
      ),
    );
  const expectUrl = (service: string, variable: string, url: string) => {
    const actual = envOf(service).get(variable);
    if (actual !== url) problem(`Deployment/${service}: ${variable} is ${actual}, not ${url}`);
    else if (!serviceAt(url)) problem(`Deployment/${service}: no Service answers ${url}`);
  };
  for (const subgraph of subgraphServices) {
    expectUrl(
      'gateway',
      `${subgraph.name.toUpperCase()}_URL`,
      `http://${subgraph.name}:${subgraph.port}/graphql`,
    );
  }
  expectUrl(
    'gateway',
    'AUTH_JWKS_URL',
    `http://${tokenIssuer}:${specOf(tokenIssuer).port}/.well-known/jwks.json`,
  );
  expectUrl(
    'events',
    'EVENT_CHANGES_URL',
    `http://tickets:${specOf('tickets').port}/internal/event-changes`,
  );
  expectUrl('tickets', 'EVENTS_URL', `http://events:${specOf('events').port}/graphql`);
  expectUrl('tickets', 'USERS_URL', `http://users:${specOf('users').port}/graphql`);
  expectUrl('users', 'TICKETS_URL', `http://tickets:${specOf('tickets').port}/graphql`);

  // The gateways sit behind NGINX pods on private addresses: they must trust its
  // X-Forwarded-For from there, or every client would count as NGINX's one address.
  const gatewayEnv = find(objects, 'Deployment', 'gateway')?.spec.template.spec.containers?.[0]
    ?.env;
  const trusted = gatewayEnv?.find((entry: Json) => entry.name === 'TRUSTED_PROXIES')?.value;
  if (!String(trusted ?? '').includes('uniquelocal')) {
    problem('Deployment/gateway: TRUSTED_PROXIES does not trust NGINX on the pod network');
  }

  // NGINX: the repository's template, as a ConfigMap, rendered by the image with these
  // variables, in front of the gateway Service.
  const nginx = find(objects, 'Deployment', 'nginx');
  const nginxPod = nginx?.spec.template.spec;
  const templates = nginxPod?.volumes?.find((volume: Json) => volume.configMap);
  const configMap = find(objects, 'ConfigMap', templates?.configMap?.name ?? '');
  if (configMap?.data?.['gateway.conf.template'] !== nginxTemplate) {
    problem('Deployment/nginx: does not mount nginx/templates/gateway.conf.template');
  }
  const nginxContainer = nginxPod?.containers?.[0];
  const mount = nginxContainer?.volumeMounts?.find((entry: Json) => entry.name === templates?.name);
  if (mount?.mountPath !== '/etc/nginx/templates') {
    problem('Deployment/nginx: the template is not where the image renders templates from');
  }
  const nginxEnv: Record<string, string> = Object.fromEntries(
    (nginxContainer?.env ?? []).map((entry: Json) => [entry.name, entry.value]),
  );
  // The image sources the CORS script before rendering, as compose and scripts/nginx.ts do.
  const corsScript = nginxContainer?.volumeMounts?.find(
    (entry: Json) => entry.mountPath === '/docker-entrypoint.d/15-cors-origins.envsh',
  );
  const corsVolume = nginxPod?.volumes?.find((volume: Json) => volume.name === corsScript?.name);
  const corsMap = find(objects, 'ConfigMap', corsVolume?.configMap?.name ?? '');
  if (
    corsMap?.data?.[corsScript?.subPath] !== readFileSync(corsScriptPath, 'utf8') ||
    (corsVolume?.configMap?.defaultMode & 0o111) === 0
  ) {
    problem('Deployment/nginx: does not source nginx/cors-origins.envsh before rendering');
  }
  try {
    const rendered = renderTemplate(nginxTemplate, {
      ...nginxEnv,
      CORS_ORIGIN_PATTERN: corsOriginPattern(nginxEnv.CORS_ORIGINS ?? ''),
    });
    for (const [, server] of rendered.matchAll(/^\s*server\s+([\w.-]+:\d+)/gm)) {
      if (!serviceAt(`http://${server}`) || !server?.startsWith('gateway:')) {
        problem(`Deployment/nginx: upstream ${server} is not the gateway Service`);
      }
    }
    const listen = /listen\s+(\d+)/.exec(rendered)?.[1];
    if (
      nginxContainer?.ports?.[0]?.containerPort !== Number(listen) ||
      !find(objects, 'Service', 'nginx')?.spec.ports.some(
        (entry: Json) => entry.targetPort === 'http' || entry.targetPort === Number(listen),
      )
    ) {
      problem(`Deployment/nginx: does not expose the port NGINX listens on (${listen})`);
    }
  } catch (error) {
    problem(`Deployment/nginx: ${(error as Error).message}`);
  }
  // NGINX finishes the requests in flight on SIGQUIT, each up to its read timeout.
  const readTimeoutSeconds = Math.max(
    ...[...nginxTemplate.matchAll(/proxy_read_timeout\s+(\d+)s;/g)].map(([, value]) =>
      Number(value),
    ),
  );
  if (
    (nginxPod?.terminationGracePeriodSeconds ?? 30) <
    preStopSeconds(nginxContainer ?? {}) + readTimeoutSeconds + 1
  ) {
    problem('Deployment/nginx: terminationGracePeriodSeconds cuts a request in flight short');
  }
  // NGINX's readiness is a gateway's.
  if (
    (nginxContainer?.readinessProbe?.timeoutSeconds ?? 1) * 1000 <
    subgraphReadinessWaitMs + 1_000
  ) {
    problem(`Deployment/nginx: readinessProbe times out before a gateway's readiness answers`);
  }
  for (const [probe, path] of [
    ['livenessProbe', servicePaths.live],
    ['readinessProbe', servicePaths.ready],
  ] as const) {
    const location = new RegExp(`location\\s+=\\s+${path.replaceAll('/', '\\/')}\\s`);
    if (nginxContainer?.[probe]?.httpGet?.path !== path || !location.test(nginxTemplate)) {
      problem(`Deployment/nginx: ${probe} is not on ${path}, which the template serves`);
    }
  }

  // Every Deployment of the project has a disruption budget.
  for (const name of [...workloads.map((workload) => workload.name), 'nginx']) {
    const labels = podOf(objects, name).labels;
    if (
      !byKind(objects, 'PodDisruptionBudget').some((pdb) =>
        matchesSelector(pdb.spec.selector, labels),
      )
    ) {
      problem(`Deployment/${name}: no PodDisruptionBudget`);
    }
  }

  if (overlay === 'production') {
    const nginxReplicas = find(objects, 'Deployment', 'nginx')?.spec.replicas ?? 1;
    if (nginxReplicas < 2) problem(`Deployment/nginx: ${nginxReplicas} replica(s) in production`);
    for (const workload of workloads) {
      const hpa = byKind(objects, 'HorizontalPodAutoscaler').find(
        (entry) =>
          entry.spec.scaleTargetRef.kind === 'Deployment' &&
          entry.spec.scaleTargetRef.name === workload.name,
      );
      const onCpu = hpa?.spec.metrics?.some((metric: Json) => metric.resource?.name === 'cpu');
      if (!hpa || !onCpu || hpa.spec.minReplicas < 2) {
        problem(`Deployment/${workload.name}: no CPU autoscaler keeping 2 or more replicas`);
      }
      // A count in the manifest would reset the autoscaler's on every apply.
      if (find(objects, 'Deployment', workload.name)?.spec.replicas !== undefined) {
        problem(`Deployment/${workload.name}: sets replicas, which its autoscaler owns`);
      }
    }
    if (byKind(objects, 'Secret').length > 0) {
      problem('production: a Secret is in the manifests; they are created in the cluster');
    }
  }

  for (const deployment of byKind(objects, 'Deployment')) {
    const pod = deployment.spec.template.spec;
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const where = `Deployment/${deployment.metadata.name}`;
      const which =
        container.name === deployment.metadata.name ? '' : ` (container ${container.name})`;
      // A release is one image, named by its tag: `latest`, or none, is whatever was pushed
      // last, and two pods of one Deployment may run different code.
      const tag = /^[^@]+:([\w.-]+)$/.exec(String(container.image).replace(/^[^/]+:\d+\//, ''));
      if (!tag || tag[1] === 'latest')
        problem(`${where}: image ${container.image} has no release tag${which}`);
      // Credentials come from Secrets, in every container, init containers included.
      for (const entry of container.env ?? []) {
        if (secretVariable.test(entry.name) && !entry.valueFrom?.secretKeyRef) {
          problem(`${where}: ${entry.name} is not taken from a Secret${which}`);
        }
      }
    }
  }

  // Paths the network cannot tell apart are guarded by secrets: only the gateways (and
  // tickets, for events and users, and users, for tickets) can sign for a subgraph's /graphql, only events and tickets hold
  // the relay's secret for /internal/*, and each database URL is its service's alone.
  const mayHold: Record<string, string[]> = {
    USERS_SUBGRAPH_SECRET: ['users', 'gateway', 'tickets'],
    EVENTS_SUBGRAPH_SECRET: ['events', 'gateway', 'tickets'],
    TICKETS_SUBGRAPH_SECRET: ['tickets', 'gateway', 'users'],
    EVENT_RELAY_SECRET: ['events', 'tickets'],
    USERS_DATABASE_URL: ['users'],
    EVENTS_DATABASE_URL: ['events'],
    TICKETS_DATABASE_URL: ['tickets'],
    AUTH_SIGNING_KEYS: ['users'],
  };
  for (const deployment of byKind(objects, 'Deployment')) {
    const pod = deployment.spec.template.spec;
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const { name } of container.env ?? []) {
        const holders = mayHold[name];
        if (holders && !holders.includes(deployment.metadata.name)) {
          problem(`Deployment/${deployment.metadata.name}: holds ${name}, which is not its own`);
        }
      }
    }
  }

  // Who reaches whom.
  const pod = (name: string) => podOf(objects, name);
  const database: Peer = overlay === 'production' ? { external: true } : podOf(objects, 'postgres');
  const redis: Peer = overlay === 'production' ? { external: true } : podOf(objects, 'redis');
  const expectations: [string, Peer, number, boolean][] = [
    ['nginx', pod('gateway'), 4000, true],
    ['nginx', pod('users'), 4001, false],
    ['nginx', pod('tickets'), 4003, false],
    ['gateway', pod('users'), 4001, true],
    ['gateway', pod('events'), 4002, true],
    ['gateway', pod('tickets'), 4003, true],
    ['events', pod('tickets'), 4003, true],
    ['tickets', pod('events'), 4002, true],
    ['users', pod('tickets'), 4003, true],
    ['users', pod('events'), 4002, false],
    ['tickets', pod('users'), 4001, true],
    ['events', pod('users'), 4001, false],
    ['gateway', database, 5432, false],
    ['nginx', redis, 6379, false],
    ['gateway', redis, 6379, true],
    ['tickets', redis, 6379, true],
    ['nginx', database, 5432, false],
    ['users', database, 5432, true],
    ['events', database, 5432, true],
    ['tickets', database, 5432, true],
  ];
  for (const [from, to, port, allowed] of expectations) {
    if (connectionAllowed(objects, pod(from), to, port) !== allowed) {
      const target =
        'labels' in to ? (to.labels['app.kubernetes.io/name'] ?? 'database') : 'the database';
      problem(
        `NetworkPolicy: ${from} → ${target}:${port} should be ${allowed ? 'allowed' : 'refused'}`,
      );
    }
  }
  return problems;
}
