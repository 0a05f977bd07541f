// Checks, once before any test, that the real services the tests use are there, and says
// how to provide them if not, rather than letting dozens of tests fail obscurely.

import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { testServerUrl } from '@ticketing/prisma/testing';
import pg from 'pg';
import { findNginx } from '../scripts/nginx.ts';
import { chromiumPath, testRedisUrl } from './support.ts';

/** Whether a Redis server answers PING at `url`. */
async function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379), timeout: 2_000 });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (reply) => {
      resolve(reply.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      resolve(false);
      socket.destroy();
    });
  });
}

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
  if (!(await redisAnswers(testRedisUrl))) {
    problems.push(
      `Redis is not reachable at ${testRedisUrl}. Start it (redis-server), or point ` +
        'TEST_REDIS_URL at one: the gateways share persisted queries through it.',
    );
  }
  if (!findNginx()) {
    problems.push(
      'nginx is not installed; the edge tests run the real thing. Install it ' +
        '(Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx) or set NGINX_BIN.',
    );
  }
  try {
    accessSync(chromiumPath, constants.X_OK);
  } catch {
    problems.push(
      `Chromium is not at ${chromiumPath}; the browser test drives the real thing, and ` +
        'downloads none. Install it (Debian/Ubuntu: apt-get install chromium).',
    );
  }
  if (problems.length > 0)
    throw new Error(`Test prerequisites missing:\n- ${problems.join('\n- ')}`);
}
