import { passwordProblem } from '@ticketing/auth';
import { z } from 'zod';

/**
 * Emails compare case-insensitively: stored trimmed and lower-cased. No address is under
 * the reserved `.invalid` domain (RFC 6761: no mail can reach it), which is where a
 * deleted account's row keeps a placeholder that must stay free for it.
 */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email())
  .refine((email) => !email.endsWith('.invalid'), {
    message: 'must be an address that can receive mail (.invalid is reserved)',
  });

// A name is shown to other people (an event's organizer): stored composed (NFC), on one
// line, with something visible, and without the controls that reorder text, which would
// let it display as another name.
const hiddenOrReordering = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
const visible = /[\p{L}\p{N}\p{P}\p{S}]/u;

export const nameSchema = z
  .string()
  .trim()
  .normalize('NFC')
  .min(1)
  .max(100)
  .refine((name) => !hiddenOrReordering.test(name), {
    message: 'must be one line, without control or text-direction override characters',
  })
  .refine((name) => visible.test(name), { message: 'must contain a visible character' });

/** A new password: long enough, and not easy to guess, also from `userInputs`. */
export const passwordSchemaFor = (userInputs: string[]) =>
  z.string().superRefine((password, context) => {
    const problem = passwordProblem(password, userInputs);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

export const passwordSchema = passwordSchemaFor([]);

export const signUpSchema = z
  .object({
    email: emailSchema,
    password: z.string(),
    name: nameSchema,
    accountType: z.enum(['CUSTOMER', 'ORGANIZER']),
  })
  .superRefine((input, context) => {
    // The account's own email and name make a password easy to guess.
    const problem = passwordProblem(input.password, [input.email, input.name]);
    if (problem) context.addIssue({ code: 'custom', message: problem, path: ['password'] });
  });

export const updateProfileSchema = z
  .object({
    name: nameSchema.optional(),
    email: emailSchema.optional(),
    currentPassword: z.string().max(4096).optional(),
  })
  .refine((input) => input.name !== undefined || input.email !== undefined, {
    message: 'Give a name or an email to change.',
  });
