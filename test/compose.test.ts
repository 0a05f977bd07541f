// compose.yaml cannot run here (no Docker engine), so it is checked by reading it: it must
// run the services `npm start` runs, with the commands, ports and wiring the runner uses.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import dockerignoreModule from '@balena/dockerignore';
import { shutdownSettings, stopWaitMs } from '@ticketing/platform';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { corsOriginPattern, nginxTemplatePath, renderTemplate } from '../scripts/nginx.ts';
import {
  defaultRequestsPerClient,
  gatewayServices,
  serviceCommand,
  services,
  subgraphServices,
  tokenIssuer,
} from '../scripts/services.ts';
import { repositoryRoot } from '../scripts/topology.ts';

interface ComposeService {
  build?: string | { context: string; target?: string };
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  tmpfs?: string[];
  stop_grace_period?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
}

let compose: { services: Record<string, ComposeService> };

beforeAll(async () => {
  compose = parse(await readFile(join(repositoryRoot, 'compose.yaml'), 'utf8'), { merge: true });
});

const serviceOf = (name: string): ComposeService => {
  const service = compose.services[name];
  if (!service) throw new Error(`compose.yaml has no service ${name}`);
  return service;
};

describe('compose.yaml', () => {
  it('runs exactly the local runner’s services, plus PostgreSQL, Redis and NGINX', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [...services.map((spec) => spec.name), 'postgres', 'redis', 'nginx'].sort(),
    );
  });

  it('gives every service the same Redis (persisted queries, used assertions)', () => {
    for (const service of services) {
      expect(serviceOf(service.name).environment?.REDIS_URL, service.name).toBe(
        'redis://redis:6379',
      );
      expect(serviceOf(service.name).depends_on?.redis?.condition).toBe('service_healthy');
    }
  });

  it('seeds no demo data: production, and SEED_DEMO_DATA never asks for it', () => {
    for (const spec of subgraphServices) {
      const environment = serviceOf(spec.name).environment ?? {};
      expect(environment.NODE_ENV, spec.name).toBe('production');
      expect(environment.SEED_DEMO_DATA ?? 'false', spec.name).toBe('false');
    }
  });

  // NGINX, PostgreSQL and Redis had none: one crash (an out-of-memory kill) and the whole
  // API, or every write, stayed down until someone started it by hand.
  it('starts every service again when it stops unexpectedly, and none on a stop asked for', () => {
    const policies = Object.fromEntries(
      Object.entries(compose.services).map(([name, service]) => [name, service.restart]),
    );
    expect(policies).toEqual(
      Object.fromEntries(Object.keys(compose.services).map((name) => [name, 'unless-stopped'])),
    );
  });

  // As in the Kubernetes pods: a process someone took over gains no privilege, holds no
  // capability and changes no file of its image; it writes only where the image writes
  // (/tmp; NGINX's rendered template too), on a tmpfs. PostgreSQL and Redis are the stock
  // images, which start as root.
  it('runs every process of the project without privileges, on a read-only image', () => {
    const writes: Record<string, string[]> = { nginx: ['/tmp', '/etc/nginx/conf.d'] };
    for (const name of [...services.map((spec) => spec.name), 'nginx']) {
      const service = serviceOf(name);
      expect(
        {
          readOnly: service.read_only,
          capDrop: service.cap_drop,
          noNewPrivileges: service.security_opt?.includes('no-new-privileges:true'),
          tmpfs: service.tmpfs,
        },
        name,
      ).toEqual({
        readOnly: true,
        capDrop: ['ALL'],
        noNewPrivileges: true,
        tmpfs: writes[name] ?? ['/tmp'],
      });
    }
  });

  it('names every image by a tag of its own, never latest', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.image, name).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
    }
  });

  it('gives every service a healthcheck', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
    }
  });

  it.each(services.map((spec) => [spec.name, spec] as const))(
    '%s: same image built from the Dockerfile, same command and port as npm start',
    (name, spec) => {
      const service = serviceOf(name);
      expect(service.build).toBe('.');
      expect(service.command).toEqual(serviceCommand(spec));
      expect(service.environment?.PORT).toBe(String(spec.port));
      expect(service.environment?.HOST).toBe('0.0.0.0');
      expect(service.healthcheck?.test.join(' ')).toContain(
        `http://127.0.0.1:${spec.port}/health/ready`,
      );
    },
  );

  // Docker sends SIGKILL 10 s after the stop signal unless told otherwise: a subgraph drains
  // for up to DRAIN_DEADLINE_MS (8 s) and then waits up to 2 s more for its background
  // work and its database, and NGINX finishes a request for up to its 30 s read timeout.
  it('gives each service the time its stop takes before Docker kills it', async () => {
    const seconds = (duration: string | undefined) => {
      if (duration === undefined) return 10;
      const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
      const unit = { ms: 0.001, s: 1, m: 60, h: 3600 } as const;
      return parts.reduce(
        (total, [, amount, name]) => total + Number(amount) * unit[name as keyof typeof unit],
        0,
      );
    };
    for (const spec of services) {
      const service = serviceOf(spec.name);
      const drainMs = shutdownSettings.parse({
        DRAIN_DEADLINE_MS: service.environment?.DRAIN_DEADLINE_MS,
      }).DRAIN_DEADLINE_MS;
      const stopMs = drainMs + (spec.kind === 'subgraph' ? stopWaitMs : 0);
      expect(seconds(service.stop_grace_period), spec.name).toBeGreaterThanOrEqual(
        stopMs / 1000 + 1,
      );
    }
    const template = await readFile(nginxTemplatePath, 'utf8');
    const readTimeout = Math.max(
      ...[...template.matchAll(/proxy_read_timeout\s+(\d+)s;/g)].map(([, value]) => Number(value)),
    );
    expect(seconds(serviceOf('nginx').stop_grace_period), 'nginx').toBeGreaterThanOrEqual(
      readTimeout + 1,
    );
  });

  it('gives each subgraph its own database on the PostgreSQL service', () => {
    const urls = subgraphServices.map((spec) => {
      const url = serviceOf(spec.name).environment?.[`${spec.name.toUpperCase()}_DATABASE_URL`];
      expect(url, spec.name).toBeDefined();
      const parsed = new URL(url as string);
      expect(parsed.hostname).toBe('postgres');
      expect(serviceOf(spec.name).depends_on?.postgres?.condition).toBe('service_healthy');
      return parsed.pathname;
    });
    expect(new Set(urls).size).toBe(subgraphServices.length);
  });

  it('points every access-token verifier (the gateways) at the users service’s JWKS', () => {
    const issuer = services.find((spec) => spec.name === tokenIssuer);
    const jwks = `http://${issuer?.name}:${issuer?.port}/.well-known/jwks.json`;
    for (const spec of gatewayServices) {
      expect(serviceOf(spec.name).environment?.AUTH_JWKS_URL, spec.name).toBe(jwks);
    }
  });

  it('gives each subgraph its own secret, and the gateways the same ones', () => {
    const secrets = subgraphServices.map((spec) => {
      const variable = `${spec.name.toUpperCase()}_SUBGRAPH_SECRET`;
      const secret = serviceOf(spec.name).environment?.[variable];
      // Under compose the services run in production, where 32 characters are required.
      expect(secret?.replace(/^\$\{\w+:-(.*)\}$/, '$1').length, variable).toBeGreaterThanOrEqual(
        32,
      );
      for (const gateway of gatewayServices) {
        expect(serviceOf(gateway.name).environment?.[variable], gateway.name).toBe(secret);
      }
      return secret;
    });
    expect(new Set(secrets).size).toBe(subgraphServices.length);
    expect(serviceOf('tickets').environment?.EVENTS_SUBGRAPH_SECRET).toBe(
      serviceOf('events').environment?.EVENTS_SUBGRAPH_SECRET,
    );
    expect(serviceOf('tickets').environment?.USERS_SUBGRAPH_SECRET).toBe(
      serviceOf('users').environment?.USERS_SUBGRAPH_SECRET,
    );
    // The users service closes an account in the tickets service before deleting it.
    expect(serviceOf('users').environment?.TICKETS_SUBGRAPH_SECRET).toBe(
      serviceOf('tickets').environment?.TICKETS_SUBGRAPH_SECRET,
    );
    const tickets = subgraphServices.find((spec) => spec.name === 'tickets');
    expect(serviceOf('users').environment?.TICKETS_URL).toBe(
      `http://tickets:${tickets?.port}/graphql`,
    );
  });

  it('has the events outbox relay deliver to the tickets service, with the same secret', () => {
    const tickets = subgraphServices.find((spec) => spec.name === 'tickets');
    const events = serviceOf('events').environment;
    expect(events?.EVENT_CHANGES_URL).toBe(
      `http://tickets:${tickets?.port}/internal/event-changes`,
    );
    expect(events?.EVENT_RELAY_SECRET).toBeDefined();
    expect(serviceOf('tickets').environment?.EVENT_RELAY_SECRET).toBe(events?.EVENT_RELAY_SECRET);
    const eventsSpec = subgraphServices.find((spec) => spec.name === 'events');
    expect(serviceOf('tickets').environment?.EVENTS_URL).toBe(
      `http://events:${eventsSpec?.port}/graphql`,
    );
  });

  it('points each gateway at every subgraph by service name and port', () => {
    for (const gateway of gatewayServices) {
      const environment = serviceOf(gateway.name).environment;
      expect(environment?.GATEWAY_NAME).toBe(gateway.name);
      for (const subgraph of subgraphServices) {
        expect(environment?.[`${subgraph.name.toUpperCase()}_URL`]).toBe(
          `http://${subgraph.name}:${subgraph.port}/graphql`,
        );
        expect(serviceOf(gateway.name).depends_on?.[subgraph.name]?.condition).toBe(
          'service_healthy',
        );
      }
    }
  });

  it('renders the one NGINX template, upstreams on both gateways, public on 8080', async () => {
    const nginx = serviceOf('nginx');
    expect(nginx.volumes).toContain('./nginx/templates:/etc/nginx/templates:ro');
    const environment = nginx.environment ?? {};
    expect([environment.GATEWAY_1_ADDR, environment.GATEWAY_2_ADDR]).toEqual(
      gatewayServices.map((spec) => `${spec.name}:${spec.port}`),
    );
    expect(nginx.ports).toEqual([`8080:${environment.NGINX_PORT}`]);
    // The image sources the CORS script before rendering, as scripts/nginx.ts does.
    expect(nginx.volumes).toContain(
      './nginx/cors-origins.envsh:/docker-entrypoint.d/15-cors-origins.envsh:ro',
    );
    expect(nginx.build).toEqual({ context: '.', target: 'edge' });
    // compose substitutes `${NAME:-default}`: its default when the variable is unset.
    const substituted = Object.fromEntries(
      Object.entries(environment).map(([name, value]) => [
        name,
        String(value).replace(/\$\{\w+:-([^}]*)\}/g, '$1'),
      ]),
    );
    const rendered = renderTemplate(await readFile(nginxTemplatePath, 'utf8'), {
      ...substituted,
      CORS_ORIGIN_PATTERN: corsOriginPattern(substituted.CORS_ORIGINS ?? ''),
    });
    expect(rendered).toContain('root /usr/share/nginx/html;');
    // Production allows no other origin until CORS_ORIGINS lists one.
    expect(rendered).toContain('"~^((?!))$" $http_origin;');
    expect(rendered).toContain('server gateway-1:4000');
    expect(rendered).toContain('server gateway-2:4010');
    expect(rendered).toContain(`limit_conn per_client ${defaultRequestsPerClient};`);
  });
});

