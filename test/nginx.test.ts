// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are NGINX templates, whose placeholders look like JavaScript's.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { acceptableRequestId, type RunningService } from '@ticketing/platform';
import { serveOkService } from '@ticketing/platform/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  corsOriginPattern,
  defaultCorsOrigins,
  developmentCorsOrigins,
  edgeConfig,
  findNginx,
  nginxTemplatePath,
  renderTemplate,
  stopLeftoverNginx,
  writeEdgeConfig,
  writeLocalNginxConfig,
} from '../scripts/nginx.ts';
import { freePort } from '../scripts/ports.ts';

const scratch: string[] = [];
const nginxModulePath = fileURLToPath(new URL('../scripts/nginx.ts', import.meta.url));
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
      /No value for \$\{GATEWAY_1_ADDR\}, \$\{GATEWAY_MAX_FAILS\}, \$\{GATEWAY_2_ADDR\}/,
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

  it('takes a gateway out of the edge’s rotation with `down`, in a configuration nginx accepts', async () => {
    const nginx = findNginx();
    if (!nginx) throw new Error('nginx is not installed (apt-get install nginx)');
    const prefix = await mkdtemp(join(tmpdir(), 'ticketing-nginx-'));
    scratch.push(prefix);
    const edge = {
      listenPort: 18080,
      gateways: ['127.0.0.1:14000', '127.0.0.1:14010'] as [string, string],
    };
    const config = await writeLocalNginxConfig(prefix, edge);
    await writeEdgeConfig(prefix, edge, new Set(['127.0.0.1:14010']));
    const check = spawnSync(
      nginx,
      ['-t', '-p', prefix, '-c', config, '-e', join(prefix, 'error.log')],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toContain('test is successful');
    const site = await readFile(join(prefix, 'gateway.conf'), 'utf8');
    expect(
      site.match(/^\s*server 127\.0\.0\.1:\d+ [^;\n]*;$/gm)?.map((line) => line.trim()),
    ).toEqual([
      'server 127.0.0.1:14000 max_fails=1 fail_timeout=5s;',
      'server 127.0.0.1:14010 max_fails=1 fail_timeout=5s down;',
    ]);
    // Back in rotation: the configuration as it was first written.
    await writeEdgeConfig(prefix, edge);
    const template = await readFile(nginxTemplatePath, 'utf8');
    expect(await readFile(join(prefix, 'gateway.conf'), 'utf8')).toBe(edgeConfig(template, edge));
    expect(() => edgeConfig(template, edge, new Set(['127.0.0.1:14020']))).toThrow(
      'No gateway at 127.0.0.1:14020 in the edge',
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

/**
 * Sends `raw` as it is on a new connection, not half-closed (NGINX takes that for a client
 * gone away, and drops what it proxies), and returns what comes back until NGINX closes it.
 */
async function rawExchange(port: number, raw: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(raw);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'close', { signal: AbortSignal.timeout(5_000) });
  return Buffer.concat(chunks).toString('utf8');
}

interface Edge {
  base: string;
  port: number;
  stop(): Promise<void>;
  /** Where its configuration, pid file and logs are. */
  prefix: string;
  /** Its main configuration file. */
  config: string;
  child: ChildProcess;
}

interface EdgeOptions {
  gateways: [string, string];
  webRoot: (prefix: string) => Promise<string>;
  requestsPerClient?: number;
  /** In a process group of its own, as `npm start` runs it. */
  detached?: boolean;
  /** The port to try first, instead of one drawn (a test's, that another process holds). */
  port?: number;
}

/**
 * NGINX on the rendered template, in front of `gateways`, serving `webRoot` at `/`. Its port
 * is drawn before NGINX binds it, and a process beside this one (another test file's
 * service) may take it meanwhile: NGINX then exits, and it starts again on a port drawn
 * anew, three times at most.
 */
async function startEdge(options: EdgeOptions): Promise<Edge> {
  const { port, ...drawn } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEdgeOnce(attempt === 1 ? options : drawn);
    } catch (error) {
      const portTaken = error instanceof Error && /Address already in use/.test(error.message);
      if (!portTaken || attempt >= 3) throw error;
    }
  }
}

/**
 * NGINX on a port drawn for it, up once it is its own and its liveness answers: once NGINX
 * wrote its pid file, which it does only after binding its port. Until then, another
 * process on that port may answer for it.
 */
async function startEdgeOnce(options: EdgeOptions): Promise<Edge> {
  const nginx = findNginx();
  if (!nginx) throw new Error('nginx is not installed (apt-get install nginx)');
  const prefix = await mkdtemp(join(tmpdir(), 'ticketing-nginx-'));
  scratch.push(prefix);
  // NGINX started as root serves files as `nobody`: the app's folder must be readable.
  await chmod(prefix, 0o755);
  const port = options.port ?? (await freePort());
  const config = await writeLocalNginxConfig(prefix, {
    listenPort: port,
    gateways: options.gateways,
    corsOrigins: 'https://app.example.com',
    webRoot: await options.webRoot(prefix),
    ...(options.requestsPerClient ? { requestsPerClient: options.requestsPerClient } : {}),
  });
  const child = spawn(nginx, ['-p', prefix, '-c', config, '-e', join(prefix, 'error.log')], {
    stdio: 'ignore',
    detached: options.detached ?? false,
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(join(prefix, 'error.log'), 'utf8').catch(() => '');
      // A port in use is named on the first of its lines (NGINX tries again, then gives up).
      const causes = log
        .trim()
        .split('\n')
        .filter((line) => line.includes('[emerg]'));
      throw new Error(
        `NGINX exited with code ${child.exitCode}: ${causes.join('; ') || 'no cause logged'}`,
      );
    }
    const pid = await readFile(join(prefix, 'nginx.pid'), 'utf8').catch(() => '');
    if (pid.trim() === String(child.pid)) {
      const live = await fetch(`${base}/health/live`).catch(() => undefined);
      await live?.body?.cancel();
      if (live?.ok) break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('NGINX did not start within 10 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { base, port, stop, prefix, config, child };
}

/** A web root holding the app's page, as the built app does. */
async function builtApp(prefix: string): Promise<string> {
  const webRoot = join(prefix, 'web');
  await mkdir(webRoot, { mode: 0o755 });
  await writeFile(join(webRoot, 'index.html'), '<!doctype html><title>app</title>');
  await mkdir(join(webRoot, 'assets'), { mode: 0o755 });
  await writeFile(join(webRoot, 'assets', 'app.js'), 'export {};');
  return webRoot;
}

/** The answer is NGINX's refusal as JSON: the status, one error with the code, no page. */
async function expectEdgeError(answer: Response, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toBe('application/json');
  expect(answer.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  const text = await answer.text();
  expect(text).not.toMatch(/<html|nginx/i);
  const body = JSON.parse(text) as {
    errors: { message: string; extensions: { code: string } }[];
  };
  expect(body.errors).toHaveLength(1);
  expect(body.errors[0]?.extensions.code).toBe(code);
  expect(body.errors[0]?.message).toEqual(expect.any(String));
}

describe('the edge started on a port another process took', () => {
  it('is not taken for that process, and starts on a port of its own', async () => {
    // It answers /health/live as the edge would: only NGINX's own failure tells them apart.
    const impostor = createServer((_request, response) => response.end('{"status":"ok"}'));
    impostor.listen(0, '127.0.0.1');
    await once(impostor, 'listening');
    const taken = (impostor.address() as AddressInfo).port;
    const dead = [await freePort(), await freePort()].map((p) => `127.0.0.1:${p}`);
    try {
      const edge = await startEdge({
        gateways: dead as [string, string],
        webRoot: builtApp,
        port: taken,
      });
      try {
        expect(edge.port).not.toBe(taken);
        const live = await fetch(`${edge.base}/health/live`);
        expect(live.status).toBe(200);
        expect(live.headers.get('server')).toBe('nginx');
      } finally {
        await edge.stop();
      }
    } finally {
      impostor.close();
    }
  });
});

describe('NGINX’s own answers', () => {
  let base: string;
  let port: number;
  let stopNginx: () => Promise<void> = async () => {};

  beforeAll(async () => {
    // Both gateways are addresses nothing listens on: every proxied request fails to connect.
    const dead = [await freePort(), await freePort()].map((p) => `127.0.0.1:${p}`);
    const edge = await startEdge({ gateways: dead as [string, string], webRoot: builtApp });
    ({ base, port } = edge);
    stopNginx = edge.stop;
  });
  afterAll(() => stopNginx());

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('no gateway reachable: 502 SERVICE_UNAVAILABLE, for operations and readiness alike', async () => {
    await expectEdgeError(
      await post('/graphql', '{"query":"{ __typename }"}'),
      502,
      'SERVICE_UNAVAILABLE',
    );
    await expectEdgeError(await fetch(`${base}/health/ready`), 502, 'SERVICE_UNAVAILABLE');
  });

  it('a body over 1 MB: 413 PAYLOAD_TOO_LARGE, as the gateways name it', async () => {
    await expectEdgeError(
      await post('/graphql', `{"query":"${' '.repeat(2 * 2 ** 20)}"}`),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('a URL or headers too long, a path not served, a method not allowed', async () => {
    await expectEdgeError(
      await fetch(`${base}/graphql?query=${'a'.repeat(20_000)}`),
      414,
      'URI_TOO_LONG',
    );
    await expectEdgeError(
      await fetch(`${base}/graphql`, { headers: { 'x-padding': 'a'.repeat(20_000) } }),
      431,
      'HEADERS_TOO_LARGE',
    );
    await expectEdgeError(await fetch(`${base}/metrics`), 403, 'FORBIDDEN');
    await expectEdgeError(await post('/index.html', '{}'), 405, 'METHOD_NOT_ALLOWED');
  });

  it('a request line NGINX cannot read: 400 BAD_REQUEST in JSON', async () => {
    const answer = await rawExchange(port, 'GET /graphql HTTP/1.1 trailing\r\nHost: x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    expect(answer).toContain('"code":"BAD_REQUEST"');
    expect(answer).not.toMatch(/<html/i);
  });

  // NGINX answered these with its own HTML page: the status was not in `error_page`.
  it.each([
    [
      'a Transfer-Encoding other than chunked: 501',
      'POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      501,
      'BAD_REQUEST',
    ],
    [
      'an HTTP version other than 1.x: 505',
      'GET /graphql HTTP/2.0\r\nHost: x\r\n\r\n',
      505,
      'BAD_REQUEST',
    ],
    [
      'a precondition the web app’s page fails: 412',
      'GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Match: "other"\r\nConnection: close\r\n\r\n',
      412,
      'PRECONDITION_FAILED',
    ],
    [
      'a range past the end of the web app’s page: 416',
      'GET /index.html HTTP/1.1\r\nHost: x\r\nRange: bytes=1000000-\r\nConnection: close\r\n\r\n',
      416,
      'RANGE_NOT_SATISFIABLE',
    ],
  ])('%s, in JSON with a code', async (_, raw, status, code) => {
    const answer = await rawExchange(port, raw);
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(head).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    expect(answer).not.toMatch(/<html/i);
    const errors = (JSON.parse(body) as { errors: { extensions: { code: string } }[] }).errors;
    expect(errors.map((error) => error.extensions.code)).toEqual([code]);
  });

  it('an allowed origin can read the refusal; another cannot', async () => {
    const allowed = await post('/graphql', '{}', { origin: 'https://app.example.com' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    await expectEdgeError(allowed, 502, 'SERVICE_UNAVAILABLE');
    const other = await post('/graphql', '{}', { origin: 'https://evil.example' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    await expectEdgeError(other, 502, 'SERVICE_UNAVAILABLE');
  });

  // NGINX's defaults give a silent client 60 s between two reads of its head or body, and a
  // body of 1 MB may come a byte at a time: each connection held so costs the client one
  // byte a minute.
  it('lets go of a client that stops sending its request head or body within 10 s', async () => {
    /** How long NGINX keeps a connection on which `partial` was sent, in ms. */
    const heldFor = async (partial: string) => {
      const socket = connect(port, '127.0.0.1');
      try {
        await once(socket, 'connect');
        socket.on('data', () => {});
        socket.write(partial);
        const started = performance.now();
        await once(socket, 'close', { signal: AbortSignal.timeout(15_000) });
        return performance.now() - started;
      } finally {
        socket.destroy();
      }
    };
    const [head, body] = await Promise.all([
      heldFor('POST /graphql HTTP/1.1\r\nhost: x\r\n'),
      heldFor(
        'POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"query"',
      ),
    ]);
    expect(head).toBeLessThan(11_000);
    expect(body).toBeLessThan(11_000);
  }, 20_000);

  it('what NGINX serves itself is unchanged: liveness, the web app', async () => {
    const live = await fetch(`${base}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const page = await fetch(`${base}/some/app/route`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>app</title>');
  });

  it('serves the web app with headers that confine a script injected into it', async () => {
    for (const path of ['/', '/index.html', '/some/app/route']) {
      const page = await fetch(`${base}${path}`);
      expect(page.status).toBe(200);
      const policy = page.headers.get('content-security-policy') ?? '';
      // Scripts and styles from the app's own files only, no inline or injected ones; no
      // framing (clickjacking); no base or form target elsewhere; QR images as data: URLs.
      expect(policy).toMatch(/default-src 'self'/);
      expect(policy).toMatch(/script-src 'self'(;|$)/);
      expect(policy).toMatch(/object-src 'none'/);
      expect(policy).toMatch(/base-uri 'none'/);
      expect(policy).toMatch(/frame-ancestors 'none'/);
      expect(policy).toMatch(/img-src 'self' data:/);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const asset = await fetch(`${base}/assets/app.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

/** A Node HTTP server standing in for both gateways; `address` is its host:port. */
async function startGateway(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; address: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** One exchange over `node:http`, which (unlike `fetch`) leaves the body as it was sent. */
async function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const sent = request(url, { method: options.method ?? 'GET', headers: options.headers });
  sent.end(options.body);
  const [answer] = (await once(sent, 'response')) as [IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of answer) chunks.push(chunk as Buffer);
  return { status: answer.statusCode ?? 0, headers: answer.headers, body: Buffer.concat(chunks) };
}

/** The names a `Vary` header lists, lower-cased. */
function varyNames(headers: IncomingHttpHeaders): string[] {
  return String(headers.vary ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
}

describe('the web app’s files, gzipped once at build time', () => {
  let edge: Edge;
  let gateway: Server;
  // Text that compresses, over the build's 1 KiB threshold, as the app's script and page are.
  const script = `export const rows = [${Array.from({ length: 400 }, (_, i) => `"row ${i}"`).join(',')}];\n`;
  const page = `<!doctype html><title>app</title>${'<p>the page</p>'.repeat(200)}`;
  const uncompressed = 'export const alone = true;\n'.repeat(100);
  // What the gateway answers: JSON long enough that NGINX would compress it, if it did.
  const apiAnswer = JSON.stringify({ data: { events: 'x'.repeat(4_000) } });

  beforeAll(async () => {
    let address: string;
    ({ server: gateway, address } = await startGateway((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(apiAnswer);
    }));
    edge = await startEdge({
      gateways: [address, address],
      // As `vite build` writes them (clients/web/vite.config.ts): each text file and its `.gz`.
      webRoot: async (prefix) => {
        const webRoot = join(prefix, 'web');
        await mkdir(join(webRoot, 'assets'), { recursive: true, mode: 0o755 });
        await writeFile(join(webRoot, 'index.html'), page);
        await writeFile(join(webRoot, 'index.html.gz'), gzipSync(page));
        await writeFile(join(webRoot, 'assets', 'app.js'), script);
        await writeFile(join(webRoot, 'assets', 'app.js.gz'), gzipSync(script));
        await writeFile(join(webRoot, 'assets', 'alone.js'), uncompressed);
        return webRoot;
      },
    });
  });
  afterAll(async () => {
    await edge?.stop();
    gateway?.close();
  });

  it('sends the gzipped file to a client that accepts gzip, with its own length, and the same headers', async () => {
    const answer = await exchange(`${edge.base}/assets/app.js`, {
      headers: { 'accept-encoding': 'gzip, deflate, br' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(answer.headers['content-type']).toBe('text/javascript');
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(answer.body.length).toBeLessThan(Buffer.byteLength(script) / 3);
    expect(gunzipSync(answer.body).toString('utf8')).toBe(script);
    expect(varyNames(answer.headers)).toContain('accept-encoding');
    expect(answer.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
  });

  it('sends the file as it is to a client that does not accept gzip, and says the answer varies', async () => {
    for (const acceptEncoding of [undefined, 'identity', 'br', 'gzip;q=0', 'deflate']) {
      const answer = await exchange(`${edge.base}/assets/app.js`, {
        headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {},
      });
      expect(answer.status, String(acceptEncoding)).toBe(200);
      expect(answer.headers['content-encoding'], String(acceptEncoding)).toBeUndefined();
      expect(answer.body.toString('utf8'), String(acceptEncoding)).toBe(script);
      // A shared cache that kept this answer must not give it to a client that accepts
      // gzip, nor the gzipped one to this client.
      expect(varyNames(answer.headers), String(acceptEncoding)).toContain('accept-encoding');
    }
  });

  it('keeps the two answers’ validators apart, and answers HEAD and a revalidation as for GET', async () => {
    const gzipped = await exchange(`${edge.base}/assets/app.js`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    const plain = await exchange(`${edge.base}/assets/app.js`);
    expect(gzipped.headers.etag).toEqual(expect.any(String));
    expect(gzipped.headers.etag).not.toBe(plain.headers.etag);
    const head = await exchange(`${edge.base}/assets/app.js`, {
      method: 'HEAD',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(head.status).toBe(200);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.headers['content-length']).toBe(gzipped.headers['content-length']);
    expect(head.body.length).toBe(0);
    const revalidated = await exchange(`${edge.base}/assets/app.js`, {
      headers: { 'accept-encoding': 'gzip', 'if-none-match': String(gzipped.headers.etag) },
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.body.length).toBe(0);
  });

  it('gzips the page at the app’s routes too, behind the same security headers', async () => {
    for (const path of ['/', '/index.html', '/some/app/route']) {
      const answer = await exchange(`${edge.base}${path}`, {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-encoding'], path).toBe('gzip');
      expect(gunzipSync(answer.body).toString('utf8'), path).toBe(page);
      expect(answer.headers['cache-control'], path).toBe('no-cache');
      expect(answer.headers['content-security-policy'], path).toMatch(/script-src 'self'(;|$)/);
      expect(answer.headers['x-frame-options'], path).toBe('DENY');
    }
  });

  it('gzips for a client behind a proxy that says so in Via', async () => {
    const answer = await exchange(`${edge.base}/assets/app.js`, {
      headers: { 'accept-encoding': 'gzip', via: '1.1 corporate-proxy' },
    });
    expect(answer.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(answer.body).toString('utf8')).toBe(script);
  });

  it('sends a file the build did not gzip as it is, and compresses nothing per request', async () => {
    const answer = await exchange(`${edge.base}/assets/alone.js`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.body.toString('utf8')).toBe(uncompressed);
  });

  it('never compresses the API: its answers hold tokens beside what a client sent', async () => {
    for (const method of ['GET', 'POST']) {
      const answer = await exchange(
        method === 'GET' ? `${edge.base}/graphql?query=%7B__typename%7D` : `${edge.base}/graphql`,
        {
          method,
          headers: { 'accept-encoding': 'gzip', 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: '{"query":"{__typename}"}' } : {}),
        },
      );
      expect(answer.status, method).toBe(200);
      expect(answer.headers['content-encoding'], method).toBeUndefined();
      expect(answer.body.toString('utf8'), method).toBe(apiAnswer);
    }
  });
});

describe('the edge in front of a live gateway, with the web app not built', () => {
  let edge: Edge;
  let gateway: Server;
  /** The Host header each request reached the gateway with. */
  const hosts: (string | undefined)[] = [];
  /** The headers of each request the gateway received. */
  const received: IncomingHttpHeaders[] = [];
  /** The target of each request the gateway received, as its request line spelt it. */
  const targets: (string | undefined)[] = [];

  beforeAll(async () => {
    // A Node HTTP server as the gateways are: its parser refuses an HTTP/1.1 request
    // without a Host header before any handler runs.
    let address: string;
    ({ server: gateway, address } = await startGateway((request, response) => {
      hosts.push(request.headers.host);
      received.push(request.headers);
      targets.push(request.url);
      // As a gateway names what its answers depend on (gateway/src/response-cache.ts).
      response.writeHead(200, {
        'content-type': 'application/json',
        vary: 'Accept, Authorization',
      });
      response.end('{"data":{"__typename":"Query"}}');
    }));
    edge = await startEdge({
      gateways: [address, address],
      webRoot: async (prefix) => {
        const webRoot = join(prefix, 'web');
        await mkdir(webRoot, { mode: 0o755 });
        return webRoot;
      },
    });
  });
  afterAll(async () => {
    await edge?.stop();
    gateway?.close();
  });

  it('answers a path outside the API with 404 NOT_FOUND in JSON, not a 500 page', async () => {
    // `try_files` fell back to an index.html that is not there, in a loop NGINX broke with
    // its own HTML 500.
    await expectEdgeError(await fetch(`${edge.base}/`), 404, 'NOT_FOUND');
    await expectEdgeError(await fetch(`${edge.base}/some/app/route`), 404, 'NOT_FOUND');
  });

  it('passes an HTTP/1.0 request without a Host header on to a gateway', async () => {
    // HTTP/1.0 needs no Host; NGINX forwarded an empty one over HTTP/1.1, which Node
    // refuses with a bare 400.
    const answer = await rawExchange(
      edge.port,
      'POST /graphql HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('{"data":{"__typename":"Query"}}');
    expect(hosts.at(-1)).toBe('127.0.0.1');
  });

  it('keeps the host name a client sent', async () => {
    // fetch cannot choose a Host.
    const answer = await rawExchange(
      edge.port,
      'POST /graphql HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(hosts.at(-1)).toBe('api.example.com');
  });

  it('keeps /metrics from the public however its path is spelled', async () => {
    // NGINX matches locations on the normalized path but passes the path as sent: a
    // spelling that reached a gateway under another location would be served by Express,
    // which routes `/METRICS` and `/metrics/` to /metrics.
    const before = received.length;
    for (const path of [
      '/metrics',
      '/metrics/',
      '/metrics?format=text',
      '//metrics',
      '/./metrics',
      '/%6Detrics',
      '/graphql/../metrics',
      '/graphql/..%2Fmetrics',
      '/graphql%2F..%2Fmetrics',
      '/explorer/..%2Fmetrics',
      '/explorer/%2e%2e/metrics',
      '/health/../metrics',
    ]) {
      const answer = await rawExchange(
        edge.port,
        `GET ${path} HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\n\r\n`,
      );
      expect(answer, path).toMatch(/^HTTP\/1\.1 403 /);
      expect(answer, path).toContain('"code":"FORBIDDEN"');
    }
    // Upper case is another path to NGINX: the web app's, not a gateway's.
    const upper = await rawExchange(
      edge.port,
      'GET /METRICS HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\n\r\n',
    );
    expect(upper).toMatch(/^HTTP\/1\.1 404 /);
    expect(received.length).toBe(before);
  });

  it('passes a GET request’s query string on as sent, bytes that are not UTF-8 included', async () => {
    // The gateways refuse percent-encoded bytes that are not UTF-8 (hostile-edge.test.ts):
    // NGINX must neither decode them into something else nor re-encode them.
    for (const search of [
      '?query=%7Bevents%7D%FF',
      '?query=%7B__typename%7D&variables=%7B%22s%22%3A%22%C0%AF%22%7D',
      '?query=%7B+__typename+%7D%20%23%C3%A9%E2%82%AC',
    ]) {
      const answer = await rawExchange(
        edge.port,
        `GET /graphql${search} HTTP/1.1\r\nhost: api.example.com\r\nconnection: close\r\n\r\n`,
      );
      expect(answer, search).toMatch(/^HTTP\/1\.1 200 /);
      expect(targets.at(-1)).toBe(`/graphql${search}`);
    }
  });

  it('passes on what a gateway’s answer varies by, beside the Origin of its own CORS headers', async () => {
    const answer = await fetch(`${edge.base}/graphql?query=%7B__typename%7D`, {
      headers: { origin: 'http://localhost:5173' },
    });
    expect(answer.status).toBe(200);
    const vary = (answer.headers.get('vary') ?? '').split(',').map((name) => name.trim());
    expect(vary).toEqual(expect.arrayContaining(['Accept', 'Authorization', 'Origin']));
  });

  it('passes on no trace context a client sent: the gateways start their own traces', async () => {
    // A client's sampled `traceparent` made its every request traced, whatever sampling
    // ratio the operator chose, under a trace id of the client's choosing; its `baggage`
    // went on to every subgraph.
    const clientContext = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=chosen-by-the-client',
      baggage: 'user.role=admin',
    };
    for (const path of ['/graphql', '/health/ready', '/explorer']) {
      const before = received.length;
      const answer = await fetch(`${edge.base}${path}`, { headers: clientContext });
      expect(answer.status).toBe(200);
      expect(received.length).toBe(before + 1);
      const headers = received.at(-1) ?? {};
      expect(headers, path).not.toHaveProperty('traceparent');
      expect(headers, path).not.toHaveProperty('tracestate');
      expect(headers, path).not.toHaveProperty('baggage');
    }
  });

  it('logs no query string, and cuts a long path or User-Agent short', async () => {
    // The access log held each request line whole: a GET's query string is its operation
    // and variables (a password given to logIn), or a careless client's access token.
    const secret = 'hunter2-never-logged';
    const longPath = `/graphql/${'a'.repeat(6_000)}`;
    const requests: { target: string; agent: string }[] = [
      {
        target: `/graphql?query=${encodeURIComponent(`mutation ($p: String!) { logIn(email: "a@example.com", password: $p) { accessToken } }`)}&variables=${encodeURIComponent(JSON.stringify({ p: secret }))}`,
        agent: 'logged-0',
      },
      { target: `/graphql?access_token=${secret}`, agent: 'logged-1' },
      { target: longPath, agent: `logged-2-${'b'.repeat(4_000)}` },
    ];
    for (const { target, agent } of requests) {
      const answer = await rawExchange(
        edge.port,
        `GET ${target} HTTP/1.1\r\nhost: api.example.com\r\nuser-agent: ${agent}\r\nconnection: close\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    }
    // NGINX writes its access log at least every second.
    const logged = async () => {
      const text = await readFile(join(edge.prefix, 'access.log'), 'utf8').catch(() => '');
      return text.split('\n').filter((line) => /logged-\d/.test(line));
    };
    const deadline = Date.now() + 5_000;
    while ((await logged()).length < requests.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = await logged();
    expect(lines.filter((line) => line.includes(secret))).toEqual([]);
    expect(lines).toHaveLength(requests.length);
    for (const line of lines) expect(line.length).toBeLessThan(1_024);
    expect(lines[0]).toContain('"GET /graphql HTTP/1.1" 200');
    expect(lines[2]).toContain(`"GET ${longPath.slice(0, 256)}... HTTP/1.1" 200`);
  });

  it('logs no health probe', async () => {
    // Kubernetes' probes and compose's healthcheck ask every few seconds: each wrote a line,
    // although a probe is not a request anyone follows.
    for (const path of ['/health/live', '/health/ready']) {
      const answer = await rawExchange(
        edge.port,
        `GET ${path} HTTP/1.1\r\nhost: api.example.com\r\nuser-agent: probe-${path}\r\nconnection: close\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    }
    const after = await rawExchange(
      edge.port,
      `GET /graphql HTTP/1.1\r\nhost: api.example.com\r\nuser-agent: after-the-probes\r\nconnection: close\r\n\r\n`,
    );
    expect(after).toMatch(/^HTTP\/1\.1 200 /);
    // Lines are written in order: once the request after the probes is there, so are they.
    const accessLog = async () => readFile(join(edge.prefix, 'access.log'), 'utf8').catch(() => '');
    const deadline = Date.now() + 5_000;
    while (!(await accessLog()).includes('after-the-probes') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = (await accessLog()).split('\n');
    expect(lines.filter((line) => line.includes('after-the-probes'))).toHaveLength(1);
    expect(lines.filter((line) => line.includes('probe-/health'))).toEqual([]);
  });

  it('logs no user name a client sent with Basic credentials', async () => {
    // $remote_user is the name in an Authorization: Basic header, which no client of the
    // API needs: a careless client's email, or 6 KB on every line.
    const name = `someone-${'c'.repeat(6_000)}@example.com`;
    const credentials = Buffer.from(`${name}:hunter2`).toString('base64');
    const answer = await rawExchange(
      edge.port,
      `GET /graphql HTTP/1.1\r\nhost: api.example.com\r\nuser-agent: basic-credentials\r\nauthorization: Basic ${credentials}\r\nconnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const logged = async () => {
      const text = await readFile(join(edge.prefix, 'access.log'), 'utf8').catch(() => '');
      return text.split('\n').filter((line) => line.includes('basic-credentials'));
    };
    const deadline = Date.now() + 5_000;
    while ((await logged()).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const lines = await logged();
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('someone-');
    expect(lines[0]?.length).toBeLessThan(1_024);
  });
});

describe('one client address’s share of the edge', () => {
  const limit = 3;
  let edge: Edge;
  let gateway: Server;
  /** Answers the gateway holds until `release`; once released, it answers at once. */
  const held: ServerResponse[] = [];
  let holding = true;
  let arrived = 0;
  const answer = (response: ServerResponse) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"data":{"__typename":"Query"}}');
  };
  const release = () => {
    holding = false;
    for (const response of held.splice(0)) answer(response);
  };

  beforeAll(async () => {
    gateway = createServer((incoming, response) => {
      incoming.resume();
      arrived++;
      if (holding) held.push(response);
      else answer(response);
    });
    gateway.listen(0, '127.0.0.1');
    await once(gateway, 'listening');
    const address = `127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    edge = await startEdge({
      gateways: [address, address],
      webRoot: builtApp,
      requestsPerClient: limit,
    });
  });
  afterAll(async () => {
    release();
    await edge?.stop();
    gateway?.closeAllConnections();
    gateway?.close();
  });

  /** A POST to the edge from `localAddress`, on a connection of its own. */
  const postFrom = (localAddress: string) =>
    new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      const sent = request(
        {
          host: '127.0.0.1',
          port: edge.port,
          path: '/graphql',
          method: 'POST',
          localAddress,
          agent: false,
          headers: { 'content-type': 'application/json' },
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              type: response.headers['content-type'],
              body,
            }),
          );
        },
      );
      sent.on('error', reject).end('{"query":"{ __typename }"}');
    });
  const arrivals = async (count: number) => {
    const deadline = Date.now() + 5_000;
    while (arrived < count) {
      if (Date.now() > deadline)
        throw new Error(`${arrived} requests reached the gateway, not ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it('is EDGE_REQUESTS_PER_CLIENT requests in progress: the next is 429 at once, other addresses go on', async () => {
    const first = Array.from({ length: limit }, () => postFrom('127.0.0.1'));
    await arrivals(limit);
    const refused = await postFrom('127.0.0.1');
    expect(refused.status).toBe(429);
    expect(refused.type).toBe('application/json');
    expect(JSON.parse(refused.body)).toEqual({
      errors: [
        {
          message: expect.any(String),
          extensions: { code: 'TOO_MANY_REQUESTS', retryAfterSeconds: 1 },
        },
      ],
    });
    expect(arrived).toBe(limit);
    // Another address is not held back by this one's share.
    const other = postFrom('127.0.0.2');
    await arrivals(limit + 1);
    release();
    expect((await Promise.all(first)).map(({ status }) => status)).toEqual([200, 200, 200]);
    expect((await other).status).toBe(200);
    // Its requests answered, the first address is served again.
    expect((await postFrom('127.0.0.1')).status).toBe(200);
  });

  it('logs a refusal in its access log alone, never with its query string', async () => {
    // NGINX named the request line of each refusal in its error log, query string and all:
    // a GET's variables (a password), one line a refusal, as many as a client chose.
    const secret = 'hunter2-never-logged';
    holding = true;
    const before = arrived;
    const first = Array.from({ length: limit }, () => postFrom('127.0.0.1'));
    await arrivals(before + limit);
    const refused = await new Promise<number>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: edge.port,
          path: `/graphql?query=%7B__typename%7D&variables=${encodeURIComponent(JSON.stringify({ password: secret }))}`,
          localAddress: '127.0.0.1',
          agent: false,
          headers: { 'user-agent': 'refused-with-a-secret' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(refused).toBe(429);
    release();
    expect((await Promise.all(first)).map(({ status }) => status)).toEqual([200, 200, 200]);
    const errorLog = await readFile(join(edge.prefix, 'error.log'), 'utf8');
    expect(errorLog.split('\n').filter((line) => line.includes(secret))).toEqual([]);
    const accessLog = async () =>
      (await readFile(join(edge.prefix, 'access.log'), 'utf8').catch(() => ''))
        .split('\n')
        .filter((line) => line.includes('refused-with-a-secret'));
    const deadline = Date.now() + 5_000;
    while ((await accessLog()).length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const logged = await accessLog();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('"GET /graphql HTTP/1.1" 429');
  });
});

describe('an NGINX that a run of `npm start` left running', () => {
  /** NGINX's master, as its pid file names it, and its workers. */
  const processesOf = async (edge: Edge) => {
    const master = Number((await readFile(join(edge.prefix, 'nginx.pid'), 'utf8')).trim());
    const workers = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(workers.length).toBeGreaterThan(0);
    return { master, workers };
  };
  /** Gone, or dead and not yet reaped (state Z). */
  const isGone = async (pid: number) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    return stat === undefined || (stat.split(') ')[1]?.startsWith('Z') ?? false);
  };
  /** NGINX as `npm start` runs it, in front of gateways that are gone; stopped after `use`. */
  const withEdge = async (use: (edge: Edge) => Promise<void>) => {
    const dead = [await freePort(), await freePort()].map((p) => `127.0.0.1:${p}`);
    const edge = await startEdge({
      gateways: dead as [string, string],
      webRoot: builtApp,
      detached: true,
    });
    try {
      await use(edge);
    } finally {
      await edge.stop();
    }
  };
  /** Runs `stop`, and sees NGINX's master exit and its workers gone. */
  const expectStoppedBy = async (edge: Edge, stop: (master: number) => Promise<void>) => {
    const { master, workers } = await processesOf(edge);
    const exited = once(edge.child, 'exit');
    await stop(master);
    await exited;
    for (const worker of workers) expect(await isGone(worker), `worker ${worker}`).toBe(true);
  };

  it('is stopped, workers and all, by the next start under the same prefix', () =>
    withEdge(async (edge) => {
      await expectStoppedBy(edge, async (master) => {
        expect(await stopLeftoverNginx(edge.prefix, edge.config)).toBe(master);
      });
      await expect(fetch(`${edge.base}/health/live`)).rejects.toThrow();
    }));

  it('is left alone when it runs another configuration, and so is a program that took its pid', () =>
    withEdge(async (edge) => {
      const stranger = spawn('sleep', ['60'], { stdio: 'ignore', detached: true });
      try {
        const other = join(edge.prefix, 'other.conf');
        expect(await stopLeftoverNginx(edge.prefix, other)).toBeUndefined();
        expect((await fetch(`${edge.base}/health/live`)).ok).toBe(true);
        await writeFile(join(edge.prefix, 'nginx.pid'), `${stranger.pid}\n`);
        expect(await stopLeftoverNginx(edge.prefix, edge.config)).toBeUndefined();
        expect(await isGone(stranger.pid as number)).toBe(false);
      } finally {
        stranger.kill();
      }
    }));

  it(
    'is stopped by its watchdog when the process that started it is killed',
    () =>
      withEdge((edge) =>
        expectStoppedBy(edge, async () => {
          // A runner that starts the watchdog and is then killed with SIGKILL.
          const runner = spawn(
            process.execPath,
            [
              '--experimental-strip-types',
              '--input-type=module',
              '-e',
              `const { watchOverNginx } = await import(${JSON.stringify(nginxModulePath)});
             watchOverNginx(${edge.child.pid});
             process.stdout.write('watching\\n');
             setInterval(() => {}, 1_000);`,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          await once(runner.stdout as NodeJS.ReadableStream, 'data');
          runner.kill('SIGKILL');
        }),
      ),
    20_000,
  );
});

describe('a gateway refusing a request before reading its body, behind the edge', () => {
  let edge: Edge;
  let gateway: RunningService;
  /** The target of every request the gateway received. */
  const targets: string[] = [];

  beforeAll(async () => {
    // The gateways' HTTP layer, as every service serves: a refusal before the body is read
    // closes the connection (RFC 9112 §9.6), which NGINX has pooled.
    gateway = await serveOkService('refusing-gateway', (app) => {
      app.use((request, _response, next) => {
        targets.push(request.url);
        next();
      });
    });
    const address = `127.0.0.1:${gateway.port}`;
    edge = await startEdge({ gateways: [address, address], webRoot: builtApp });
  });
  afterAll(async () => {
    await edge?.stop();
    await gateway?.stop();
  });

  /** Answers on one client connection, until `count` have come or NGINX closed it. */
  async function exchange(parts: string[], count: number): Promise<string> {
    const socket = connect(edge.port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    let closed = false;
    socket.on('close', () => {
      closed = true;
    });
    for (const part of parts) socket.write(part);
    const deadline = Date.now() + 5_000;
    while ((received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < count && !closed) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    socket.destroy();
    return received;
  }

  const smuggled = 'GET /graphql?query=%7Bok%7D&smuggled=1 HTTP/1.1\r\nhost: x\r\n\r\n';

  it('answers the refusal, never a request held in its body, and the next request on the connection', async () => {
    // Large enough that the gateway answers before NGINX has sent it all.
    const body = `${'x'.repeat(900_000)}${smuggled}`;
    const answer = await exchange(
      [
        'POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\n' +
          `content-length: ${body.length}\r\n\r\n${body}`,
        'GET /graphql?query=%7Bok%7D HTTP/1.1\r\nhost: x\r\napollo-require-preflight: 1\r\n\r\n',
      ],
      2,
    );
    expect(answer.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 400', 'HTTP/1.1 200']);
    expect(answer).toContain('{"data":{"ok":true}}');
    expect(targets.some((target) => target.includes('smuggled'))).toBe(false);
  });

  it('goes on serving through the connections it pools after refusals', async () => {
    const body = `${'x'.repeat(10_000)}${smuggled}`;
    for (let round = 0; round < 5; round++) {
      const refused = await fetch(`${edge.base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body,
      });
      expect(refused.status).toBe(400);
      await refused.arrayBuffer();
      const served = await fetch(`${edge.base}/graphql?query=%7Bok%7D`, {
        headers: { 'apollo-require-preflight': '1' },
      });
      expect(served.status).toBe(200);
      await served.arrayBuffer();
    }
    expect(targets.some((target) => target.includes('smuggled'))).toBe(false);
  });
});
