// An NGINX of a benchmark's own, beside the topology's edge, for a side that the edge's
// configuration does not have (a micro-cache, a fixed answer). It listens on a free port of
// 127.0.0.1 and keeps nothing after `stop`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNginx } from '../scripts/nginx.ts';

export interface ExtraNginx {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/**
 * Starts NGINX with one worker, its `http` block the temporary folders' settings and what
 * `http` writes for the port to listen on. `folders` are made first, inside NGINX's own
 * folder, writable by its workers (`nobody`, when started as root); `http` gets their paths.
 */
export async function startExtraNginx(
  name: string,
  http: (port: number, folders: Record<string, string>) => string,
  folderNames: readonly string[] = [],
): Promise<ExtraNginx> {
  const prefix = await mkdtemp(join(tmpdir(), `ticketing-${name}-`));
  const folders = Object.fromEntries(folderNames.map((folder) => [folder, join(prefix, folder)]));
  for (const path of [prefix, ...Object.values(folders)]) {
    await mkdir(path, { recursive: true });
    await chmod(path, 0o777);
  }
  const port = await freePort();
  const temporary = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${join(prefix, kind)};`)
    .join('\n');
  const config = `daemon off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 8192; }
http {
    access_log off;
${temporary}
${http(port, folders)}
}
`;
  const path = join(prefix, 'nginx.conf');
  await writeFile(path, config);
  const nginx = findNginx();
  if (!nginx) throw new Error('NGINX is not installed');
  const child = spawn(nginx, ['-p', prefix, '-c', path, '-e', join(prefix, 'error.log')], {
    stdio: 'inherit',
  });
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(origin, { method: 'OPTIONS' });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`the ${name} NGINX did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    origin,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
      await rm(prefix, { recursive: true, force: true });
    },
  };
}
