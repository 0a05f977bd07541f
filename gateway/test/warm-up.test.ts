import { type OperationDefinitionNode, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { placeholderVariables } from '../src/warm-up.ts';

const operation = (text: string) => parse(text).definitions[0] as OperationDefinitionNode;

describe('the warm-up placeholders', () => {
  it('fills required variables only, by their type', () => {
    expect(
      placeholderVariables(
        operation(
          'query Q($id: ID!, $code: String!, $ids: [ID!]!, $first: Int, $hours: Int! = 24) { __typename }',
        ),
      ),
    ).toEqual({ id: '00000000-0000-0000-0000-000000000000', code: '', ids: [] });
  });

  it('gives up on a required variable it cannot fill, so that the operation is skipped', () => {
    expect(
      placeholderVariables(operation('query Q($input: PurchaseInput!) { __typename }')),
    ).toBeUndefined();
  });
});
