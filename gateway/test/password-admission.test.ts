import { type DocumentNode, Kind, type OperationDefinitionNode, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { NewPasswordAdmission } from '../src/password-admission.ts';
import { newPasswordFields, passwordFieldKeys } from '../src/password-fields.ts';

describe('the admission of new passwords', () => {
  it('closes for the pause after a refusal, and opens again after it', () => {
    let now = 1_000_000;
    const admission = new NewPasswordAdmission({ pauseMs: 1_000, now: () => now });
    expect(admission.open).toBe(true);
    admission.close();
    expect(admission.open).toBe(false);
    now += 999;
    expect(admission.open).toBe(false);
    now += 1;
    expect(admission.open).toBe(true);
  });

  it('stays closed for a pause from the latest refusal, never shortened by an earlier one', () => {
    let now = 0;
    const admission = new NewPasswordAdmission({ pauseMs: 1_000, now: () => now });
    admission.close();
    now = 600;
    admission.close();
    now = 1_200;
    expect(admission.open).toBe(false);
    now = 1_600;
    expect(admission.open).toBe(true);
  });
});

describe('the new-password fields of an operation', () => {
  const keysOf = (source: string) => {
    const document: DocumentNode = parse(source);
    const operation = document.definitions.find(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION,
    );
    return passwordFieldKeys(operation as OperationDefinitionNode, document, newPasswordFields);
  };

  it('are found under aliases, in fragments and inline fragments, each key once', () => {
    expect(keysOf('mutation { mine: signUp(input: $i) { accessToken } }')).toEqual(['mine']);
    expect(
      keysOf(
        'mutation { ...A ... on Mutation { b: changePassword(currentPassword: "x", newPassword: "y") } } fragment A on Mutation { signUp(input: $i) { accessToken } }',
      ),
    ).toEqual(['signUp', 'b']);
  });

  it('leave out logins, account deletion and every other field', () => {
    expect(
      keysOf(
        'mutation { logIn(email: "a", password: "b") { accessToken } deleteAccount(password: "c") signUpCount: logOut }',
      ),
    ).toEqual([]);
  });
});
