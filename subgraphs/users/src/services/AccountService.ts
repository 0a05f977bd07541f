import { randomUUID } from 'node:crypto';
import {
  forbidden,
  hashPassword,
  type Identity,
  longerThanAnyPassword,
  passwordProblem,
  type Role,
  reserveHashingTurn,
  unauthenticated,
  verifyAgainstDecoy,
  verifyPassword,
} from '@ticketing/auth';
import {
  badUserInput,
  currentRequestAbandoned,
  isUuid,
  type Logger,
  notFound,
  parseInput,
  type RevocationPublisher,
  revocationLifetimeMs,
  revokedBeforeNow,
  serviceUnavailable,
} from '@ticketing/platform';
import type { User } from '@ticketing/prisma/users';
import { GraphQLError } from 'graphql';
import {
  type AccessTokenIssuer,
  hashRefreshToken,
  newRefreshToken,
  refreshTokenLifetimeMs,
  successorRefreshToken,
} from '../auth/tokens.ts';
import { failure } from '../errors.ts';
import {
  type Issuable,
  type NewSession,
  type SessionLimits,
  type SessionRepository,
  type SessionStart,
  startSessionIn,
} from '../repositories/SessionRepository.ts';
import type { UserRepository } from '../repositories/UserRepository.ts';
import {
  emailSchema,
  nameSchema,
  passwordSchemaFor,
  signUpSchema,
  updateProfileSchema,
} from '../validation.ts';
import type { LoginThrottle } from './LoginThrottle.ts';
import type { TicketsAccounts } from './TicketsAccounts.ts';

/** Live sessions one account may have unless MAX_SESSIONS_PER_USER says otherwise. */
export const defaultMaxSessionsPerUser = 50;

/**
 * Refresh tokens one account may exchange in an hour, all its sessions together, unless
 * REFRESHES_PER_ACCOUNT_PER_HOUR says otherwise: an access token lives 15 minutes, so a
 * session refreshes about 4 times an hour, and 120 leave room for many devices and tabs.
 */
export const defaultRefreshesPerAccountPerHour = 120;

export interface AuthPayload {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: Date;
  user: User;
}

/**
 * A failed login is not an invalid token: clients refresh on UNAUTHENTICATED, and must not
 * when the password was wrong.
 */
const wrongCredentials = () =>
  failure('INVALID_CREDENTIALS', 'The email or password is incorrect.');
const wrongPassword = (field: string) =>
  failure('INVALID_CREDENTIALS', 'The password is incorrect.', { field });
const invalidRefreshToken = () =>
  unauthenticated('The refresh token is invalid or expired.', 'invalid');

/** The tickets service refused to close the account: nothing was closed to reopen. */
const closingRefused = (error: unknown) =>
  error instanceof GraphQLError &&
  (error.extensions.code === 'ACCOUNT_HAS_TICKETS' ||
    error.extensions.code === 'ACCOUNT_HAS_EVENTS');

/** Its deletion is under way: neither deleted nor open yet (see DeletionSweeper.ts). */
const deletionPending = () =>
  failure(
    'ACCOUNT_DELETION_PENDING',
    'This account is being deleted: it cannot sign in until the deletion is finished or undone, in a few seconds.',
  );

/**
 * How long a deletion's own request may take between marking it and finishing or undoing
 * it: the tickets service's closing (3 s) and reopening (3 s), with room to spare. The
 * deletion sweeper settles only deletions marked longer ago, which no request is still on.
 */
export const deletionDeadlineMs = 15_000;

/**
 * How long a sweeper's (or a reopening's) lease on a deletion's mark lasts: its calls to the
 * tickets service (3 s each at most) and its writes, with room to spare. One that stopped
 * holding it (killed) delays the mark's settling this long.
 */
export const deletionLeaseMs = 30_000;

const onlyAdmin = () =>
  forbidden('The only admin cannot delete their account: make another admin first.');

