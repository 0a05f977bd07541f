import {
  baseSettings,
  flagSetting,
  httpUrlSetting,
  integerSetting,
  invalidateCachedResponses,
  loadConfig,
  localServiceUrl,
  millisecondsSetting,
  relaySecret,
  type SubgraphDefinition,
  servicePorts,
  settingsCheck,
  subgraphSecret,
  subgraphSecretSettings,
} from '@ticketing/platform';
import { type PrismaClient, ticketsDatabase } from '@ticketing/prisma/tickets';
import { z } from 'zod';
import { createContext, type TicketsContext } from './context.ts';
import { eventChangesPath, eventChangesRoute } from './event-changes.ts';
import { HoldSweeper } from './HoldSweeper.ts';
import { invalidateStockPlugin } from './invalidation.ts';
import { OfflinePaymentProvider } from './payments/PaymentProvider.ts';
import { RefundSender } from './payments/RefundSender.ts';
import { AccountClosureRepository } from './repositories/AccountClosureRepository.ts';
import { CheckInRepository } from './repositories/CheckInRepository.ts';
import { EventSnapshotRepository } from './repositories/EventSnapshotRepository.ts';
import { defaultPurchaseGroupSettings } from './repositories/PurchaseGroups.ts';
import { SalesRepository } from './repositories/SalesRepository.ts';
import { SigningKeyRepository } from './repositories/SigningKeyRepository.ts';
import { TicketRepository } from './repositories/TicketRepository.ts';
import { TransferRepository } from './repositories/TransferRepository.ts';
import { WaitlistRepository } from './repositories/WaitlistRepository.ts';
import { createTicketsServer } from './server.ts';
import { AccountClosure } from './services/AccountClosure.ts';
import { CheckInService, defaultMaxDoorStaffPerEvent } from './services/CheckInService.ts';
import { EventOwnership } from './services/EventOwnership.ts';
import { RefundService, type RefundSettings } from './services/RefundService.ts';
import { SalesService } from './services/SalesService.ts';
import {
  defaultMaxTiersPerEvent,
  TicketingService,
  type TicketingSettings,
} from './services/TicketingService.ts';
import { TicketTokens } from './services/TicketTokens.ts';
import { defaultTransferOfferHours, TransferService } from './services/TransferService.ts';
import { UserDirectory } from './services/UserDirectory.ts';
import { defaultMaxWaitlistEntries, WaitlistService } from './services/WaitlistService.ts';
import { maxCapacity } from './validation.ts';

/** A waitlist offer's lifetime unless WAITLIST_OFFER_SECONDS says otherwise: 30 minutes. */
export const defaultOfferSeconds = 1_800;

/**
 * The longest a hold or a waitlist offer may keep stock from every other buyer
 * (HOLD_SECONDS, WAITLIST_OFFER_SECONDS): a day. Far longer is no reservation but a sale
 * without payment, and past 2^31 − 1 seconds the database's interval arithmetic overflows
 * at every hold or entry, not at start.
 */
export const maxReservationSeconds = 86_400;

/**
 * The most TRANSFER_OFFER_HOURS and REFUND_CUTOFF_HOURS may say: a year. Far more is no
 * deadline, and an hour count like 1e300 overflows a date or the database's interval.
 */
export const maxSettingHours = 8_760;

/**
 * Hours, at least 0 (more than 0 when `exclusive`), at most maxSettingHours; set to nothing
 * (`VAR=`), the default, as integerSetting reads it: read as a number, nothing was 0 hours.
 */
const hoursSetting = (fallback: number, { exclusive = false } = {}) => {
  const hours = z.coerce.number().max(maxSettingHours);
  return z.preprocess(
    (value) => (value === '' ? undefined : value),
    (exclusive ? hours.positive() : hours.min(0)).default(fallback),
  );
};

