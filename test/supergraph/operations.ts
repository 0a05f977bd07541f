// The operations the supergraph tests send, as a client would.
import type { Supergraph } from './harness.ts';

export const authPayloadFields =
  'accessToken refreshToken accessTokenExpiresAt user { id email name role }';

export interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  user: { id: string; email: string; name: string; role: string };
}

let counter = 0;
/** An email no other test uses. */
export function uniqueEmail(label = 'user'): string {
  counter += 1;
  return `${label}-${process.pid}-${counter}@example.com`;
}

export const strongPassword = 'correct horse battery staple';

export async function signUp(
  supergraph: Supergraph,
  input: {
    email?: string;
    password?: string;
    name?: string;
    accountType?: 'CUSTOMER' | 'ORGANIZER';
  } = {},
): Promise<AuthPayload> {
  const result = await supergraph.request<{ signUp: AuthPayload }>(
    `mutation ($input: SignUpInput!) { signUp(input: $input) { ${authPayloadFields} } }`,
    {
      input: {
        email: input.email ?? uniqueEmail(),
        password: input.password ?? strongPassword,
        name: input.name ?? 'Test User',
        accountType: input.accountType ?? 'CUSTOMER',
      },
    },
  );
  if (!result.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(result.errors)}`);
  return result.data.signUp;
}

export async function logIn(
  supergraph: Supergraph,
  email: string,
  password = strongPassword,
  headers?: Record<string, string>,
) {
  return supergraph.request<{ logIn: AuthPayload }>(
    `mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { ${authPayloadFields} } }`,
    { email, password },
    headers ? { headers } : {},
  );
}

export async function refresh(supergraph: Supergraph, refreshToken: string) {
  return supergraph.request<{ refreshSession: AuthPayload }>(
    `mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { ${authPayloadFields} } }`,
    { refreshToken },
  );
}

export const meQuery = '{ me { id email name role } }';

export function codeOf(result: { errors?: { extensions?: Record<string, unknown> }[] }): unknown {
  return result.errors?.[0]?.extensions?.code;
}
