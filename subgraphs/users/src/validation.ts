import { passwordProblem } from '@ticketing/auth';
import { displayText } from '@ticketing/platform';
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

/** A name is shown to other people (an event's organizer): the display-text rule. */
export const nameSchema = displayText(100);

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
    // Bounded where it is checked, like every current password (AccountService).
    currentPassword: z.string().optional(),
  })
  .refine((input) => input.name !== undefined || input.email !== undefined, {
    message: 'Give a name or an email to change.',
  });
