// The commands the README and docs/ tell people to run exist as they are written: each
// `npm run <script>` in its package (the root, or the `--workspace` named), and each test
// project `npx vitest run --project <name>` takes.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import vitestConfig from '../vitest.config.ts';

const repositoryRoot = join(import.meta.dirname, '..');

async function documents(): Promise<{ name: string; text: string }[]> {
  const docs = (await readdir(join(repositoryRoot, 'docs'))).map((file) => join('docs', file));
  return Promise.all(
    ['README.md', ...docs].map(async (name) => ({
      name,
      text: await readFile(join(repositoryRoot, name), 'utf8'),
    })),
  );
}

/** Each workspace's scripts by its package name, the root's under ''. */
async function scriptsByPackage(): Promise<Map<string, Record<string, string>>> {
  const root = JSON.parse(await readFile(join(repositoryRoot, 'package.json'), 'utf8'));
  const scripts = new Map<string, Record<string, string>>([['', root.scripts]]);
  for (const pattern of root.workspaces as string[]) {
    const folders = pattern.endsWith('/*')
      ? (await readdir(join(repositoryRoot, pattern.slice(0, -2)))).map(
          (name) => `${pattern.slice(0, -2)}/${name}`,
        )
      : [pattern];
    for (const folder of folders) {
      const manifest = await readFile(join(repositoryRoot, folder, 'package.json'), 'utf8').catch(
        () => undefined,
      );
      if (!manifest) continue;
      const { name, scripts: own } = JSON.parse(manifest);
      scripts.set(name, own ?? {});
    }
  }
  return scripts;
}

describe('the documented commands', () => {
  it('name scripts that exist, in the package they name', async () => {
    const scripts = await scriptsByPackage();
    const missing: string[] = [];
    for (const { name, text } of await documents()) {
      const commands = text.matchAll(
        /npm run (?:-s )?([a-z][\w:-]*)(?: --workspace (@[\w./-]+))?/g,
      );
      for (const [command, script = '', workspace = ''] of commands) {
        if (!scripts.get(workspace)?.[script]) missing.push(`${name}: ${command}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('name every test project, and only those', async () => {
    const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
    const row = readme.split('\n').find((line) => line.includes('npx vitest run --project'));
    const documented = [...(row?.split('|')[2] ?? '').matchAll(/`([a-z0-9-]+)`/g)].map(
      ([, name = '']) => name,
    );
    const projects = (vitestConfig.test?.projects ?? []).map(
      (project) => (project as { test: { name: string } }).test.name,
    );
    expect(documented.toSorted()).toEqual(projects.toSorted());
  });
});