/** The tickets service's own settings (test/kubernetes.test.ts checks the manifests against them). */
export const ticketsSettings = baseSettings
  .extend(subgraphSecretSettings('events', 'users').shape)
  .extend({
    EVENT_RELAY_SECRET: z.string().min(16).optional(),
    /** The events subgraph, asked who organizes an event when its tiers are managed. */
    EVENTS_URL: httpUrlSetting().default(localServiceUrl('events')),
    /** The users subgraph, asked for the account a transfer or door staff names by email. */
    USERS_URL: httpUrlSetting().default(localServiceUrl('users')),
    HOLD_SECONDS: integerSetting(600, { min: 1, max: maxReservationSeconds }),
    HOLD_SWEEP_INTERVAL_MS: millisecondsSetting(1_000, { min: 10 }),
    /**
     * At most the tickets an event can have (its tiers at their largest): a cap above that
     * never binds, and one past 2^31 − 1 failed every purchase, not the start.
     */
    MAX_TICKETS_PER_EVENT: integerSetting(10, {
      min: 1,
      max: maxCapacity * defaultMaxTiersPerEvent,
    }),
    /** Active holds one buyer may keep at once: enough for a basket, too few to corner stock. */
    MAX_ACTIVE_HOLDS: z.coerce.number().int().min(1).default(3),
    /** Tiers one event may have: every listing of the event reads them all, nested too. */
    MAX_TIERS_PER_EVENT: z.coerce
      .number()
      .int()
      .min(1)
      .max(defaultMaxTiersPerEvent)
      .default(defaultMaxTiersPerEvent),
    /** Door staff one event may have: its organizer sees them all in one list. */
    MAX_DOOR_STAFF_PER_EVENT: z.coerce.number().int().min(1).default(defaultMaxDoorStaffPerEvent),
    /** Tiers one buyer may wait for at once: each entry can become offers others cannot buy. */
    MAX_WAITLIST_ENTRIES: z.coerce.number().int().min(1).default(defaultMaxWaitlistEntries),
    /** A buyer may refund their tickets until this many hours before the event starts. */
    REFUND_CUTOFF_HOURS: hoursSetting(48),
    /** How often refunds the payment provider has not accepted are sent again. */
    REFUND_SEND_INTERVAL_MS: millisecondsSetting(30_000, { min: 10 }),
    /** How long a ticket transfer offer waits for its receiver (it expires at the event's start at the latest). */
    TRANSFER_OFFER_HOURS: hoursSetting(defaultTransferOfferHours, { exclusive: true }),
    /** How long a waitlist offer is reserved for its buyer before it passes on. */
    WAITLIST_OFFER_SECONDS: integerSetting(defaultOfferSeconds, {
      min: 1,
      max: maxReservationSeconds,
    }),
    /**
     * Group commit: a tier's concurrent purchases sold in one statement (PurchaseGroups),
     * at most PURCHASE_GROUP_MAX_SIZE at once. On by default: it sold more a second than one
     * statement a purchase (docs/BENCHMARKS.md, 2026-12-04).
     */
    PURCHASE_GROUP_COMMIT: flagSetting(true),
    PURCHASE_GROUP_MAX_SIZE: z.coerce
      .number()
      .int()
      .min(2)
      .max(256)
      .default(defaultPurchaseGroupSettings.maxSize),
  })
  // Secrets required in production, checked with the rest before the database is touched.
  .superRefine(
    settingsCheck((settings) => {
      subgraphSecret('events', settings);
      subgraphSecret('users', settings);
      relaySecret(settings);
    }),
  );

