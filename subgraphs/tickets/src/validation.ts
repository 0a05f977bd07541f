import { displayText } from '@ticketing/platform';
import { z } from 'zod';

/** Far above any real order, far below what could overflow a sum. */
export const maxQuantity = 1_000;

export const quantitySchema = z.number().int().min(1).max(maxQuantity);

/** The most tickets one tier may have. */
export const maxCapacity = 1_000_000;

/**
 * The ISO 4217 currencies money is paid in, as this runtime's ICU lists them: no made-up
 * code (ZZZ), and none of the codes for testing, precious metals or "no currency" (XTS,
 * XAU, XXX), which no ticket can be priced in.
 */
const currencies = new Set(Intl.supportedValuesOf('currency'));

const tierFields = {
  name: displayText(100),
  priceCents: z.number().int().min(0).max(100_000_000),
  currency: z
    .string()
    .trim()
    .toUpperCase()
    .refine((code) => currencies.has(code), 'must be an ISO 4217 currency code such as EUR'),
  capacity: z.number().int().min(0).max(maxCapacity),
  maxPerOrder: z.number().int().min(1).max(maxQuantity),
  salesStartAt: z.date().nullish(),
  // A tier's sales cannot end before it is written: such a tier is never on sale, and
  // moving an end into the past would say sales ended before the tickets sold since.
  salesEndAt: z
    .date()
    .refine((end) => end.getTime() > Date.now(), 'must be in the future')
    .nullish(),
};

/** Digits after the point an amount in `currency` is paid in (JPY 0, EUR 2, KWD 3), as ICU has them. */
function minorDigits(currency: string): number {
  // A code that is none (refused for that, on its own field) has no digits to speak of.
  if (!currencies.has(currency)) return 2;
  return (
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits ?? 2
  );
}

/**
 * Whether `cents`, hundredths of `currency`'s unit as every amount here is, can be paid and
 * refunded in it: any number of cents where the currency has cents (or finer), whole units
 * where it has none (JPY, KRW: ¥1.50 is no price, and a client showed it as ¥2).
 */
export function payableIn(cents: number, currency: string): boolean {
  const digits = minorDigits(currency);
  return digits >= 2 || cents % 10 ** (2 - digits) === 0;
}

/** Why a price is not payable in `currency`, phrased to follow the field's name. */
export const unpayableMessage = (currency: string) =>
  `must be a multiple of ${10 ** (2 - minorDigits(currency))}: ${currency} has no cents`;

const salesWindow = (tier: { salesStartAt?: Date | null; salesEndAt?: Date | null }) =>
  !tier.salesStartAt || !tier.salesEndAt || tier.salesEndAt > tier.salesStartAt;

export const salesEndMessage = 'must be after salesStartAt';
export const salesStartMessage = 'must be before salesEndAt';

/**
 * The most one order may cost: its total is a GraphQL `Int` and an `integer` column, so a
 * tier's price times its `maxPerOrder` must fit (a tier at the top price sells at most 21
 * an order). Checked when a tier is written, never at the purchase, which could not store it.
 */
export const maxOrderCents = 2 ** 31 - 1;

export const orderTotalFits = (tier: { priceCents: number; maxPerOrder: number }) =>
  tier.priceCents * tier.maxPerOrder <= maxOrderCents;

export const orderTotalMessage = `would let one order (priceCents × maxPerOrder) cost more than ${maxOrderCents} cents, the most an order may cost`;

export const createTierSchema = z
  .object({ ...tierFields, maxPerOrder: tierFields.maxPerOrder.default(10) })
  .refine(salesWindow, { message: salesEndMessage, path: ['salesEndAt'] })
  .refine(orderTotalFits, { message: orderTotalMessage, path: ['maxPerOrder'] })
  .superRefine((tier, context) => {
    if (!payableIn(tier.priceCents, tier.currency)) {
      context.addIssue({
        code: 'custom',
        message: unpayableMessage(tier.currency),
        path: ['priceCents'],
      });
    }
  });

export const updateTierSchema = z
  .object({
    name: tierFields.name.optional(),
    priceCents: tierFields.priceCents.optional(),
    capacity: tierFields.capacity.optional(),
    maxPerOrder: tierFields.maxPerOrder.optional(),
    salesStartAt: tierFields.salesStartAt,
    salesEndAt: tierFields.salesEndAt,
  })
  .refine(salesWindow, { message: salesEndMessage, path: ['salesEndAt'] });

export type TierChanges = z.infer<typeof updateTierSchema>;

/**
 * The rules on a tier's row as a whole, each also a CHECK constraint of `ticket_tiers`
 * (migration `tier_rules_in_the_database`): the service checks a change against the row it
 * read, and the constraint against the row as the last of two racing updates leaves it.
 */
export type TierRule = 'orderTotal' | 'salesWindow';

/** The CHECK constraint of each rule. */
export const tierRuleConstraints: Record<string, TierRule> = {
  ticket_tiers_order_total: 'orderTotal',
  ticket_tiers_sales_window: 'salesWindow',
};

/** The first rule a tier's row would break, if any. */
export function brokenTierRule(tier: {
  priceCents: number;
  maxPerOrder: number;
  salesStartAt: Date | null;
  salesEndAt: Date | null;
}): TierRule | undefined {
  if (!orderTotalFits(tier)) return 'orderTotal';
  if (!salesWindow(tier)) return 'salesWindow';
  return undefined;
}

/** Emails compare case-insensitively, as the users service stores them. */
export const emailSchema = z.string().trim().toLowerCase().max(254).pipe(z.email());

/** A scanned code or QR token: a token is a few hundred characters. */
export const scannedCodeSchema = z.string().trim().min(1).max(2_000);

/** An offline door's upload: at most 500 scans, each a token and its door's scan time. */
export const offlineScansSchema = z
  .array(z.object({ token: scannedCodeSchema, scannedAt: z.date() }))
  .min(1)
  .max(500);
