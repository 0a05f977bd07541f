// Every variable a service or `npm start` reads is listed in the README's "Configuration",
// by its name or by a family the section writes (`<SERVICE>_DATABASE_URL`, `OTEL_*`): a
// setting added without a word there would be one nobody outside knows of.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { eventsSettings } from '@ticketing/events-subgraph/subgraph';
import { gatewaySettings } from '@ticketing/gateway/main';
import { loadConfig, shutdownSettings, subgraphStartSettings } from '@ticketing/platform';
import { ticketsSettings } from '@ticketing/tickets-subgraph/subgraph';
import { usersSettings } from '@ticketing/users-subgraph/subgraph';
import { describe, expect, it } from 'vitest';
import { localRunnerSettings } from '../scripts/services.ts';

const repositoryRoot = join(import.meta.dirname, '..');

async function configurationSection(): Promise<string> {
  const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('### Configuration');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n#', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** Whether `name` is written in the section, itself or as one of a family. */
async function documentedIn(): Promise<(name: string) => boolean> {
  const written = (await configurationSection()).matchAll(/`([A-Z<][A-Z0-9_<>*]*)`/g);
  const patterns = [...written].map(
    ([, name = '']) =>
      new RegExp(`^${name.replaceAll(/<[A-Z]+>/g, '[A-Z]+').replaceAll('*', '[A-Z0-9_]*')}$`),
  );
  return (name) => patterns.some((pattern) => pattern.test(name));
}

/** The variables read from the process outside a settings schema (`env.NAME`). */
async function variablesReadDirectly(): Promise<Set<string>> {
  const folders = ['scripts', 'gateway/src', 'prisma/src', 'packages', 'subgraphs'];
  const names = new Set<string>();
  for (const folder of folders) {
    const files = await readdir(join(repositoryRoot, folder), { recursive: true });
    for (const file of files) {
      if (!file.endsWith('.ts') || /(^|\/)(test|generated|node_modules)\//.test(file)) continue;
      const source = await readFile(join(repositoryRoot, folder, file), 'utf8');
      for (const [, name = ''] of source.matchAll(/\benv\.([A-Z][A-Z0-9_]+)\b/g)) {
        names.add(name);
      }
    }
  }
  // The system's own: where to find programs.
  names.delete('PATH');
  return names;
}

/** A setting's value, a compiled one (TRUSTED_PROXIES' function) by its source. */
const comparable = (value: unknown) => (typeof value === 'function' ? String(value) : value);

/** Every settings schema, by what reads it. */
const settingsOf = [
  ['gateway', gatewaySettings],
  ['users', usersSettings],
  ['events', eventsSettings],
  ['tickets', ticketsSettings],
  ['every subgraph', subgraphStartSettings(0)],
  ['every service', shutdownSettings],
  ['npm start', localRunnerSettings],
] as const;

describe('the README’s Configuration', () => {
  it.each(settingsOf)('lists every setting of %s', async (_, settings) => {
    const documented = await documentedIn();
    const missing = Object.keys(settings.shape).filter((name) => !documented(name));
    expect(missing).toEqual([]);
  });

  it.each(settingsOf)(
    'takes each setting of %s set to nothing as unset, as the section says',
    (_, settings) => {
      // `VAR=`, as compose's `${VAR:-}` leaves it: read as such, a number would be 0 (or
      // refused), a name or a URL refused.
      const unset: Record<string, unknown> = loadConfig(settings, {});
      const unlike = Object.keys(settings.shape).filter((name) => {
        try {
          const empty: Record<string, unknown> = loadConfig(settings, { [name]: '' });
          return !isDeepStrictEqual(comparable(empty[name]), comparable(unset[name]));
        } catch {
          return true;
        }
      });
      expect(unlike).toEqual([]);
    },
  );

  it('lists every variable read outside a settings schema', async () => {
    const documented = await documentedIn();
    const missing = [...(await variablesReadDirectly())].filter((name) => !documented(name));
    expect(missing).toEqual([]);
  });

  it('has npm start check the edge’s limit with its other settings, before anything starts', () => {
    // It was read only once every service had started: `EDGE_REQUESTS_PER_CLIENT=` (which
    // compose takes as 512) stopped them all again, and a limit NGINX refuses (over 65535)
    // failed NGINX's own start.
    expect(loadConfig(localRunnerSettings, {}).EDGE_REQUESTS_PER_CLIENT).toBe(512);
    expect(
      loadConfig(localRunnerSettings, { EDGE_REQUESTS_PER_CLIENT: '' }).EDGE_REQUESTS_PER_CLIENT,
    ).toBe(512);
    for (const refused of ['0', '65536', 'many']) {
      expect(() => loadConfig(localRunnerSettings, { EDGE_REQUESTS_PER_CLIENT: refused })).toThrow(
        /EDGE_REQUESTS_PER_CLIENT/,
      );
    }
  });
});