/**
 * Refuses to write what took a new password's hash when the gateway stopped waiting for it
 * meanwhile (a hash waits its turn on a short queue, and under load the wait can outlast the
 * gateway's deadline): the client was told SERVICE_UNAVAILABLE, to retry, and an account
 * created or a password changed behind that answer would turn its retry into EMAIL_TAKEN or
 * a wrong current password.
 */
function refuseWhenAbandoned(): void {
  if (currentRequestAbandoned()) throw serviceUnavailable();
}

/** A session about to start: its family, and its first refresh token for `of(userId)`. */
function newSession() {
  const familyId = crypto.randomUUID();
  const refresh = newRefreshToken();
  const expiresAt = new Date(Date.now() + refreshTokenLifetimeMs);
  return {
    familyId,
    refreshToken: refresh.token,
    of: (userId: string): NewSession => ({ userId, familyId, tokenHash: refresh.hash, expiresAt }),
  };
}

/** Sign-up, login, sessions and account management: the users service's rules. */
export class AccountService {
  readonly #users: UserRepository;
  readonly #sessions: SessionRepository;
  readonly #throttle: LoginThrottle;
  readonly #issuer: AccessTokenIssuer;
  readonly #revocations: RevocationPublisher;
  readonly #logger: Logger;
  readonly #successorKeys: readonly Uint8Array[];
  readonly #refreshGraceMs: number;
  readonly #maxSessions: number;
  readonly #refreshesPerHour: number;
  readonly #tickets: Pick<TicketsAccounts, 'close' | 'reopen'>;

  constructor(deps: {
    users: UserRepository;
    sessions: SessionRepository;
    throttle: LoginThrottle;
    issuer: AccessTokenIssuer;
    /** Tells every gateway which access tokens stop working now. */
    revocations: RevocationPublisher;
    /** Closes an account in the tickets service before it is deleted here. */
    tickets: Pick<TicketsAccounts, 'close' | 'reopen'>;
    logger: Logger;
    /** Derive each refresh token's successor, the first now (see successorRefreshToken). */
    successorKeys: readonly Uint8Array[];
    /** How long an exchanged refresh token still returns its successor. */
    refreshGraceMs: number;
    /**
     * Live sessions one account may have; a new one ends the least recently used beyond.
     * @default defaultMaxSessionsPerUser
     */
    maxSessionsPerUser?: number;
    /**
     * Refresh tokens one account may exchange in an hour.
     * @default defaultRefreshesPerAccountPerHour
     */
    refreshesPerAccountPerHour?: number;
  }) {
    this.#maxSessions = deps.maxSessionsPerUser ?? defaultMaxSessionsPerUser;
    this.#refreshesPerHour = deps.refreshesPerAccountPerHour ?? defaultRefreshesPerAccountPerHour;
    this.#successorKeys = deps.successorKeys;
    this.#refreshGraceMs = deps.refreshGraceMs;
    this.#users = deps.users;
    this.#sessions = deps.sessions;
    this.#throttle = deps.throttle;
    this.#issuer = deps.issuer;
    this.#revocations = deps.revocations;
    this.#tickets = deps.tickets;
    this.#logger = deps.logger;
  }

  async signUp(input: unknown, clientAddress: string | undefined): Promise<AuthPayload> {
    // Cheapest refusals first: a full hashing queue costs nothing to refuse, the throttle a
    // database round trip, and the input's strength check tens of milliseconds of CPU. The
    // place on the queue is taken at once, so that the requests beyond it are all refused
    // here, and none only at its hash, after the other two.
    const turn = reserveHashingTurn();
    try {
      await this.#throttle.admitSignUp(clientAddress);
      const { email, password, name, accountType } = parseInput(signUpSchema, input, 'input');
      const passwordHash = await turn.hash(password);
      refuseWhenAbandoned();
      // The account and its first session in one transaction: a sign-up that stopped
      // between the two (the gateway gone) would leave an account its retry finds taken.
      const session = newSession();
      const started = await this.#users.createWith(
        { email, name, role: accountType, passwordHash },
        (tx, user) => startSessionIn(tx, session.of(user.id), this.#sessionLimits()),
      );
      const payload = await this.#sessionStarted(started, session);
      // Unreachable for an account made in the same transaction; typed as any start is.
      if (!payload || payload === 'deletion-pending')
        throw unauthenticated('This account no longer exists.', 'invalid');
      return payload;
    } finally {
      turn.release();
    }
  }

