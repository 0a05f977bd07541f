// Side by side, alternating: how long a failed login takes for an unknown email and for a
// known email with a wrong password. They should be indistinguishable, so that timing
// does not reveal which emails have accounts. Runs the real login path (AccountService on
// an embedded database), with a fresh client address per attempt so that throttling does
// not cut it short.
//
//   npm run bench:login-timing --workspace @ticketing/users-subgraph [-- <rounds>]
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword } from '@ticketing/auth';
import { createLogger } from '@ticketing/platform';
import { usersDatabase } from '@ticketing/prisma/users';
import { generateSigningKey, type KeyRingFile, keyRingFrom } from '../src/auth/signing-keys.ts';
import { createUsersServices } from '../src/subgraph.ts';

const rounds = Number(process.argv[2] ?? 20);
const dataDir = await mkdtemp(join(tmpdir(), 'ticketing-login-bench-'));
const database = await usersDatabase.open({ kind: 'pglite', dataDir });
try {
  const key = await generateSigningKey('bench');
  const { accounts } = createUsersServices(
    database.prisma,
    await keyRingFrom({ active: 'bench', keys: [key] } as KeyRingFile),
    { issuer: 'bench', audience: 'bench' },
    createLogger('users', 'silent'),
  );
  // One account a round, so that no account reaches its lock threshold.
  const passwordHash = await hashPassword('the real password');
  await database.prisma.user.createMany({
    data: Array.from({ length: rounds }, (_, i) => ({
      email: `known-${i}@example.com`,
      name: 'Known',
      passwordHash,
    })),
  });

  const attempt = async (email: string, client: string) => {
    const started = performance.now();
    await accounts.logIn(email, 'a wrong password', client).catch(() => undefined);
    return performance.now() - started;
  };
  await attempt('warm-up@example.com', 'warm-up');

  const unknown: number[] = [];
  const wrong: number[] = [];
  for (let i = 0; i < rounds; i++) {
    unknown.push(await attempt(`unknown-${i}@example.com`, `10.0.0.${i}`));
    wrong.push(await attempt(`known-${i}@example.com`, `10.0.1.${i}`));
  }
  const median = (values: number[]) =>
    values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const [unknownMs, wrongMs] = [median(unknown), median(wrong)];
  console.log(`cores: ${availableParallelism()}, rounds: ${rounds} of each, alternating`);
  console.log(`unknown email       median ${unknownMs.toFixed(1)} ms`);
  console.log(`wrong password      median ${wrongMs.toFixed(1)} ms`);
  console.log(`ratio unknown/wrong ${(unknownMs / wrongMs).toFixed(3)}`);
} finally {
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}
