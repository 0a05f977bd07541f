import { join } from 'node:path';
import type { TokenParties } from '@ticketing/auth';
import {
  authSettings,
  baseSettings,
  httpUrlSetting,
  type Logger,
  loadConfig,
  localServiceUrl,
  millisecondsSetting,
  optionalFlagSetting,
  type RedisConnection,
  type RetentionRule,
  RetentionSchedule,
  RevocationPublisher,
  type SubgraphDefinition,
  servicePorts,
  settingsCheck,
  subgraphSecret,
  subgraphSecretSettings,
} from '@ticketing/platform';
import { defaultDataRoot } from '@ticketing/prisma';
import { type PrismaClient, usersDatabase } from '@ticketing/prisma/users';
import { z } from 'zod';
import { loadSigningKeys, type SigningKeys } from './auth/signing-keys.ts';
import { AccessTokenIssuer, defaultRefreshGraceSeconds } from './auth/tokens.ts';
import { createContext, type UsersContext } from './context.ts';
import { LoginThrottleRepository } from './repositories/LoginThrottleRepository.ts';
import { RevocationRepository } from './repositories/RevocationRepository.ts';
import { SessionRepository } from './repositories/SessionRepository.ts';
import { UserRepository } from './repositories/UserRepository.ts';
import { createUsersServer } from './server.ts';
import {
  AccountService,
  defaultMaxSessionsPerUser,
  defaultRefreshesPerAccountPerHour,
} from './services/AccountService.ts';
import { LoginThrottle, throttlePolicy } from './services/LoginThrottle.ts';
import { TicketsAccounts } from './services/TicketsAccounts.ts';

/** How long a refresh token is kept after it expired: a day in which its reuse still ends its session. */
export const expiredRefreshTokenKeptMs = 24 * 60 * 60_000;

const pendingDeletions = 'pending account deletions';

/** The rows this service deletes once nothing reads them (README, "Data"). */
export function usersRetention(prisma: PrismaClient): RetentionRule[] {
  const sessions = new SessionRepository(prisma);
  const throttles = new LoginThrottleRepository(prisma);
  const revocations = new RevocationRepository(prisma);
  return [
    {
      name: 'expired refresh tokens',
      deleteBatch: (limit) => sessions.pruneExpired(expiredRefreshTokenKeptMs, limit),
    },
    {
      // Idle longer than any counter's window and than an address stays known.
      name: 'idle login counters',
      deleteBatch: (limit) => throttles.pruneIdle(throttlePolicy.knownAddressSeconds, limit),
    },
    {
      // Every token they could stop has expired.
      name: 'expired revocations',
      deleteBatch: (limit) => revocations.pruneExpired(limit),
    },
  ];
}

/** The users service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const usersSettings = baseSettings
  .extend(authSettings.shape)
  .extend(subgraphSecretSettings('users', 'tickets').shape)
  .extend({
    DATA_DIR: z.string().min(1).default(defaultDataRoot),
    /** The tickets subgraph, which closes an account before it is deleted here. */
    TICKETS_URL: httpUrlSetting().default(localServiceUrl('tickets')),
    /** How often deletions left pending past their deadline are settled (and once at start). */
    DELETION_SWEEP_INTERVAL_MS: millisecondsSetting(5_000, { min: 10 }),
    AUTH_SIGNING_KEYS: z.string().optional(),
    AUTH_SIGNING_KEYS_FILE: z.string().optional(),
    /** Default: on in development, off in production, where keys must be configured. */
    AUTH_DEV_KEYS: z.enum(['true', 'false']).optional(),
    BOOTSTRAP_ADMIN_EMAIL: z.string().optional(),
    BOOTSTRAP_ADMIN_PASSWORD: z.string().optional(),
    BOOTSTRAP_ADMIN_NAME: z.string().default('Admin'),
    SEED_DEMO_DATA: optionalFlagSetting(),
    /** Sign-ups one address may make in an hour (see LoginThrottle.ts). */
    SIGN_UPS_PER_ADDRESS: z.coerce.number().int().min(1).default(10),
    /** Live sessions one account may have: a new one ends the least recently used beyond. */
    MAX_SESSIONS_PER_USER: z.coerce.number().int().min(1).default(defaultMaxSessionsPerUser),
    /** Refresh tokens one account may exchange in an hour, all its sessions together. */
    REFRESHES_PER_ACCOUNT_PER_HOUR: z.coerce
      .number()
      .int()
      .min(1)
      .default(defaultRefreshesPerAccountPerHour),
    /** How long an exchanged refresh token still returns its successor (0: reuse at once). */
    REFRESH_GRACE_SECONDS: z.coerce
      .number()
      .int()
      .min(0)
      .max(300)
      .default(defaultRefreshGraceSeconds),
  })
  // Secrets required in production, checked with the rest before the database is touched.
  .superRefine(
    settingsCheck((settings) => {
      subgraphSecret('tickets', settings);
    }),
  );

