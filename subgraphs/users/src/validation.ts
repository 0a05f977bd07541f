import { passwordProblem } from '@ticketing/auth';
import { z } from 'zod';

/** Emails compare case-insensitively: stored trimmed and lower-cased. */
export const emailSchema = z.string().trim().toLowerCase().max(254).pipe(z.email());

export const nameSchema = z.string().trim().min(1).max(100);

export const passwordSchema = z.string().superRefine((password, context) => {
  const problem = passwordProblem(password);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

export const signUpSchema = z.object({
  email: emailSchema,
  password: passwordSchema,
  name: nameSchema,
  accountType: z.enum(['CUSTOMER', 'ORGANIZER']),
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
