export const roles = ['CUSTOMER', 'ORGANIZER', 'ADMIN'] as const;

export type Role = (typeof roles)[number];

/** Who is calling: established from a verified access token, present in every subgraph's context. */
export interface Identity {
  userId: string;
  role: Role;
  /** The session (refresh-token family) the access token was issued for. */
  sessionId: string;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}
