import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { composeSupergraph, readCommittedSupergraph } from '../src/compose.ts';
import { manifestPath, readClientOperations } from '../src/safelist.ts';
import { type AcknowledgedChange, checkSchema, formatReport } from '../src/schema-check.ts';
import { readSubgraphSdl, type SubgraphSource, subgraphSources } from '../src/subgraphs.ts';

const operations = readClientOperations();
const committedManifest = readFileSync(manifestPath, 'utf8');
const base = readCommittedSupergraph();

/** The events subgraph's SDL with `change` applied, the others as they are. */
function eventsChanged(change: (sdl: string) => string) {
  return (source: SubgraphSource) =>
    source.name === 'events' ? change(readSubgraphSdl(source)) : readSubgraphSdl(source);
}

/** Runs the check as if the change were committed, supergraph recomposed unless `stale`. */
function check(
  change: (sdl: string) => string,
  { stale = false, acknowledged = [] as AcknowledgedChange[], clientOperations = operations } = {},
) {
  const readSdl = eventsChanged(change);
  const results = checkSchema({
    sources: subgraphSources,
    readSdl,
    committedSupergraph: stale ? base : composeSupergraph(subgraphSources, readSdl),
    baseSupergraph: base,
    acknowledged,
    operations: clientOperations,
    committedManifest,
  });
  return Object.fromEntries(results.map((result) => [result.name, result]));
}

const removeUpdatedAt = (sdl: string) => {
  const changed = sdl.replace('  updatedAt: DateTime!\n', '');
  expect(changed).not.toBe(sdl);
  return changed;
};

describe('schema:check', () => {
  it('passes the schema as it is', () => {
    const results = check((sdl) => sdl);
    expect(
      Object.values(results).every((result) => result.ok),
      formatReport(Object.values(results)),
    ).toBe(true);
  });

  it('passes an additive change', () => {
    const results = check((sdl) =>
      sdl.replace(
        '  title: String!\n',
        '  title: String!\n  "A short tagline."\n  subtitle: String\n',
      ),
    );
    expect(
      Object.values(results).every((result) => result.ok),
      formatReport(Object.values(results)),
    ).toBe(true);
  });

  it('fails on a removed field, naming it', () => {
    const results = check(removeUpdatedAt);
    expect(results['breaking changes']).toMatchObject({
      ok: false,
      details: ['FIELD_REMOVED: Event.updatedAt was removed.'],
    });
  });

  it('passes a removed field that was acknowledged in the committed file', () => {
    const results = check(removeUpdatedAt, {
      acknowledged: [
        {
          type: 'FIELD_REMOVED',
          description: 'Event.updatedAt was removed.',
          reason: 'No client reads it.',
        },
      ],
    });
    expect(results['breaking changes']?.ok).toBe(true);
    expect(results['client operations']?.ok).toBe(true);
  });

  it('fails on a composition error, with its code', () => {
    // tickets defines PageInfo too: without @shareable here, the two clash.
    const results = check(
      (sdl) => {
        const changed = sdl.replace('type PageInfo @shareable {', 'type PageInfo {');
        expect(changed).not.toBe(sdl);
        return changed;
      },
      { stale: true },
    );
    expect(results.composition?.ok).toBe(false);
    expect(results.composition?.details.join('\n')).toMatch(/\[INVALID_FIELD_SHARING\].*PageInfo/);
  });

  it('fails when the second composer refuses the subgraphs, with its code', () => {
    // Apollo's composer accepts federation v2.12; The Guild's does not, so other routers could
    // not serve the supergraph.
    const results = check((sdl) => sdl.replace(/federation\/v2\.\d+/, 'federation/v2.12'), {
      stale: true,
    });
    expect(results.composition?.ok).toBe(true);
    expect(results['composition (@theguild/federation-composition)']?.ok).toBe(false);
    expect(results['composition (@theguild/federation-composition)']?.details.join('\n')).toMatch(
      /\[[A-Z_]+\].*v2\.12/,
    );
  });

  it('fails on a stale supergraph', () => {
    const results = check(
      (sdl) => sdl.replace('  title: String!\n', '  title: String!\n  subtitle: String\n'),
      { stale: true },
    );
    expect(results['committed supergraph']).toMatchObject({ ok: false });
  });

  it('fails on a client operation that no longer validates, naming the file and line', () => {
    const removeReason = (sdl: string) =>
      sdl.replace(/ {2}"Why it was cancelled[^\n]*\n {2}cancellationReason: String\n/, '');
    const results = check(removeReason, {
      acknowledged: [
        {
          type: 'FIELD_REMOVED',
          description: 'Event.cancellationReason was removed.',
          reason: 'test',
        },
      ],
    });
    expect(results['breaking changes']?.ok).toBe(true);
    expect(results['client operations']?.ok).toBe(false);
    expect(results['client operations']?.details.join('\n')).toMatch(
      /clients\/operations\/EventPage\.graphql:\d+:\d+: Cannot query field "cancellationReason" on type "Event"/,
    );
  });

  it('fails when the safelist manifest is not the one the client operations generate', () => {
    const [first, ...rest] = operations;
    if (!first) throw new Error('no client operations');
    const changed = {
      ...first,
      document: first.document.replace(/\{\n/, '{\n  __typename\n'),
    };
    expect(changed.document).not.toBe(first.document);
    const results = check((sdl) => sdl, { clientOperations: [changed, ...rest] });
    expect(results['client operations']?.ok).toBe(true);
    expect(results['safelist manifest']).toMatchObject({
      ok: false,
      details: [expect.stringContaining('stale: run npm run operations:manifest')],
    });
  });
});
