// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are NGINX templates, whose placeholders look like JavaScript's.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptableRequestId } from '@ticketing/platform';
import { afterAll, describe, expect, it } from 'vitest';
import {
  corsOriginPattern,
  defaultCorsOrigins,
  developmentCorsOrigins,
  findNginx,
  nginxTemplatePath,
  renderTemplate,
  writeLocalNginxConfig,
} from '../scripts/nginx.ts';

const scratch: string[] = [];
afterAll(async () => {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the NGINX template', () => {
  it('fills the placeholders and leaves NGINX’s own variables alone, as envsubst does', () => {
    const rendered = renderTemplate('listen ${NGINX_PORT}; set $a $host; ${lower}', {
      NGINX_PORT: '8080',
    });
    expect(rendered).toBe('listen 8080; set $a $host; ${lower}');
  });

  it('refuses to render with a placeholder left unfilled', async () => {
    const template = await readFile(nginxTemplatePath, 'utf8');
    expect(() => renderTemplate(template, { NGINX_PORT: '8080' })).toThrow(
      /No value for \$\{GATEWAY_1_ADDR\}, \$\{GATEWAY_2_ADDR\}/,
    );
  });

  it('renders into a configuration that nginx itself accepts', async () => {
    const nginx = findNginx();
    if (!nginx) throw new Error('nginx is not installed (apt-get install nginx)');
    const prefix = await mkdtemp(join(tmpdir(), 'ticketing-nginx-'));
    scratch.push(prefix);
    const config = await writeLocalNginxConfig(prefix, {
      listenPort: 18080,
      gateways: ['127.0.0.1:14000', '127.0.0.1:14010'],
    });
    const check = spawnSync(
      nginx,
      ['-t', '-p', prefix, '-c', config, '-e', join(prefix, 'error.log')],
      {
        encoding: 'utf8',
      },
    );
    expect(check.stderr).toContain('test is successful');
    expect(check.status).toBe(0);
    const site = await readFile(join(prefix, 'gateway.conf'), 'utf8');
    expect(site).toMatch(
      /upstream gateways \{\s+[^}]*least_conn;[^}]*server 127\.0\.0\.1:14000[^}]*server 127\.0\.0\.1:14010[^}]*keepalive 64;/,
    );
  });

  it('accepts the request ids the gateways accept, and refuses /metrics to the public', async () => {
    const template = await readFile(nginxTemplatePath, 'utf8');
    const accepted =
      /map \$http_x_request_id \$edge_request_id \{[^}]*"~(.+)"\s+\$http_x_request_id;/.exec(
        template,
      );
    expect(accepted?.[1]).toBe(acceptableRequestId.source);
    expect(template).toMatch(/location \/metrics \{\s*return 403;\s*\}/);
  });

  it('turns CORS_ORIGINS into an anchored pattern: listed origins only, any port for `*`', () => {
    const allows = (corsOrigins: string, origin: string) =>
      new RegExp(`^(${corsOriginPattern(corsOrigins)})$`).test(origin);
    expect(allows(developmentCorsOrigins, 'http://localhost:5173')).toBe(true);
    expect(allows(developmentCorsOrigins, 'http://127.0.0.1:8080')).toBe(true);
    expect(allows(developmentCorsOrigins, 'http://localhost')).toBe(true);
    expect(allows(developmentCorsOrigins, 'http://localhost.evil.example')).toBe(false);
    expect(allows(developmentCorsOrigins, 'http://127.0.0.1x:80')).toBe(false);
    expect(allows(developmentCorsOrigins, 'https://localhost:5173')).toBe(false);
    const production = 'https://app.example.com,https://admin.example.com:8443';
    expect(allows(production, 'https://app.example.com')).toBe(true);
    expect(allows(production, 'https://admin.example.com:8443')).toBe(true);
    expect(allows(production, 'https://appxexample.com')).toBe(false);
    expect(allows(production, 'https://app.example.com:444')).toBe(false);
    // Unset or empty: no other origin at all.
    expect(allows('', 'http://localhost:5173')).toBe(false);
    expect(allows('', '')).toBe(false);
    expect(() => corsOriginPattern('https://app.example.com/path')).toThrow(
      /CORS_ORIGINS: 'https:\/\/app\.example\.com\/path' is not an origin/,
    );
    expect(() => corsOriginPattern('"; return 200; "')).toThrow();
  });

  it('defaults to the development allowlist outside production, and to none in production', () => {
    expect(defaultCorsOrigins({ NODE_ENV: 'development' })).toBe(developmentCorsOrigins);
    expect(defaultCorsOrigins({ NODE_ENV: 'production' })).toBe('');
    expect(defaultCorsOrigins({ NODE_ENV: 'production', CORS_ORIGINS: 'https://a.example' })).toBe(
      'https://a.example',
    );
  });
});
