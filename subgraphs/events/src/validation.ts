import { z } from 'zod';

/** Whether `name` is a time zone this runtime's ICU knows (the IANA database). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return name.length > 0 && !/^[+-]?\d/.test(name);
  } catch {
    return false;
  }
}

/** The spelling of a time zone that every client can look up (`europe/berlin` → `Europe/Berlin`). */
function canonicalTimeZone(name: string): string {
  return new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone;
}

// Text shown to other people is stored composed (NFC), so that one name has one spelling
// that filters match, and must show as what it is: one line, with something visible, and
// without the controls that reorder it (a right-to-left override turns "txt.exe" around).
const hiddenOrReordering = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
const visible = /[\p{L}\p{N}\p{P}\p{S}]/u;
const text = (max: number) =>
  z
    .string()
    .trim()
    .normalize('NFC')
    .min(1)
    .max(max)
    .refine((value) => !hiddenOrReordering.test(value), {
      message: 'must be one line, without control or text-direction override characters',
    })
    .refine((value) => visible.test(value), { message: 'must contain a visible character' });
const title = text(200);
/** Prose (a description, a reason) may have lines and tabs, but no other controls and no reordering. */
const prose = (max: number) =>
  z
    .string()
    .trim()
    .normalize('NFC')
    .max(max)
    .refine((value) => !hiddenOrReordering.test(value.replace(/[\n\r\t]/g, '')), {
      message: 'must not contain control or text-direction override characters',
    });
const description = prose(5_000);
const timezone = z
  .string()
  .refine(isTimeZone, { message: 'must be an IANA time zone name, e.g. Europe/Berlin' })
  .transform(canonicalTimeZone);

export const createEventSchema = z
  .object({
    title,
    description: description.nullish(),
    venue: text(200),
    city: text(100),
    startsAt: z.date(),
    endsAt: z.date().nullish(),
    timezone,
  })
  .refine((event) => !event.endsAt || event.endsAt > event.startsAt, {
    message: 'must be after startsAt',
    path: ['endsAt'],
  });

export const updateEventSchema = z.object({
  title: title.optional(),
  description: description.nullish(),
  venue: text(200).optional(),
  city: text(100).optional(),
  startsAt: z.date().optional(),
  endsAt: z.date().nullish(),
  timezone: timezone.optional(),
});

export const cancellationReasonSchema = prose(500).nullish();

/** A city to filter by: no longer than a city can be. */
export const cityFilterSchema = z.string().max(100);

export const searchSchema = z.string().trim().normalize('NFC').min(3).max(100);

/** A city as the listing's filter compares it: composed and lower-cased, like `city_key`. */
export function cityKey(city: string): string {
  return city.trim().normalize('NFC').toLowerCase();
}
