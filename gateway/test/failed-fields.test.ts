import { describe, expect, it } from 'vitest';
import {
  assertPlaceable,
  FailedFetch,
  failedPaths,
  fetchedFields,
  UnplacedAnswer,
} from '../src/failed-fields.ts';

describe('the fields a subgraph operation fills in', () => {
  it('are its root fields by response name, through fragments', () => {
    const operation = `query Q { mine: ticket(id: "1") { id } ...More ... on Query { order(id: "2") { id } } }
      fragment More on Query { myHolds { id } }`;
    expect(fetchedFields(operation)).toEqual(['mine', 'myHolds', 'order']);
  });

  it('are, for an entity fetch, those selected on its entities', () => {
    const operation = `query($representations: [_Any!]!) { _entities(representations: $representations) {
      __typename ... on Event { tiers: ticketTiers { id } } ... on User { name } } }`;
    expect(fetchedFields(operation)).toEqual(['tiers', 'name']);
  });
});

describe('the paths a failed fetch names', () => {
  const data = {
    events: {
      edges: [
        { node: { title: 'A', tiers: null } },
        { node: null },
        { node: { title: 'C', tiers: [] } },
      ],
    },
  };

  it('are its fields left null at each item of the lists on its way', () => {
    const failed = new FailedFetch(new Error('down'), ['events', 'edges', '@', 'node'], ['tiers']);
    // The second node is null: a non-null field it lacked made it so. The third has its
    // tiers from somewhere else: nothing failed there.
    expect(failedPaths(failed, data)).toEqual([
      ['events', 'edges', 0, 'node', 'tiers'],
      ['events', 'edges', 1, 'node'],
    ]);
  });

  it('are its root fields, also when the data is null', () => {
    const failed = new FailedFetch(new Error('down'), [], ['a', 'b']);
    expect(failedPaths(failed, { a: null, b: null, c: 1 })).toEqual([['a'], ['b']]);
    expect(failedPaths(failed, null)).toEqual([['a'], ['b']]);
  });

  it('are the root field they are under when the data is null', () => {
    const failed = new FailedFetch(new Error('down'), ['myTickets', 'edges', '@'], ['event']);
    expect(failedPaths(failed, null)).toEqual([['myTickets']]);
  });

  it('are none when the fetch names no field', () => {
    expect(failedPaths(new FailedFetch(new Error('down'), [], []), { a: 1 })).toEqual([]);
  });

  it('are in lists of lists', () => {
    const failed = new FailedFetch(new Error('down'), ['grid', '@', '@'], ['x']);
    expect(failedPaths(failed, { grid: [[{ x: null }], [{ x: 1 }, { x: null }]] })).toEqual([
      ['grid', 0, 0, 'x'],
      ['grid', 1, 1, 'x'],
    ]);
  });

  it('fall back to the part of the path the response has, never to none', () => {
    const failed = new FailedFetch(new Error('down'), ['events', 'edges', '@', 'node'], ['tiers']);
    expect(failedPaths(failed, { events: { edges: [] } })).toEqual([['events', 'edges']]);
  });
});

describe('a subgraph result the gateway can place', () => {
  const soldOut = { message: 'Sold out.', extensions: { code: 'SOLD_OUT' } };
  const representations = [
    { __typename: 'Event', id: '1' },
    { __typename: 'Event', id: '2' },
  ];

  it('has data where the fetch needs it, or an error at a field', () => {
    expect(() => assertPlaceable('tickets', { data: { ticket: null } }, {})).not.toThrow();
    const refused = { data: null, errors: [{ ...soldOut, path: ['holdTickets'] }] };
    expect(() => assertPlaceable('tickets', refused, {})).not.toThrow();
    const entities = { data: { _entities: [null, { ticketTiers: [] }] } };
    expect(() => assertPlaceable('tickets', entities, { representations })).not.toThrow();
    const atEntity = {
      data: { _entities: null },
      errors: [{ ...soldOut, path: ['_entities', 1] }],
    };
    expect(() => assertPlaceable('tickets', atEntity, { representations })).not.toThrow();
  });

  it('is not one with no data and errors at no field, keeping the subgraph’s own', () => {
    const noField = { data: null, errors: [soldOut] };
    expect(() => assertPlaceable('tickets', noField, {})).toThrow(UnplacedAnswer);
    try {
      assertPlaceable(
        'tickets',
        { data: { _entities: null }, errors: [{ ...soldOut, path: ['_entities'] }] },
        { representations },
      );
    } catch (error) {
      expect((error as UnplacedAnswer).answered).toEqual({
        message: 'Sold out.',
        extensions: { code: 'SOLD_OUT', serviceName: 'tickets' },
      });
    }
    expect.assertions(2);
  });

  it('is not one without an entity for each representation, or without data or errors', () => {
    const short = { data: { _entities: [{ ticketTiers: [] }] } };
    expect(() => assertPlaceable('tickets', short, { representations })).toThrow(
      /no GraphQL result/,
    );
    expect(() => assertPlaceable('tickets', {}, {})).toThrow(/no GraphQL result/);
  });
});
