import { displayText, proseText } from '@ticketing/platform';
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

const title = displayText(200);
const description = proseText(5_000);
const timezone = z
  .string()
  .refine(isTimeZone, { message: 'must be an IANA time zone name, e.g. Europe/Berlin' })
  .transform(canonicalTimeZone);

export const createEventSchema = z
  .object({
    title,
    description: description.nullish(),
    venue: displayText(200),
    city: displayText(100),
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
  venue: displayText(200).optional(),
  city: displayText(100).optional(),
  startsAt: z.date().optional(),
  endsAt: z.date().nullish(),
  timezone: timezone.optional(),
});

export const cancellationReasonSchema = proseText(500).nullish();

/** A city to filter by: no longer than a city can be. */
export const cityFilterSchema = z.string().max(100);

/**
 * Whether PostgreSQL's trigram indexes can narrow a substring search for `search` (trimmed).
 * pg_trgm takes trigrams only from a pattern's words (runs of letters and digits), padded
 * with two blanks before and one after where the word does not touch the pattern's edge:
 * `jazz`, `ac/dc` and `0% j` have one, `!!!`, `%%%` and `a--` none, and a search with none
 * reads every event's title and venue.
 */
export function hasTrigram(search: string): boolean {
  for (const word of search.matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    const length = [...word[0]].length;
    const followed = word.index + word[0].length < search.length;
    if (word.index > 0 || length >= 3 || (followed && length >= 2)) return true;
  }
  return false;
}

export const searchSchema = z.string().trim().normalize('NFC').min(3).max(100).refine(hasTrigram, {
  message:
    'must have something to search by: 3 letters or digits in a row, or a word after a space or sign',
});

/** A city as the listing's filter compares it: composed and lower-cased, like `city_key`. */
export function cityKey(city: string): string {
  return city.trim().normalize('NFC').toLowerCase();
}
