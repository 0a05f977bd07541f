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

const day = 86_400_000;

/**
 * The earliest an event may start: 1970-01-01T00:00:00Z. A DateTime may fall in any year
 * from 1, but no event sold here starts before the platform existed: an earlier start is a
 * slip (year 0001, 0202 for 2026), and a draft may be moved into the future anyway.
 */
export const earliestStart = new Date(0);

/**
 * How far ahead an event may start: 10 years. An event that far on is never over, so it
 * would count against its organizer's MAX_UPCOMING_EVENTS_PER_ORGANIZER and keep their
 * account from closing for good.
 */
export const maxYearsAhead = 10;

/** The longest an event may last, from its start to its end: 366 days (a season, a year-long exhibition). */
export const maxDurationDays = 366;

const startsAt = z
  .date()
  .refine((start) => start >= earliestStart, 'must not be before 1970-01-01T00:00:00Z')
  .refine(
    (start) => start.getTime() <= Date.now() + maxYearsAhead * 365.25 * day,
    `must be at most ${maxYearsAhead} years from now`,
  );

/** Whether an event from `start` to `end` lasts longer than an event may. */
export function lastsTooLong(start: Date, end: Date): boolean {
  return end.getTime() - start.getTime() > maxDurationDays * day;
}

export const durationMessage = `must be at most ${maxDurationDays} days after startsAt`;

export const createEventSchema = z
  .object({
    title,
    description: description.nullish(),
    venue: displayText(200),
    city: displayText(100),
    startsAt,
    endsAt: z.date().nullish(),
    timezone,
  })
  .refine((event) => !event.endsAt || event.endsAt > event.startsAt, {
    message: 'must be after startsAt',
    path: ['endsAt'],
  })
  .refine((event) => !event.endsAt || !lastsTooLong(event.startsAt, event.endsAt), {
    message: durationMessage,
    path: ['endsAt'],
  });

export const updateEventSchema = z.object({
  title: title.optional(),
  description: description.nullish(),
  venue: displayText(200).optional(),
  city: displayText(100).optional(),
  startsAt: startsAt.optional(),
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
