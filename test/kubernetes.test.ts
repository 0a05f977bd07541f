// The Kubernetes manifests, without a cluster: every overlay renders with kustomize, every
// object is valid against the Kubernetes API's schemas, and the manifests agree with the
// code (ports, variables, health paths, wiring, drain timing, network policies). The last
// block shows that a drift of each kind is caught.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNginx, writeLocalNginxConfig } from '../scripts/nginx.ts';
import { freePort } from '../scripts/ports.ts';
import {
  type KubernetesObject,
  manifestProblems,
  type Overlay,
  overlays,
  podIsolationProblems,
  podSecurityProblems,
  renderOverlay,
  schemaProblems,
  unreachableUrls,
} from './kubernetes-manifests.ts';

const rendered = new Map<Overlay, KubernetesObject[]>();

beforeAll(() => {
  for (const overlay of overlays) rendered.set(overlay, renderOverlay(overlay));
});

const objectsOf = (overlay: Overlay) => rendered.get(overlay) as KubernetesObject[];

describe.each(overlays)('the %s overlay', (overlay) => {
  it('renders, and every object is valid against the Kubernetes API schemas', async () => {
    const objects = objectsOf(overlay);
    expect(objects.length).toBeGreaterThan(20);
    const problems = (await Promise.all(objects.map(schemaProblems))).flat();
    expect(problems).toEqual([]);
  });

  it('runs the services as the code expects', () => {
    expect(manifestProblems(objectsOf(overlay), overlay)).toEqual([]);
  });

  // The tickets service asks the users service which account an email names (a transfer,
  // door staff): with only the gateways let in, each of those failed in a cluster.
  it('lets each service reach every Service its URLs name', () => {
    expect(unreachableUrls(objectsOf(overlay))).toEqual([]);
  });

  // None of the services calls the Kubernetes API: a token mounted by default would only
  // serve whoever took over a process, as would the system calls no runtime profile filters.
  it('gives no pod a service-account token, and confines each to a seccomp profile', () => {
    expect(podIsolationProblems(objectsOf(overlay))).toEqual([]);
  });

  // NGINX, the one process that every client reaches, ran as root, with the runtime's
  // capabilities, and could rewrite its own configuration and the web app it serves.
  it('runs every process as a non-root user, without privileges, on a read-only image', () => {
    expect(podSecurityProblems(objectsOf(overlay), overlay)).toEqual([]);
  });
});

describe('a drift from the code', () => {
  const production = () => structuredClone(objectsOf('production'));
  const deployment = (objects: KubernetesObject[], name: string) => {
    const found = objects.find(
      (object) => object.kind === 'Deployment' && object.metadata.name === name,
    );
    if (!found) throw new Error(`no Deployment ${name}`);
    return found.spec.template.spec.containers[0];
  };

  it('in an object the API server would refuse fails validation', async () => {
    const objects = production();
    deployment(objects, 'users').ports[0].containerPort = '4001';
    const pdb = objects.find((object) => object.kind === 'PodDisruptionBudget');
    if (pdb) pdb.kind = 'PodDisruptionBudgett';
    const problems = (await Promise.all(objects.map(schemaProblems))).flat();
    expect(problems).toEqual([
      expect.stringMatching(/^Deployment\/users: .*containerPort must be integer/),
      expect.stringMatching(/^PodDisruptionBudgett\/\w+: .* is not a Kubernetes API kind$/),
    ]);
  });

  it('in a port fails', () => {
    const objects = production();
    const tickets = deployment(objects, 'tickets');
    tickets.ports[0].containerPort = 4999;
    expect(manifestProblems(objects, 'production')).toContain(
      'Deployment/tickets: containerPort is not 4003',
    );
  });

  it('in an environment variable fails', () => {
    const objects = production();
    const tickets = deployment(objects, 'tickets');
    tickets.env.push({ name: 'HOLD_SECOND', value: '60' });
    const events = deployment(objects, 'events');
    events.env = events.env.filter(
      (entry: { name: string }) => entry.name !== 'EVENT_RELAY_SECRET',
    );
    expect(manifestProblems(objects, 'production')).toEqual(
      expect.arrayContaining([
        'Deployment/tickets: sets HOLD_SECOND, which the service never reads',
        'Deployment/events: EVENT_RELAY_SECRET is missing (required in production)',
      ]),
    );
  });

  it('in a health path fails', () => {
    const objects = production();
    deployment(objects, 'gateway').readinessProbe.httpGet.path = '/healthz';
    expect(manifestProblems(objects, 'production')).toContain(
      'Deployment/gateway: readinessProbe is not on /health/ready',
    );
  });

  it('in a secret given as a literal or to the wrong service, a URL or a network policy fails', () => {
    const objects = production();
    const gateway = deployment(objects, 'gateway');
    const secret = gateway.env.find((entry: { name: string }) => entry.name === 'REDIS_URL');
    delete secret.valueFrom;
    secret.value = 'redis://user:password@redis:6379';
    gateway.env.find((entry: { name: string }) => entry.name === 'USERS_URL').value =
      'http://users:4000/graphql';
    const policy = objects.find(
      (object) => object.kind === 'NetworkPolicy' && object.metadata.name === 'database',
    );
    if (policy) policy.spec.podSelector = {};
    gateway.env.push({
      name: 'EVENT_RELAY_SECRET',
      valueFrom: { secretKeyRef: { name: 'ticketing-secrets', key: 'event-relay-secret' } },
    });
    expect(manifestProblems(objects, 'production')).toEqual(
      expect.arrayContaining([
        'Deployment/gateway: REDIS_URL is not taken from a Secret',
        'Deployment/gateway: USERS_URL is http://users:4000/graphql, not http://users:4001/graphql',
        'NetworkPolicy: gateway → the database:5432 should be refused',
        'Deployment/gateway: holds EVENT_RELAY_SECRET, which is not its own',
      ]),
    );
  });
});

