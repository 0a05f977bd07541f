// `npm start`: the whole topology on this machine. With no *_DATABASE_URL set, each
// service keeps its data in embedded PostgreSQL (PGlite) under .data/.
import { z } from 'zod';
import { defaultPublicPort, services } from './services.ts';
import { startTopology } from './topology.ts';
import { buildWebApp } from './web.ts';

const { PUBLIC_PORT } = z
  .object({ PUBLIC_PORT: z.coerce.number().int().min(1).max(65_535).default(defaultPublicPort) })
  .parse(process.env);

// NGINX serves the web app at / beside /graphql: build it once (rebuild with
// `npm run build --workspace @ticketing/web`).
buildWebApp({ ifMissing: true });

let shuttingDown = false;
const topology = await startTopology({
  publicPort: PUBLIC_PORT,
  onUnexpectedExit(service, code, signal) {
    if (shuttingDown) return;
    console.error(
      `\n${service} stopped unexpectedly (code ${code}, signal ${signal}); stopping the rest.`,
    );
    void shutDown(1);
  },
}).catch((error: unknown) => {
  console.error(`\nThe topology did not start: ${(error as Error).message}`);
  process.exit(1);
});

async function shutDown(exitCode: number) {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log('\nStopping all services...');
  await topology.stop();
  process.exit(exitCode);
}
process.on('SIGINT', () => void shutDown(0));
process.on('SIGTERM', () => void shutDown(0));

const ports = services
  .filter((spec) => topology.processes.has(spec.name))
  .map((spec) => `    ${spec.name.padEnd(10)} ${topology.processes.get(spec.name)?.url}`)
  .join('\n');
console.log(`
  Supergraph ready at ${topology.publicUrl}${topology.viaNginx ? ' (NGINX, 2 gateways)' : ' (one gateway, no NGINX)'}
  Open it in a browser for Apollo Sandbox, or ${new URL('/explorer', topology.publicUrl)} for the
  local explorer (works offline).${topology.viaNginx ? ` The web app is at ${new URL('/', topology.publicUrl)}.` : ''}
  Ctrl-C stops everything.

  Services:
${ports}
`);
