import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type Identity,
  isOwnerOrAdmin,
  requireOwnerOrAdmin,
  requireRole,
  requireViewer,
} from '../src/index.ts';

const customer: Identity = { userId: 'u-1', role: 'CUSTOMER', sessionId: 's-1' };
const organizer: Identity = { userId: 'u-2', role: 'ORGANIZER', sessionId: 's-2' };
const admin: Identity = { userId: 'u-3', role: 'ADMIN', sessionId: 's-3' };

const codeOf = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as { extensions?: { code?: unknown; reason?: unknown } }).extensions;
  }
  throw new Error('expected an error');
};

describe('requireViewer', () => {
  it('returns the caller', () => {
    expect(requireViewer(customer)).toBe(customer);
  });

  it('refuses an anonymous request with UNAUTHENTICATED, reason required', () => {
    expect(codeOf(() => requireViewer(null, 'Log in.'))).toEqual({
      code: 'UNAUTHENTICATED',
      reason: 'required',
    });
  });
});

describe('requireRole', () => {
  const messages = { forbidden: 'Organizers only.' };

  it('returns the caller with its role narrowed', () => {
    const caller = requireRole(organizer, ['ORGANIZER', 'ADMIN'], messages);
    expect(caller).toBe(organizer);
    expectTypeOf(caller.role).toEqualTypeOf<'ORGANIZER' | 'ADMIN'>();
  });

  it('refuses another role with FORBIDDEN, and no caller with UNAUTHENTICATED', () => {
    expect(codeOf(() => requireRole(customer, ['ORGANIZER', 'ADMIN'], messages))).toEqual({
      code: 'FORBIDDEN',
    });
    expect(codeOf(() => requireRole(null, ['ORGANIZER'], messages))?.code).toBe('UNAUTHENTICATED');
  });
});

describe('owner or admin', () => {
  it('lets the owner and admins through, and no one else', () => {
    expect(isOwnerOrAdmin(customer, 'u-1')).toBe(true);
    expect(isOwnerOrAdmin(admin, 'u-1')).toBe(true);
    expect(isOwnerOrAdmin(organizer, 'u-1')).toBe(false);
    expect(isOwnerOrAdmin(null, 'u-1')).toBe(false);
  });

  it('refuses the others, anonymous callers included, with FORBIDDEN', () => {
    expect(requireOwnerOrAdmin(admin, 'u-1', 'Not yours.')).toBe(admin);
    expect(codeOf(() => requireOwnerOrAdmin(organizer, 'u-1', 'Not yours.'))).toEqual({
      code: 'FORBIDDEN',
    });
    expect(codeOf(() => requireOwnerOrAdmin(null, 'u-1', 'Not yours.'))).toEqual({
      code: 'FORBIDDEN',
    });
  });
});
