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

const title = z.string().trim().min(1).max(200);
const text = (max: number) => z.string().trim().min(1).max(max);
const timezone = z
  .string()
  .refine(isTimeZone, { message: 'must be an IANA time zone name, e.g. Europe/Berlin' });

export const createEventSchema = z
  .object({
    title,
    description: z.string().trim().max(5_000).nullish(),
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
  description: z.string().trim().max(5_000).nullish(),
  venue: text(200).optional(),
  city: text(100).optional(),
  startsAt: z.date().optional(),
  endsAt: z.date().nullish(),
  timezone: timezone.optional(),
});

export const cancellationReasonSchema = z.string().trim().max(500).nullish();

export const searchSchema = z.string().trim().min(3).max(100);
