import { z } from 'zod';

/** A TCP port; 0 asks the OS for a free one. */
export const portSetting = (fallback: number) =>
  z.coerce.number().int().min(0).max(65_535).default(fallback);

/**
 * An optional text variable. Set to nothing (`VAR=`, as a shell or compose's `${VAR:-}`
 * leaves it) it counts as unset, not as an error.
 */
export const optionalTextSetting = () =>
  z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value));

/** An on/off environment variable: true/false, 1/0, yes/no. */
export const flagSetting = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value)));

/** An on/off variable without a default: undefined when unset. */
export const optionalFlagSetting = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((value) => (value === undefined ? undefined : ['true', '1', 'yes'].includes(value)));

/**
 * Whether a service seeds the demo data set (accounts whose password the README publishes)
 * into an empty database: when SEED_DEMO_DATA says so, and otherwise only outside
 * production. A production deployment gets demo accounts only by asking for them.
 */
export function seedsDemoData(config: {
  NODE_ENV: 'development' | 'production' | 'test';
  SEED_DEMO_DATA: boolean | undefined;
}): boolean {
  return config.SEED_DEMO_DATA ?? config.NODE_ENV !== 'production';
}

/** What every service reads from its environment. */
export const baseSettings = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/**
 * Validates the environment once, at start-up, and returns typed settings. A bad value
 * stops the service with a message naming the variable, before anything listens.
 */
export function loadConfig<Schema extends z.ZodType>(
  schema: Schema,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<Schema> {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigurationError(`Invalid configuration:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}