// CommonJS (`module.exports = factory`), though its types declare a default export.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

describe('the Docker build context', () => {
  // The Dockerfile copies the whole context (`COPY . .`) into the image that every Node
  // service runs: whatever .dockerignore lets through is readable by anyone who can pull it.
  const ignored = async () =>
    dockerignore().add((await readFile(join(repositoryRoot, '.dockerignore'), 'utf8')).split('\n'));

  it('keeps secrets an operator keeps beside the code out of the image', async () => {
    const rules = await ignored();
    // compose reads `.env` for the ${…_SECRET} it substitutes; npm's tokens live in .npmrc.
    for (const path of [
      '.env',
      '.env.production',
      'gateway/.env',
      'subgraphs/users/.env.local',
      '.npmrc',
      'signing-key.pem',
      'deploy/kubernetes/overlays/production/tls.pem',
      '.data/auth/signing-keys.json',
    ]) {
      expect(rules.ignores(path), path).toBe(true);
    }
  });

  it('keeps local installs out, and what the image needs in', async () => {
    const rules = await ignored();
    for (const path of ['node_modules/zod/index.js', 'gateway/node_modules/x/index.js']) {
      expect(rules.ignores(path), path).toBe(true);
    }
    for (const path of [
      'package.json',
      'gateway/src/index.ts',
      'gateway/supergraph.graphql',
      'prisma/users/migrations/migration_lock.toml',
      'nginx/templates/gateway.conf.template',
      '.env.example',
    ]) {
      expect(rules.ignores(path), path).toBe(false);
    }
  });
});
