// A deletion whose users process dies between closing the account in the tickets service
// and deleting it in the users database: the users service, a real process here, is killed
// with SIGKILL in that instant, made certain as in account-deletion.test.ts, and started
// again. Meanwhile the account can neither sign in nor refresh (ACCOUNT_DELETION_PENDING);
// past the deletion's deadline the process started again settles it: deleted everywhere,
// or, when it can no longer be deleted (its password changed since), open everywhere. Two
// replicas sweeping at once settle each deletion once.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { signedSubgraphHeaders, subgraphSecret } from '@ticketing/platform';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/ports.ts';
import { nodeFlags } from '../../scripts/services.ts';
import { repositoryRoot } from '../../scripts/topology.ts';
import { deletionDeadlineMs } from '../../subgraphs/users/src/services/AccountService.ts';
import { buyTickets } from './door.ts';
import { type Supergraph, startSupergraph } from './harness.ts';
import {
  type AuthPayload,
  codeOf,
  eventOnSale,
  logIn,
  refresh,
  signUp,
  strongPassword,
} from './operations.ts';

let supergraph: Supergraph;
let organizer: AuthPayload;
const processes: ChildProcess[] = [];

beforeAll(async () => {
  // The in-process users service sweeps only at its start: the processes here settle.
  supergraph = await startSupergraph();
  organizer = await signUp(supergraph, { accountType: 'ORGANIZER' });
});
afterEach(async () => {
  for (const child of processes.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});
afterAll(async () => {
  await supergraph?.stop();
});

interface UsersProcess {
  child: ChildProcess;
  url: string;
  output: string[];
}

/**
 * The users service as a process of its own, on the supergraph's users database. Ready once
 * it says it listens on the port drawn for it: another process may have taken that port
 * meanwhile (it was free a moment before), and would answer for it while this one exits. A
 * port taken so is drawn anew, three times at most.
 */
async function startUsersProcess(): Promise<UsersProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, [...nodeFlags, 'subgraphs/users/src/index.ts'], {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(port),
        DRAIN_DEADLINE_MS: '0',
        SEED_DEMO_DATA: 'false',
        DATA_DIR: supergraph.dataDir,
        USERS_DATABASE_URL: supergraph.databaseUrls.users,
        TICKETS_URL: supergraph.subgraphUrls.tickets,
        DELETION_SWEEP_INTERVAL_MS: '200',
        REDIS_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    processes.push(child);
    const output: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const url = `http://127.0.0.1:${port}/graphql`;
    // Its output is all read once its streams close, after it exited.
    const closed = new Promise((resolve) => child.once('close', resolve));
    await until(
      async () =>
        child.exitCode !== null ||
        child.signalCode !== null ||
        output.join('').includes(`"url":"${url}"`),
      30_000,
      () => output.join(''),
    );
    if (child.exitCode === null && child.signalCode === null) return { child, url, output };
    await closed;
    if (attempt >= 3 || !output.join('').includes('is already in use')) {
      throw new Error(`the users process exited: ${output.join('')}`);
    }
  }
}

/** `query` sent straight to one users process, signed as the gateway signs it. */
function requestAt(
  users: UsersProcess,
  query: string,
  variables: Record<string, unknown>,
  account?: AuthPayload,
) {
  const body = JSON.stringify({ query, variables });
  const claims = account && decodeJwt(account.accessToken);
  return fetch(users.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signedSubgraphHeaders({
        secret: subgraphSecret('users', {}),
        subgraph: 'users',
        body,
        viewer:
          account && claims
            ? {
                userId: account.user.id,
                role: claims.role as 'CUSTOMER',
                sessionId: claims.sid as string,
              }
            : null,
      }),
    },
    body,
  });
}

/** `deleteAccount` sent straight to one users process. */
function deleteAccountAt(users: UsersProcess, account: AuthPayload) {
  return requestAt(
    users,
    'mutation ($p: String!) { deleteAccount(password: $p) }',
    { p: strongPassword },
    account,
  );
}

/** Marks each account's deletion as a killed process left it: due, not finished. */
async function markDue(accounts: AuthPayload[]): Promise<void> {
  for (const account of accounts) {
    await supergraph.databases.users.$executeRaw`
      INSERT INTO pending_deletions (user_id, password_hash, started_at)
      SELECT id, password_hash, now() - interval '1 minute' FROM users
      WHERE id = ${account.user.id}::uuid`;
  }
}

