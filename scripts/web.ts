// The reference web app (clients/web), built into clients/web/dist for NGINX to serve at `/`.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { webRoot } from './nginx.ts';
import { repositoryRoot } from './topology.ts';

/** Builds the app (typed documents, then Vite); `ifMissing` skips it when a build exists. */
export function buildWebApp({ ifMissing = false, quiet = false } = {}): void {
  if (ifMissing && existsSync(join(webRoot, 'index.html'))) return;
  execFileSync('npm', ['run', 'build', '--workspace', '@ticketing/web'], {
    cwd: repositoryRoot,
    // A production build whatever runs it (a test runner sets NODE_ENV=test, which would
    // make Vite and React build for development).
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: quiet ? 'pipe' : 'inherit',
  });
}