/** The users service's repositories and account rules over one database. */
export function createUsersServices(
  prisma: PrismaClient,
  keys: SigningKeys,
  parties: TokenParties,
  logger: Logger,
  refreshGraceSeconds = defaultRefreshGraceSeconds,
  abuse: {
    signUpsPerAddress?: number;
    maxSessionsPerUser?: number;
    refreshesPerAccountPerHour?: number;
    redis?: RedisConnection | undefined;
    /** Closes an account in the tickets service before its deletion (default: the local one). */
    tickets?: Pick<TicketsAccounts, 'close' | 'reopen'>;
  } = {},
) {
  const users = new UserRepository(prisma);
  const revocations = new RevocationPublisher(
    abuse.redis,
    logger,
    new RevocationRepository(prisma),
  );
  const accounts = new AccountService({
    successorKeys: keys.successorKeys,
    refreshGraceMs: refreshGraceSeconds * 1000,
    maxSessionsPerUser: abuse.maxSessionsPerUser,
    refreshesPerAccountPerHour: abuse.refreshesPerAccountPerHour,
    users,
    sessions: new SessionRepository(prisma),
    throttle: new LoginThrottle(new LoginThrottleRepository(prisma), abuse),
    issuer: new AccessTokenIssuer(keys, parties),
    revocations,
    tickets:
      abuse.tickets ??
      new TicketsAccounts(localServiceUrl('tickets'), subgraphSecret('tickets', {})),
    logger,
  });
  return { users, accounts, revocations };
}

export const usersSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof usersDatabase.locate>,
  UsersContext
> = {
  name: 'users',
  defaultPort: servicePorts.users,
  settings: usersSettings,
  database: usersDatabase,
  createServer: createUsersServer,
  async setUp(prisma, { env, logger, redis }) {
    const config = loadConfig(usersSettings, env);
    const keys = await loadSigningKeys(
      {
        AUTH_SIGNING_KEYS: config.AUTH_SIGNING_KEYS,
        AUTH_SIGNING_KEYS_FILE: config.AUTH_SIGNING_KEYS_FILE,
        AUTH_DEV_KEYS:
          (config.AUTH_DEV_KEYS ?? String(config.NODE_ENV !== 'production')) === 'true',
        devKeyPath: join(config.DATA_DIR, 'auth', 'signing-keys.json'),
      },
      logger,
    );
    const { users, accounts, revocations } = createUsersServices(
      prisma,
      keys,
      {
        issuer: config.AUTH_ISSUER,
        audience: config.AUTH_AUDIENCE,
      },
      logger,
      config.REFRESH_GRACE_SECONDS,
      {
        signUpsPerAddress: config.SIGN_UPS_PER_ADDRESS,
        maxSessionsPerUser: config.MAX_SESSIONS_PER_USER,
        refreshesPerAccountPerHour: config.REFRESHES_PER_ACCOUNT_PER_HOUR,
        redis,
        tickets: new TicketsAccounts(config.TICKETS_URL, subgraphSecret('tickets', config)),
      },
    );
    if (config.BOOTSTRAP_ADMIN_EMAIL && config.BOOTSTRAP_ADMIN_PASSWORD) {
      await accounts.bootstrapAdmin({
        email: config.BOOTSTRAP_ADMIN_EMAIL,
        password: config.BOOTSTRAP_ADMIN_PASSWORD,
        name: config.BOOTSTRAP_ADMIN_NAME,
      });
    }
    const retention = new RetentionSchedule(usersRetention(prisma), logger);
    retention.start();
    // Deletions a process stopped in the middle of (killed between closing the account in
    // the tickets service and deleting it here), finished or undone: at once, then on a timer.
    const deletions = new RetentionSchedule(
      [
        {
          name: pendingDeletions,
          deleteBatch: (limit) => accounts.settlePendingDeletions(limit),
        },
      ],
      logger,
      config.DELETION_SWEEP_INTERVAL_MS,
      {
        done: 'settled pending account deletions',
        failed: 'pending account deletion sweep failed',
        fields: (counts) => ({ settled: counts[pendingDeletions] }),
      },
    );
    deletions.start(0);
    // A Redis that lost the revocations (restarted empty, flushed) is given them again.
    const stopRestoring = revocations.watch();
    return {
      createContext: (request) => createContext({ users, accounts }, request),
      stop: async () => {
        await Promise.all([retention.stop(), deletions.stop(), stopRestoring()]);
      },
      configure(app) {
        app.get('/.well-known/jwks.json', (_req, res) => {
          res.setHeader('cache-control', 'public, max-age=300');
          res.json(keys.publicJwks);
        });
      },
    };
  },
};