async function until(
  condition: () => Promise<boolean>,
  ms: number,
  explain: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`the condition never held ${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Kills `users` with SIGKILL while each of `accounts`' deletions, sent to it, is between
 * the closing in the tickets service (committed) and the deletion here: a second connection
 * holds a hold of each account locked, which the closing waits for before it answers.
 */
async function killBetweenClosingAndDeleting(
  users: UsersProcess,
  accounts: AuthPayload[],
  tierId: string,
): Promise<void> {
  const holdIds: string[] = [];
  for (const account of accounts) {
    const held = await supergraph.request<{ holdTickets: { id: string } }>(
      'mutation ($tierId: ID!) { holdTickets(tierId: $tierId, quantity: 1) { id } }',
      { tierId },
      { token: account.accessToken },
    );
    holdIds.push(held.data?.holdTickets.id as string);
  }
  await supergraph.databases.tickets.$transaction(
    async (tx) => {
      for (const id of holdIds) {
        await tx.$queryRaw`SELECT 1 FROM holds WHERE id = ${id}::uuid FOR UPDATE`;
      }
      const answers = accounts.map((account) =>
        deleteAccountAt(users, account).catch((error: unknown) => error),
      );
      await until(
        async () =>
          (await supergraph.databases.tickets.closedAccount.count({
            where: { userId: { in: accounts.map((account) => account.user.id) } },
          })) === accounts.length,
        10_000,
      );
      users.child.kill('SIGKILL');
      await once(users.child, 'exit');
      // Each request died with the process: none was answered.
      for (const answer of await Promise.all(answers)) expect(answer).toBeInstanceOf(Error);
    },
    { timeout: 20_000 },
  );
}

/** Where each service stands on `account`. */
async function standing(account: AuthPayload) {
  const user = await supergraph.databases.users.user.findUniqueOrThrow({
    where: { id: account.user.id },
  });
  return {
    deleted: user.deletedAt !== null,
    closedForTickets:
      (await supergraph.databases.tickets.closedAccount.count({
        where: { userId: account.user.id },
      })) === 1,
    pending:
      (await supergraph.databases.users.pendingDeletion.count({
        where: { userId: account.user.id },
      })) === 1,
  };
}

/** Waits until the account is settled one way or the other, and says which. */
async function settled(accounts: AuthPayload[], ms: number, explain: () => string) {
  await until(
    async () => {
      for (const account of accounts) {
        // Settled once its mark is gone too: a reopening reopens there, then removes it.
        const { deleted, closedForTickets, pending } = await standing(account);
        if (pending || deleted !== closedForTickets) return false;
      }
      return true;
    },
    ms,
    explain,
  );
  return Promise.all(accounts.map(standing));
}

const finished = { deleted: true, closedForTickets: true, pending: false };
const undone = { deleted: false, closedForTickets: false, pending: false };

describe('a deletion whose users process was killed in the middle', () => {
  it('refuses the account’s logins and refreshes meanwhile, and is settled by the process started again', async () => {
    const { tierIds } = await eventOnSale(supergraph, organizer.accessToken, [
      { name: 'GA', priceCents: 1000, currency: 'EUR', capacity: 10 },
    ]);
    const tierId = tierIds[0] as string;
    const leaving = await signUp(supergraph);
    const staying = await signUp(supergraph);
    const users = await startUsersProcess();
    const killedAt = Date.now();
    await killBetweenClosingAndDeleting(users, [leaving, staying], tierId);

    // Half-done: alive here, closed there. Neither a login nor a refresh succeeds into it.
    expect(await standing(leaving)).toEqual({
      deleted: false,
      closedForTickets: true,
      pending: true,
    });
    const login = await logIn(supergraph, leaving.user.email);
    expect(codeOf(login)).toBe('ACCOUNT_DELETION_PENDING');
    expect(login.data).toBeNull();
    const refreshed = await refresh(supergraph, leaving.refreshToken);
    expect(codeOf(refreshed)).toBe('ACCOUNT_DELETION_PENDING');
    // The other's password changes before it is settled: it can no longer be deleted as asked.
    await supergraph.databases.users
      .$executeRaw`UPDATE users SET password_hash = 'changed meanwhile' WHERE id = ${staying.user.id}::uuid`;

    const again = await startUsersProcess();
    const [left, stayed] = await settled([leaving, staying], deletionDeadlineMs + 15_000, () =>
      again.output.join(''),
    );
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(deletionDeadlineMs);
    expect(left).toEqual(finished);
    expect(stayed).toEqual(undone);
    // Open everywhere: it buys again, and its refresh token, kept live meanwhile, works.
    const [bought] = await buyTickets(supergraph, staying.accessToken, tierId);
    expect(bought?.id).toBeDefined();
    expect((await refresh(supergraph, staying.refreshToken)).errors).toBeUndefined();
    expect(codeOf(await logIn(supergraph, leaving.user.email))).toBe('INVALID_CREDENTIALS');
  }, 90_000);

  it('is settled once when two replicas sweep at once', async () => {
    const accounts: AuthPayload[] = [];
    for (let i = 0; i < 6; i++) accounts.push(await signUp(supergraph));
    // Each one's deletion as a killed process left it, past its deadline: marked here,
    // closed there; half of them with their password changed since.
    await markDue(accounts);
    for (const [i, account] of accounts.entries()) {
      await supergraph.databases.tickets.closedAccount.create({
        data: { userId: account.user.id },
      });
      if (i % 2 === 1) {
        await supergraph.databases.users
          .$executeRaw`UPDATE users SET password_hash = 'changed meanwhile' WHERE id = ${account.user.id}::uuid`;
      }
    }
    const [first, second] = await Promise.all([startUsersProcess(), startUsersProcess()]);
    const output = () => [...first.output, ...second.output].join('');
    const outcomes = await settled(accounts, 20_000, output);
    expect(outcomes).toEqual(accounts.map((_, i) => (i % 2 === 1 ? undone : finished)));
    // Each settled by one replica, once.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const [i, account] of accounts.entries()) {
      const lines = output()
        .split('\n')
        .filter((line) => line.includes(account.user.id));
      expect(lines.filter((line) => /account deleted|deletion settled/.test(line))).toHaveLength(1);
      expect(lines.join('\n')).toMatch(i % 2 === 1 ? /"outcome":"reopened"/ : /account deleted/);
    }
    // The sweeps log as the deletion sweep, not as the retention of rows.
    const sweeps = output()
      .split('\n')
      .filter((line) => line.includes('pending account deletions'));
    expect(sweeps.length).toBeGreaterThan(0);
    for (const line of sweeps) {
      expect(JSON.parse(line)).toMatchObject({ msg: 'settled pending account deletions' });
    }
    expect(sweeps.map((line) => JSON.parse(line).settled as number)).toSatisfy(
      (counts: number[]) => counts.reduce((sum, count) => sum + count, 0) === accounts.length,
    );
  }, 90_000);

  it('holds no transaction open on the users database while the tickets service is slow, and logins answer meanwhile', async () => {
    const leaving: AuthPayload[] = [];
    for (let i = 0; i < 3; i++) leaving.push(await signUp(supergraph));
    const other = await signUp(supergraph);
    await markDue(leaving);
    let users: UsersProcess | undefined;
    // The tickets service slow: its closeAccount waits for this lock (and its caller gives
    // up on it, past its own deadline) while the transaction lasts.
    await supergraph.databases.tickets.$transaction(
      async (tx) => {
        await tx.$executeRaw`LOCK TABLE closed_accounts IN EXCLUSIVE MODE`;
        users = await startUsersProcess();
        const started = users;
        // The sweeper at work on one: its closeAccount waits in the tickets database.
        await until(
          async () =>
            (
              await supergraph.databases.tickets.$queryRaw<unknown[]>`
              SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`
            ).length > 0,
          10_000,
          () => started.output.join(''),
        );
        const deadline = Date.now() + 4_000;
        while (Date.now() < deadline) {
          // No connection of the users database sits in a transaction meanwhile.
          const inTransaction = await supergraph.databases.users.$queryRaw<unknown[]>`
            SELECT 1 FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'idle in transaction'`;
          expect(inTransaction).toHaveLength(0);
          const began = Date.now();
          const answer = (await (
            await requestAt(
              started,
              'mutation ($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }',
              { e: other.user.email, p: strongPassword },
            )
          ).json()) as { data?: { logIn?: { accessToken?: string } } };
          expect(answer.data?.logIn?.accessToken).toBeTypeOf('string');
          expect(Date.now() - began).toBeLessThan(2_000);
        }
      },
      { timeout: 30_000 },
    );
    // The tickets service back: each is settled.
    const explain = () => users?.output.join('') ?? '';
    await until(
      async () => (await Promise.all(leaving.map(standing))).every(({ pending }) => !pending),
      20_000,
      explain,
    );
    expect(await Promise.all(leaving.map(standing))).toEqual(leaving.map(() => finished));
  }, 90_000);

  it('leaves a mark leased by another sweeper until its lease ends, and takes one whose sweeper stopped', async () => {
    const [held, abandoned] = [await signUp(supergraph), await signUp(supergraph)];
    await markDue([held, abandoned]);
    await supergraph.databases.tickets.closedAccount.createMany({
      data: [{ userId: held.user.id }, { userId: abandoned.user.id }],
    });
    // One is another replica's, at work on it; the other's sweeper was killed.
    await supergraph.databases.users.$executeRaw`
      UPDATE pending_deletions SET lease_token = gen_random_uuid(), attempts = 1,
        lease_until = now() + CASE WHEN user_id = ${held.user.id}::uuid
          THEN interval '1 hour' ELSE interval '-1 second' END
      WHERE user_id IN (${held.user.id}::uuid, ${abandoned.user.id}::uuid)`;
    const users = await startUsersProcess();
    const explain = () => users.output.join('');
    await until(async () => !(await standing(abandoned)).pending, 20_000, explain);
    expect(await standing(abandoned)).toEqual(finished);
    // Several sweeps later, the leased one is as it was.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await standing(held)).toEqual({ deleted: false, closedForTickets: true, pending: true });
    expect(
      await supergraph.databases.users.pendingDeletion.findUniqueOrThrow({
        where: { userId: held.user.id },
        select: { attempts: true },
      }),
    ).toEqual({ attempts: 1 });
    // Its lease ended (that replica stopped): taken, and settled.
    await supergraph.databases.users.$executeRaw`
      UPDATE pending_deletions SET lease_until = now() - interval '1 second'
      WHERE user_id = ${held.user.id}::uuid`;
    await until(async () => !(await standing(held)).pending, 20_000, explain);
    expect(await standing(held)).toEqual(finished);
  }, 90_000);
});
