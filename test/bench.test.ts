// The benchmark harness on a tiny load (`npm run bench -- --quick`), so that it cannot rot
// between the runs that measure: it must start the topology, run every measure and report
// them. Speed is never asserted here; the figures only have to exist.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchRun } from '../bench/suite.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
let outputDir: string | undefined;

afterAll(async () => {
  if (outputDir) await rm(outputDir, { recursive: true, force: true });
});

describe('npm run bench -- --quick', () => {
  it('runs every measure end to end and reports P1 to P11 with finite figures', async () => {
    outputDir = await mkdtemp(join(tmpdir(), 'ticketing-bench-test-'));
    const jsonPath = join(outputDir, 'results.json');
    const { stdout } = await run(
      process.execPath,
      ['--experimental-strip-types', 'bench/index.ts', '--quick', '--json', jsonPath],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
    );
    const results = JSON.parse(await readFile(jsonPath, 'utf8')) as BenchRun;

    const ids = results.rows.map((row) => row.id);
    expect(ids).toEqual([
      'P1',
      'P2',
      'P3',
      'P4',
      'P4b',
      'P5a',
      'P5b',
      'P6',
      'P7',
      'P9',
      'P10',
      'P11',
    ]);
    for (const row of results.rows) {
      expect(Number.isFinite(row.value), `${row.id}: ${row.details}`).toBe(true);
      expect(stdout).toContain(`| ${row.id} | ${row.measure} | ${row.result} |`);
    }
    expect(stdout).toContain(`${results.info.cores} cores`);
    expect(results.info.node).toBe(process.version);

    // P1, P3 and P6 are measured without in-flight sharing, then with it, on a second line.
    const withSharing = results.rows.filter((row) => row.withSharing).map((row) => row.id);
    expect(withSharing).toEqual(['P1', 'P3', 'P6']);
    for (const row of results.rows.filter((each) => each.withSharing)) {
      expect(row.measure).toMatch(/in-flight sharing off$/);
      expect(stdout).toContain(`| ${row.id}, sharing on | `);
      expect(stdout).toContain(` | ${row.withSharing?.result} | ${row.target} | `);
    }

    // Every request the harness sent was well formed and answered with data.
    const failures = results.rows.map((row) => [row.id, row.figures.failures ?? 0]);
    expect(failures).toEqual(ids.map((id) => [id, 0]));
    const sharedFailures = results.rows
      .filter((row) => row.withSharing)
      .map((row) => [row.id, row.withSharing?.figures.failures ?? 0]);
    expect(sharedFailures).toEqual(withSharing.map((id) => [id, 0]));
    // The comparisons kept each round's figures, alternating sides.
    const gatewayTax = results.rows.find((row) => row.id === 'P1')?.figures as {
      edge: unknown[];
      subgraph: unknown[];
      cpuPerRequest: Record<'edge' | 'subgraph', { gateways: number; subgraph: number }>;
    };
    expect(gatewayTax.edge).toHaveLength(results.options.rounds);
    expect(gatewayTax.subgraph).toHaveLength(results.options.rounds);
    // And what each part spent a request, in CPU, on each side.
    for (const side of [gatewayTax.cpuPerRequest.edge, gatewayTax.cpuPerRequest.subgraph]) {
      expect(Number.isFinite(side.gateways) && Number.isFinite(side.subgraph)).toBe(true);
    }
    const mixed = results.rows.find((row) => row.id === 'P7')?.figures as {
      project: unknown[];
      hive: unknown[];
    };
    expect(mixed.project).toHaveLength(results.options.rounds);
    expect(mixed.hive).toHaveLength(results.options.rounds);
  }, 300_000);
});