describe('a drift in how a pod starts and stops', () => {
  const production = () => structuredClone(objectsOf('production'));
  const podOf = (objects: KubernetesObject[], name: string) =>
    objects.find((object) => object.kind === 'Deployment' && object.metadata.name === name)?.spec
      .template.spec;

  it('in an image tag, a probe, a grace period or an init container’s secret fails', () => {
    const objects = production();
    const tickets = podOf(objects, 'tickets');
    tickets.containers[0].image = 'registry.example.com/ticketing/supergraph:latest';
    // A start that waits out a migration's lock must fail by itself, not be killed first.
    tickets.containers[0].startupProbe.failureThreshold = 10;
    const migrate = tickets.initContainers[0];
    migrate.env[0] = { name: 'TICKETS_DATABASE_URL', value: 'postgresql://u:p@db/tickets' };
    podOf(objects, 'nginx').terminationGracePeriodSeconds = 20;
    podOf(objects, 'gateway').containers[0].image = 'registry.example.com/ticketing/supergraph';
    expect(manifestProblems(objects, 'production')).toEqual(
      expect.arrayContaining([
        'Deployment/tickets: image registry.example.com/ticketing/supergraph:latest has no release tag',
        'Deployment/gateway: image registry.example.com/ticketing/supergraph has no release tag',
        'Deployment/tickets: startupProbe gives up before a migration’s lock wait ends',
        'Deployment/tickets: TICKETS_DATABASE_URL is not taken from a Secret (container migrate)',
        'Deployment/nginx: terminationGracePeriodSeconds cuts a request in flight short',
      ]),
    );
  });
});

describe('the edge in front of the gateway Service', () => {
  const scratch: string[] = [];
  afterAll(async () => {
    await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  // Both upstream entries name the one Service. When a connect to it fails twice (a
  // replica gone, still among the endpoints, reached on both tries), NGINX must not skip
  // both entries: the next connect may well reach a replica that serves.
  it('passes the next request on as soon as the Service answers again', async () => {
    const nginx = findNginx();
    if (!nginx) throw new Error('nginx is not installed (apt-get install nginx)');
    const production = objectsOf('production');
    const edge = production.find(
      (object) => object.kind === 'Deployment' && object.metadata.name === 'nginx',
    );
    const env: Record<string, string> = Object.fromEntries(
      edge?.spec.template.spec.containers[0].env.map((entry: { name: string; value: string }) => [
        entry.name,
        entry.value,
      ]),
    );
    // The Service's address, here on this machine, where nothing listens yet.
    const servicePort = await freePort();
    const local = (address: string | undefined) =>
      address === 'gateway:4000' ? `127.0.0.1:${servicePort}` : String(address);
    const gateway = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"data":{"__typename":"Query"}}');
    });
    let child: ChildProcess | undefined;
    try {
      // NGINX's port is drawn before it binds it, and another process may take it meanwhile
      // (and answer /health/live, as every service does): NGINX is up once it wrote its pid
      // file, which it does after binding; one that exited with its port taken starts again
      // on a port drawn anew, three times at most.
      let base = '';
      for (let attempt = 1; !base; attempt++) {
        const prefix = await mkdtemp(join(tmpdir(), 'ticketing-edge-'));
        scratch.push(prefix);
        await chmod(prefix, 0o755);
        const listenPort = await freePort();
        const config = await writeLocalNginxConfig(prefix, {
          listenPort,
          gateways: [local(env.GATEWAY_1_ADDR), local(env.GATEWAY_2_ADDR)],
          corsOrigins: env.CORS_ORIGINS ?? '',
          webRoot: prefix,
          ...(env.GATEWAY_MAX_FAILS === undefined
            ? {}
            : { gatewayMaxFails: Number(env.GATEWAY_MAX_FAILS) }),
          ...(env.EDGE_REQUESTS_PER_CLIENT
            ? { requestsPerClient: Number(env.EDGE_REQUESTS_PER_CLIENT) }
            : {}),
        });
        const started = spawn(
          nginx,
          ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log')],
          {
            stdio: 'ignore',
          },
        );
        child = started;
        const deadline = Date.now() + 10_000;
        for (;;) {
          if (started.exitCode !== null || started.signalCode !== null) {
            const log = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
            const causes = log.split('\n').filter((line) => line.includes('[emerg]'));
            if (attempt < 3 && causes.some((line) => line.includes('Address already in use'))) {
              break;
            }
            throw new Error(`NGINX exited with code ${started.exitCode}: ${causes.join('; ')}`);
          }
          const pid = await readFile(join(prefix, 'nginx.pid'), 'utf8').catch(() => '');
          if (pid.trim() === String(started.pid)) {
            const live = await fetch(`http://127.0.0.1:${listenPort}/health/live`).catch(
              () => undefined,
            );
            await live?.body?.cancel();
            if (live?.ok) {
              base = `http://127.0.0.1:${listenPort}`;
              break;
            }
          }
          if (Date.now() > deadline) throw new Error('NGINX did not start within 10 s');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const query = () =>
        fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"query":"{ __typename }"}',
        });
      expect((await query()).status).toBe(502);

      gateway.listen(servicePort, '127.0.0.1');
      await once(gateway, 'listening');
      const answer = await query();
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ data: { __typename: 'Query' } });
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      gateway.close();
    }
  });
});
