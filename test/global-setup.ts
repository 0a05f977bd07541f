// Checks, once before any test, that the real services the tests use are there, and says
// how to provide them if not, rather than letting dozens of tests fail obscurely.
import { testServerUrl } from '@ticketing/prisma/testing';
import pg from 'pg';
import { findNginx } from '../scripts/nginx.ts';

export default async function checkPrerequisites(): Promise<void> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: testServerUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    problems.push(
      `PostgreSQL is not reachable at ${testServerUrl} (${(error as Error).message}). ` +
        'Start it, or point TEST_DATABASE_URL at a server where the tests may create databases.',
    );
  } finally {
    await client.end().catch(() => {});
  }
  if (!findNginx()) {
    problems.push(
      'nginx is not installed; the edge tests run the real thing. Install it ' +
        '(Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx) or set NGINX_BIN.',
    );
  }
  if (problems.length > 0)
    throw new Error(`Test prerequisites missing:\n- ${problems.join('\n- ')}`);
}
