// The Node versions `engines` (and the README) say the project runs on are ones every
// installed package accepts: a range wider than a dependency's let `npm ci` warn and a
// service fail on a Node that was said to do.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repositoryRoot = join(import.meta.dirname, '..');
// npm's own range arithmetic, which every npm install carries.
const semver: { subset(sub: string, dom: string): boolean } = createRequire(import.meta.url)(
  'semver',
);

interface Lockfile {
  packages: Record<string, { engines?: { node?: string } }>;
}

describe('the Node versions the project says it runs on', () => {
  it('are ones every locked package accepts', async () => {
    const lock: Lockfile = JSON.parse(
      await readFile(join(repositoryRoot, 'package-lock.json'), 'utf8'),
    );
    const ours = lock.packages['']?.engines?.node ?? '*';
    const refusing = Object.entries(lock.packages)
      .filter(([path, { engines }]) => path && engines?.node && !semver.subset(ours, engines.node))
      .map(([path, { engines }]) => `${path}: ${engines?.node}`);
    expect(refusing).toEqual([]);
  });

  it('are the README’s', async () => {
    const manifest = JSON.parse(await readFile(join(repositoryRoot, 'package.json'), 'utf8'));
    const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
    const row = readme.split('\n').find((line) => line.startsWith('| Node.js')) ?? '';
    const lowest: string[] = manifest.engines.node.match(/\d+\.\d+\.\d+/g) ?? [];
    expect(lowest.length).toBeGreaterThan(0);
    for (const version of lowest) expect(row).toContain(`${version} or later`);
  });
});
