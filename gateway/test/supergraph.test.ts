import { describe, expect, it } from 'vitest';
import { CompositionError, composeSupergraph, readCommittedSupergraph } from '../src/compose.ts';
import { readSubgraphSdl, subgraphSources } from '../src/subgraphs.ts';

describe('the committed supergraph', () => {
  it('is what the subgraph schemas compose to today (run `npm run compose` if not)', () => {
    expect(readCommittedSupergraph()).toBe(composeSupergraph());
  });
});

describe('composition', () => {
  it('fails with every problem named when subgraphs disagree', () => {
    const conflicting = (source: (typeof subgraphSources)[number]) =>
      source.name === 'tickets'
        ? readSubgraphSdl(source).replace(
            /ticketsAvailable: Int\n/,
            'ticketsAvailable: Int\n  title: Int!\n',
          )
        : readSubgraphSdl(source);
    expect(() => composeSupergraph(subgraphSources, conflicting)).toThrow(CompositionError);
    expect(() => composeSupergraph(subgraphSources, conflicting)).toThrow(
      /\[INVALID_FIELD_SHARING\].*"Event\.title"/,
    );
  });
});
