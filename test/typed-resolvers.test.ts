// `npm run typecheck` ties every resolver to its subgraph's schema: GraphQL Code Generator
// writes the `Resolvers` types from schema.graphql before the check (codegen.ts), and each
// server types its map with them. Here, a copy of the tickets subgraph whose schema changed
// under a resolver fails the same check, and the unchanged copy passes it.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import { afterEach, describe, expect, it } from 'vitest';
import codegen, { resolverTypesPaths } from '../codegen.ts';

const root = resolve(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
const copies: string[] = [];

afterEach(async () => {
  for (const copy of copies.splice(0)) await rm(copy, { recursive: true, force: true });
});

/**
 * Copies the tickets subgraph's sources beside the original (so that its packages resolve),
 * with `change` applied to its schema, generates its resolver types as `npm run codegen`
 * does, and type-checks the copy as `npm run typecheck` does.
 */
async function typecheckTickets(change: (sdl: string) => string) {
  const paths = resolverTypesPaths('tickets');
  const original = join(root, 'subgraphs', 'tickets');
  const copy = await mkdtemp(join(original, '.typecheck-'));
  copies.push(copy);
  await cp(join(original, 'src'), join(copy, 'src'), {
    recursive: true,
    filter: (source) => !source.includes(`${join('src', 'generated')}`),
  });
  const sdl = await readFile(join(root, paths.schema), 'utf8');
  await writeFile(join(copy, 'schema.graphql'), change(sdl));
  await writeFile(
    join(copy, 'tsconfig.json'),
    JSON.stringify({ extends: relative(copy, join(root, 'tsconfig.base.json')), include: ['src'] }),
  );
  const entry = codegen.generates[paths.output];
  if (!entry || Array.isArray(entry) || typeof entry !== 'object') {
    throw new Error(`codegen.ts generates no ${paths.output}`);
  }
  await generate(
    {
      silent: true,
      generates: {
        [join(copy, 'src', 'generated', 'resolvers.ts')]: {
          ...entry,
          schema: join(copy, 'schema.graphql'),
        },
      },
    },
    true,
  );
  try {
    await promisify(execFile)(tsc, ['-p', copy], { cwd: root });
    return { ok: true, output: '' };
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string };
    return { ok: false, output: `${stdout}${stderr}` };
  }
}

describe('typed resolvers', () => {
  it('pass the type check while they follow the schema', async () => {
    const result = await typecheckTickets((sdl) => sdl);
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  }, 120_000);

  it('fail the type check when the schema changes a field a resolver returns', async () => {
    const result = await typecheckTickets((sdl) => {
      const changed = sdl.replace(/ticketsAvailable: Int\b/, 'ticketsAvailable: String');
      expect(changed).not.toBe(sdl);
      return changed;
    });
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/error TS\d+/);
    expect(result.output).toMatch(/ticketsAvailable/);
  }, 120_000);

  it('fail the type check when the schema renames an argument a resolver reads', async () => {
    const result = await typecheckTickets((sdl) => {
      const changed = sdl.replace(/releaseHold\(id: ID!\)/, 'releaseHold(holdId: ID!)');
      expect(changed).not.toBe(sdl);
      return changed;
    });
    expect(result.ok).toBe(false);
    // The resolver reads `id`, which the arguments no longer have.
    expect(result.output).toMatch(/resolvers\/Mutation\.ts.*error TS\d+.*'id'.*ReleaseHold/);
  }, 120_000);
});