  async logIn(
    rawEmail: string,
    password: string,
    clientAddress: string | undefined,
  ): Promise<AuthPayload> {
    const email = parseInput(emailSchema, rawEmail, 'email');
    // No account has a password this long: wrong, whoever the email is, before any work on
    // it. Not counted by the throttle, which counts password checks; none runs.
    if (longerThanAnyPassword(password)) throw wrongCredentials();
    const user = await this.#users.findActiveByEmail(email);
    // An unknown email costs the same password work as a wrong password, and fails alike.
    const valid = await this.#throttle.attempt(email, clientAddress, () =>
      user?.passwordHash
        ? verifyPassword(password, user.passwordHash)
        : verifyAgainstDecoy(password),
    );
    if (!user || !valid) throw wrongCredentials();
    // Only with the password just checked: a change or a deletion meanwhile refuses it.
    const session = await this.#startSession(user, user.passwordHash);
    if (!session) throw wrongCredentials();
    if (session === 'deletion-pending') throw deletionPending();
    return session;
  }

  async refreshSession(refreshToken: string): Promise<AuthPayload> {
    const successor = successorRefreshToken(refreshToken, this.#successorKeys[0] as Uint8Array);
    const expiresAt = new Date(Date.now() + refreshTokenLifetimeMs);
    const outcome = await this.#sessions.rotate(
      hashRefreshToken(refreshToken),
      { tokenHash: successor.hash, expiresAt },
      { perHour: this.#refreshesPerHour },
    );
    if (outcome.status === 'deletion-pending') throw deletionPending();
    if (outcome.status === 'throttled') {
      // The token stays live: the client keeps it, and its access token, until then.
      throw failure('TOO_MANY_ATTEMPTS', 'Too many session refreshes. Try again later.', {
        retryAfterSeconds: Math.max(1, Math.ceil((outcome.retryAt.getTime() - Date.now()) / 1000)),
      });
    }
    if (
      outcome.status === 'reused' &&
      Date.now() - outcome.usedAt.getTime() <= this.#refreshGraceMs
    ) {
      // A concurrent refresh (another tab) exchanged it a moment ago: the same successor,
      // as long as the session was not ended meanwhile. It was derived with the key active
      // then, which a signing-key rotation since may have made an older one of the ring.
      for (const key of this.#successorKeys) {
        const earlier = successorRefreshToken(refreshToken, key);
        if (!(await this.#sessions.findByHash(earlier.hash))) continue;
        const resumed = await this.#sessions.resume(earlier.hash);
        if (resumed) return this.#payload(resumed, resumed.familyId, earlier.token);
        break;
      }
    }
    if (outcome.status === 'reused') {
      // A used token came back: it was stolen, or its successor was. End the whole session,
      // and the access tokens issued for it (the thief's among them), as logOut does.
      await this.#sessions.revokeFamily(outcome.userId, outcome.familyId);
      await this.#revocations.publish({ kind: 'session', id: outcome.familyId });
      this.#logger.warn({ familyId: outcome.familyId }, 'refresh token reused; session revoked');
      throw invalidRefreshToken();
    }
    if (outcome.status !== 'rotated') throw invalidRefreshToken();
    return this.#payload(outcome, outcome.familyId, successor.token);
  }

  /**
   * A session's access token, for the user and at the time read under the user's lock (see
   * lockUser), beside the refresh token that continues the session.
   */
  async #payload(
    { user, issuedAt }: Issuable,
    familyId: string,
    refreshToken: string,
  ): Promise<AuthPayload> {
    const access = await this.#issuer.issue(user, familyId, issuedAt);
    return {
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      user,
    };
  }

  async logOut(refreshToken: string): Promise<boolean> {
    const token = await this.#sessions.findByHash(hashRefreshToken(refreshToken));
    if (!token) throw invalidRefreshToken();
    await this.#sessions.revokeFamily(token.userId, token.familyId);
    await this.#revocations.publish({ kind: 'session', id: token.familyId });
    return true;
  }

  async updateProfile(
    viewer: Identity | null,
    input: unknown,
    clientAddress: string | undefined,
  ): Promise<User> {
    const user = await this.#activeUser(viewer);
    const { currentPassword, ...changes } = parseInput(updateProfileSchema, input, 'input');
    const newEmail = changes.email !== undefined && changes.email !== user.email;
    if (newEmail) {
      // The email is where password resets would go: changing it takes the password, as a
      // stolen access token alone must not be enough to take the account over.
      if (currentPassword === undefined) {
        throw badUserInput('Changing the email needs the current password.', 'currentPassword');
      }
      await this.#checkPassword(user, currentPassword, clientAddress, 'currentPassword');
    }
    const updated = await this.#users.updateProfile(
      user.id,
      changes,
      newEmail ? user.passwordHash : undefined,
    );
    if (updated) return updated;
    await this.#activeUser(viewer);
    // Still live: the password checked was changed meanwhile.
    throw wrongPassword('currentPassword');
  }

  async changePassword(
    viewer: Identity | null,
    currentPassword: string,
    newPassword: string,
    clientAddress: string | undefined,
  ): Promise<boolean> {
    const user = await this.#activeUser(viewer);
    // Both passwords are bounded before any work on either: the new one by the policy (its
    // maximum checked before normalising), the current one in #checkPassword.
    parseInput(passwordSchemaFor([user.email, user.name]), newPassword, 'newPassword');
    await this.#checkPassword(user, currentPassword, clientAddress, 'currentPassword');
    const passwordHash = await hashPassword(newPassword);
    refuseWhenAbandoned();
    // Only if the password is still the one checked: of two changes made with the same
    // current password, the second finds it changed, as if it were wrong.
    const others = await this.#users.replacePassword(user.id, {
      currentHash: user.passwordHash,
      newHash: passwordHash,
      keepFamilyId: (viewer as Identity).sessionId,
      recentMs: revocationLifetimeMs,
    });
    if (!others) {
      await this.#activeUser(viewer);
      throw wrongPassword('currentPassword');
    }
    await this.#revocations.publish(...others.map((id) => ({ kind: 'session' as const, id })));
    return true;
  }

  async deleteAccount(
    viewer: Identity | null,
    password: string,
    clientAddress: string | undefined,
  ): Promise<boolean> {
    const user = await this.#activeUser(viewer);
    await this.#checkPassword(user, password, clientAddress, 'password');
    if (user.role === 'ADMIN' && (await this.#users.countAdmins()) <= 1) throw onlyAdmin();
    // The tickets service first: it refuses while the account holds tickets or organizes
    // published events not over, and otherwise takes nothing new for it (nor publishes) and
    // releases what it left. Nothing is deleted here unless it did. A deletion that stops
    // after it (the tickets service past its deadline, the password changed meanwhile, the
    // gateway gone, any failure) reopens the account there: alive here, open there. The
    // deletion is marked here first, so that one this process cannot finish or undo (it
    // stopped in between) is settled by the deletion sweeper (settlePendingDeletions).
    const identity = viewer as Identity;
    const begun = await this.#users.beginDeletion(user.id, user.passwordHash);
    if (begun === 'settling') throw serviceUnavailable();
    if (!begun) return this.#deletedMeanwhile(user.id);
    try {
      await this.#tickets.close(identity);
    } catch (error) {
      // Not answered in time, it may have closed it all the same: reopened, to be sure (the
      // tickets service commits no closing its caller stopped waiting for).
      if (closingRefused(error)) await this.#users.endDeletion(user.id);
      else await this.#reopen(identity, 'maybe closed');
      throw error;
    }
    let deleted: Awaited<ReturnType<UserRepository['anonymize']>>;
    try {
      refuseWhenAbandoned();
      deleted = await this.#users.anonymize(user.id, user.passwordHash, (email, tx) =>
        this.#throttle.forgetAccount(email, tx),
      );
    } catch (error) {
      await this.#reopen(identity);
      throw error;
    }
    if (deleted === 'last-admin') {
      await this.#reopen(identity);
      throw onlyAdmin();
    }
    // Past its deadline, a sweeper took it: it settles it, one way or the other.
    if (deleted === 'settling') throw serviceUnavailable();
    if (deleted === 'not-pending') {
      // Settled meanwhile by the sweeper, which found it past its deadline.
      await this.#reopen(identity);
      throw serviceUnavailable();
    }
    if (!deleted) {
      await this.#reopen(identity);
      return this.#deletedMeanwhile(user.id);
    }
    await this.#deleted(user.id);
    return true;
  }

  /**
   * After a deletion found the account deleted or its password changed: done, as asked,
   * when a concurrent call with the password deleted it; otherwise the password is wrong.
   */
  async #deletedMeanwhile(userId: string): Promise<true> {
    if ((await this.#users.findById(userId))?.deletedAt) return true;
    throw wrongPassword('password');
  }

  /** Ends the access tokens of an account just deleted, at every gateway. */
  async #deleted(userId: string): Promise<void> {
    await this.#revocations.publish({ kind: 'user', id: userId, before: revokedBeforeNow() });
    this.#logger.info({ userId }, 'account deleted and anonymised');
  }

  /**
   * Settles the deletions marked longer ago than their deadline (deletionDeadlineMs) that
   * no request finished or undid: the process running it stopped in between. Each is asked
   * of the tickets service again (`closeAccount`, safe to repeat): closed there, it is
   * finished here, as its owner asked with the right password; refused there (the account
   * holds tickets again), or no longer deletable here (its password changed since, or it is
   * the only admin now), it is reopened there and its mark removed. One that fails (the
   * tickets service unreachable) is let go for the next sweep. Each is taken under a lease
   * (claimDueDeletion, one short statement) and the calls to the tickets service run with
   * no transaction open: a slow tickets service holds none of this service's connections.
   * The writes that settle it check the lease, so that another replica's sweep, which skips
   * a leased mark until its lease ends, never settles it too. Returns how many were settled,
   * at most `limit`.
   */
  async settlePendingDeletions(limit = 100): Promise<number> {
    let settled = 0;
    for (let taken = 0; taken < limit; taken++) {
      const pending = await this.#users.claimDueDeletion(deletionDeadlineMs, deletionLeaseMs);
      if (!pending) break;
      const { user, lease } = pending;
      try {
        const outcome = await this.#settleDeletion(pending);
        if (outcome === 'lost') {
          this.#logger.warn({ userId: user.id }, 'lost the lease on a pending account deletion');
          continue;
        }
        settled++;
        if (outcome === 'deleted') await this.#deleted(user.id);
        else this.#logger.warn({ userId: user.id, outcome }, 'pending account deletion settled');
      } catch (error) {
        this.#logger.warn(
          { userId: user.id, err: error },
          'could not settle a pending account deletion',
        );
        await this.#users.releaseDeletion(user.id, lease).catch(() => undefined);
      }
    }
    return settled;
  }

  async #settleDeletion({
    user,
    passwordHash,
    lease,
  }: {
    user: User;
    passwordHash: string | null;
    lease: string;
  }): Promise<'deleted' | 'reopened' | 'gone' | 'lost'> {
    if (user.deletedAt) {
      await this.#users.endDeletion(user.id, lease);
      return 'gone';
    }
    const identity: Identity = { userId: user.id, role: user.role, sessionId: randomUUID() };
    // No longer deletable as asked (its password changed since): not closed again.
    let closed = user.passwordHash === passwordHash;
    try {
      if (closed) await this.#tickets.close(identity);
    } catch (error) {
      if (!closingRefused(error)) throw error;
      closed = false;
    }
    const deleted =
      closed &&
      (await this.#users.finishDeletion(user.id, passwordHash, lease, (email, tx) =>
        this.#throttle.forgetAccount(email, tx),
      ));
    if (deleted === true) return 'deleted';
    if (deleted === 'lost') return 'lost';
    await this.#tickets.reopen(identity);
    await this.#users.endDeletion(user.id, lease);
    return 'reopened';
  }

  /**
   * Reopens in the tickets service an account whose deletion stopped after closing it there,
   * and removes the deletion's mark: under a lease on the mark, taken unless the account was
   * deleted meanwhile (then nothing is reopened) in one transaction with the mark's and the
   * user's locks (claimReopening), so that no deletion finishes while it reopens. When the
   * reopening fails, the account stays closed there (it can buy nothing) while it lives
   * here, and its mark stays, for the deletion sweeper to settle: ACCOUNT_DELETION_INCOMPLETE
   * says so. For a closing that may not have happened (the tickets service rolls back one
   * whose caller stopped waiting), the mark goes, the account stays usable here, and the
   * failure that stopped it is answered instead. When a sweeper holds the mark, it settles it.
   */
  async #reopen(viewer: Identity, closing: 'closed' | 'maybe closed' = 'closed'): Promise<void> {
    const lease = await this.#users.claimReopening(viewer.userId, deletionLeaseMs);
    if (lease === undefined) return;
    if (lease === 'settling') throw serviceUnavailable();
    try {
      await this.#tickets.reopen(viewer);
    } catch (error) {
      this.#logger.error({ userId: viewer.userId, err: error }, 'account left closed in tickets');
      if (closing === 'closed') {
        await this.#users.releaseDeletion(viewer.userId, lease);
        throw failure(
          'ACCOUNT_DELETION_INCOMPLETE',
          'The account was closed for tickets but not deleted, and could not be reopened: it will be, or delete it again to finish.',
        );
      }
    }
    await this.#users.endDeletion(viewer.userId, lease);
  }

  /**
   * Checks the caller's own password, counted by the throttle like a login, so that a
   * stolen access token cannot be used to guess it. One longer than any password is wrong
   * at once, before any work, and not counted: as logIn does.
   */
  async #checkPassword(
    user: User,
    password: string,
    clientAddress: string | undefined,
    field: string,
  ): Promise<void> {
    if (longerThanAnyPassword(password)) throw wrongPassword(field);
    const { passwordHash } = user;
    const correct = await this.#throttle.attempt(user.email, clientAddress, async () =>
      passwordHash ? verifyPassword(password, passwordHash) : false,
    );
    if (!correct) throw wrongPassword(field);
  }

  async setUserRole(viewer: Identity | null, userId: string, role: Role): Promise<User> {
    const admin = await this.#activeUser(viewer);
    // Both the account and its token must be an admin's. A token issued before its account
    // was made admin carries the old role, which the answer's fields (an email) go by: were
    // the change made, the caller would be told it was refused.
    if (admin.role !== 'ADMIN' || viewer?.role !== 'ADMIN') {
      throw forbidden('Only admins can change roles.');
    }
    const target = isUuid(userId) ? await this.#users.findById(userId) : null;
    if (!target || target.deletedAt) throw notFound(`No user has the id ${userId}.`, 'userId');
    // Compared as loaded: the id asked for may be written in capitals.
    if (target.id === admin.id) {
      throw badUserInput('Admins cannot change their own role; ask another admin.', 'userId');
    }
    const changed = await this.#users.setRole(admin.id, target.id, role);
    // Demoted or deleted meanwhile, by another admin.
    if (changed === 'forbidden') throw forbidden('Only admins can change roles.');
    if (changed === 'not-found') throw notFound(`No user has the id ${userId}.`, 'userId');
    // Tokens issued before carry the old role: they stop now, and a refresh gets the new one.
    if (role !== changed.previousRole) {
      await this.#revocations.publish({ kind: 'user', id: target.id, before: revokedBeforeNow() });
    }
    return changed.user;
  }

  /**
   * The id of the live account with this email, for another service acting for a signed-in
   * caller (a ticket transfer names its receiver by email); null when none has it.
   */
  async accountIdByEmail(viewer: Identity | null, rawEmail: string): Promise<string | null> {
    if (!viewer) throw unauthenticated('Log in to look up accounts.', 'required');
    const email = parseInput(emailSchema, rawEmail, 'email');
    return (await this.#users.findActiveByEmail(email))?.id ?? null;
  }

  /** Creates the first admin from configuration, once, when there is no admin yet. */
  async bootstrapAdmin(settings: { email: string; password: string; name: string }): Promise<void> {
    if ((await this.#users.countAdmins()) > 0) return;
    const email = parseInput(emailSchema, settings.email, 'BOOTSTRAP_ADMIN_EMAIL');
    const problem = passwordProblem(settings.password);
    if (problem) throw badUserInput(`BOOTSTRAP_ADMIN_PASSWORD: ${problem}`);
    if (await this.#users.findByEmail(email)) {
      // Promoting an account that someone else signed up with would hand them the admin role.
      this.#logger.error(
        { email },
        'not creating the first admin: the email belongs to an account',
      );
      return;
    }
    try {
      await this.#users.create({
        email,
        name: parseInput(nameSchema, settings.name, 'BOOTSTRAP_ADMIN_NAME'),
        role: 'ADMIN',
        passwordHash: await hashPassword(settings.password),
      });
    } catch (error) {
      // Another instance starting at the same moment (a deployment's replicas) created it,
      // or someone signed up with the email meanwhile: either way not ours to create, and
      // no reason to fail the start.
      if (!(error instanceof GraphQLError && error.extensions.code === 'EMAIL_TAKEN')) throw error;
      this.#logger.warn({ email }, 'not creating the first admin: the email has an account now');
      return;
    }
    this.#logger.info({ email }, 'created the first admin from configuration');
  }

  /** The caller's account, which must exist and not be deleted. */
  async #activeUser(viewer: Identity | null): Promise<User> {
    if (!viewer) throw unauthenticated('Log in to do this.', 'required');
    const user = await this.#users.findById(viewer.userId);
    if (!user || user.deletedAt) throw unauthenticated('This account no longer exists.', 'invalid');
    return user;
  }

  /**
   * A new session for a live account, with its password still `passwordHash` when given;
   * null when it is not (deleted, or the password changed, meanwhile).
   */
  async #startSession(
    user: User,
    passwordHash?: string | null,
  ): Promise<AuthPayload | 'deletion-pending' | null> {
    const session = newSession();
    const started = await this.#sessions.start(
      session.of(user.id),
      this.#sessionLimits(),
      passwordHash,
    );
    return this.#sessionStarted(started, session);
  }

  #sessionLimits(): SessionLimits {
    return { maxSessions: this.#maxSessions, recentMs: revocationLifetimeMs };
  }

  /** The answer to a session's start: its tokens, once the sessions it ended are revoked. */
  async #sessionStarted(
    started: SessionStart,
    session: ReturnType<typeof newSession>,
  ): Promise<AuthPayload | 'deletion-pending' | null> {
    if (!started || started === 'deletion-pending') return started;
    // The sessions this one pushed past the limit end as a logout ends one: their access
    // tokens too, at every gateway.
    await this.#revocations.publish(
      ...started.ended.map((id) => ({ kind: 'session' as const, id })),
    );
    return this.#payload(started, session.familyId, session.refreshToken);
  }
}