/** The tickets service's repositories and rules over one database (the users service's shape). */
export function createTicketsServices(
  prisma: PrismaClient,
  peers: Record<'events' | 'users', { url: string; secret: string }>,
  settings: TicketingSettings,
  {
    refunds: refundSettings = { cutoffHours: 48 },
    offerSeconds = defaultOfferSeconds,
    transferOfferHours = defaultTransferOfferHours,
  }: { refunds?: RefundSettings; offerSeconds?: number; transferOfferHours?: number } = {},
) {
  const tickets = new TicketRepository(prisma);
  const ownership = new EventOwnership(peers.events.url, peers.events.secret);
  const directory = new UserDirectory(peers.users.url, peers.users.secret);
  const service = new TicketingService({ prisma, tickets, ownership, settings });
  const door = {
    doors: new CheckInService({
      checkIns: new CheckInRepository(prisma),
      tokens: new TicketTokens(new SigningKeyRepository(prisma)),
      ownership,
      directory,
      maxDoorStaffPerEvent: settings.maxDoorStaffPerEvent,
    }),
    transfers: new TransferService({
      tickets,
      transfers: new TransferRepository(prisma),
      directory,
      perUserCap: settings.perUserCap,
      offerHours: transferOfferHours,
    }),
    sales: new SalesService({ sales: new SalesRepository(prisma), ownership }),
    // The one place a payment provider is chosen: a real one replaces the offline one here.
    refunds: new RefundService({
      prisma,
      purchases: service.purchases,
      ownership,
      provider: new OfflinePaymentProvider(prisma),
      settings: refundSettings,
    }),
    waitlist: new WaitlistService({
      tickets,
      waitlist: new WaitlistRepository(prisma),
      settings: {
        perUserCap: settings.perUserCap,
        offerSeconds,
        maxEntries: settings.maxWaitlistEntries,
      },
    }),
    accounts: new AccountClosure(
      new AccountClosureRepository(prisma, service.purchases),
      ownership,
    ),
  };
  return { tickets, snapshots: new EventSnapshotRepository(prisma), service, door };
}

export const ticketsSubgraph: SubgraphDefinition<
  PrismaClient,
  ReturnType<typeof ticketsDatabase.locate>,
  TicketsContext
> = {
  name: 'tickets',
  defaultPort: servicePorts.tickets,
  settings: ticketsSettings,
  database: ticketsDatabase,
  createServer: createTicketsServer,
  setUp(prisma, { env, logger, redis, cacheNamespace }) {
    const config = loadConfig(ticketsSettings, env);
    const { snapshots, service, door } = createTicketsServices(
      prisma,
      {
        events: { url: config.EVENTS_URL, secret: subgraphSecret('events', config) },
        users: { url: config.USERS_URL, secret: subgraphSecret('users', config) },
      },
      {
        holdSeconds: config.HOLD_SECONDS,
        perUserCap: config.MAX_TICKETS_PER_EVENT,
        maxActiveHolds: config.MAX_ACTIVE_HOLDS,
        maxTiersPerEvent: config.MAX_TIERS_PER_EVENT,
        maxDoorStaffPerEvent: config.MAX_DOOR_STAFF_PER_EVENT,
        maxWaitlistEntries: config.MAX_WAITLIST_ENTRIES,
        groupCommit: config.PURCHASE_GROUP_COMMIT
          ? { ...defaultPurchaseGroupSettings, maxSize: config.PURCHASE_GROUP_MAX_SIZE }
          : undefined,
      },
      {
        refunds: { cutoffHours: config.REFUND_CUTOFF_HOURS },
        offerSeconds: config.WAITLIST_OFFER_SECONDS,
        transferOfferHours: config.TRANSFER_OFFER_HOURS,
      },
    );
    const invalidateStock = () => invalidateCachedResponses(redis, cacheNamespace, 'stock', logger);
    const sweeper = new HoldSweeper(
      service.purchases,
      logger,
      config.HOLD_SWEEP_INTERVAL_MS,
      invalidateStock,
    );
    sweeper.start();
    const refundSender = new RefundSender(door.refunds, logger, config.REFUND_SEND_INTERVAL_MS);
    refundSender.start();
    return {
      createContext: (request) => createContext(prisma, service, request, door),
      configure(app) {
        app.post(
          eventChangesPath,
          ...eventChangesRoute(snapshots, relaySecret(config), logger, async (eventIds) => {
            await invalidateCachedResponses(redis, cacheNamespace, 'events', logger, eventIds);
            // A cancellation's refunds go to the payment provider once committed, in the
            // background: a slow provider does not hold up the outbox relay's acknowledgement.
            refundSender.sendNow();
          }),
        );
      },
      plugins: [invalidateStockPlugin(invalidateStock)],
      stop: async () => {
        await Promise.all([sweeper.stop(), refundSender.stop()]);
      },
    };
  },
};
