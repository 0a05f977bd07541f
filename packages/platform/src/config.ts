import { distance } from 'fastest-levenshtein';
import { z } from 'zod';

/** A variable set to nothing (`VAR=`, as compose's `${VAR:-}` leaves it) counts as unset. */
const unsetWhenEmpty = (value: unknown) => (value === '' ? undefined : value);

/**
 * A whole number between `min` and `max`; set to nothing, the default. (Read as a number
 * straight away, nothing would be 0: a port the OS picks, a drain that waits for nothing.)
 */
export const integerSetting = (fallback: number, { min, max }: { min: number; max: number }) =>
  z.preprocess(unsetWhenEmpty, z.coerce.number().int().min(min).max(max).default(fallback));

/** A TCP port; 0 asks the OS for a free one. */
export const portSetting = (fallback: number) => integerSetting(fallback, { min: 0, max: 65_535 });

/**
 * The longest delay a Node timer keeps, 2^31 - 1 ms (24.8 days): a longer one fires after
 * 1 ms, so that an interval set past it runs without pause and a deadline past it has
 * always passed.
 */
export const maxTimerMs = 2 ** 31 - 1;

/** A duration in milliseconds that a timer or an AbortSignal waits, at least `min`. */
export const millisecondsSetting = (fallback: number, { min = 0 }: { min?: number } = {}) =>
  integerSetting(fallback, { min, max: maxTimerMs });

/**
 * An optional text variable. Set to nothing (`VAR=`, as a shell or compose's `${VAR:-}`
 * leaves it) it counts as unset, not as an error.
 */
export const optionalTextSetting = () =>
  z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value));

/**
 * A URL of one of `schemes`. A plain URL check is not enough: any `name:rest` parses as a
 * URL (`localhost:6379` is one whose scheme is `localhost`), so a URL written without its
 * scheme would pass, and leave its client unable to reach anything, without a word.
 */
export const urlSetting = (...schemes: [string, ...string[]]) =>
  z.url({
    protocol: new RegExp(`^(?:${schemes.join('|')})$`),
    error: `Expected a URL starting with ${schemes.map((scheme) => `${scheme}://`).join(' or ')}`,
  });

/** Where a service is reached over HTTP. */
export const httpUrlSetting = () => urlSetting('http', 'https');

/** A PostgreSQL database (a `<NAME>_DATABASE_URL`), as pg reads it. */
export const postgresUrlSetting = () => urlSetting('postgresql', 'postgres');

/** An optional URL variable; set to nothing, it counts as unset (see optionalTextSetting). */
export const optionalUrlSetting = (url: z.ZodURL) =>
  z.preprocess((value) => (value === '' ? undefined : value), url.optional());

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
 * A schema's refinement that runs `check` on the parsed settings, and makes each
 * ConfigurationError it throws an issue of the settings: for the rules a value's own schema
 * cannot say (a secret required only in production), checked with every other setting.
 */
export function settingsCheck<Settings>(check: (settings: Settings) => void) {
  return (settings: Settings, context: z.RefinementCtx) => {
    try {
      check(settings);
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      context.addIssue({ code: 'custom', message: error.message });
    }
  };
}

/**
 * Validates the environment once, at start-up, and returns typed settings. A bad value
 * stops the service with a message naming the variable, before anything listens. A variable
 * set to nothing counts as unset, whatever its kind: a number would otherwise be 0 (a
 * refresh grace or a warm-up silently off), and a name or a URL refused.
 */
export function loadConfig<Schema extends z.ZodType>(
  schema: Schema,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<Schema> {
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(set);
  if (!result.success) {
    throw new ConfigurationError(`Invalid configuration:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** A variable that is no setting of the service, and the setting it was probably meant as. */
export interface NearMiss {
  variable: string;
  meant: string;
}

/**
 * The variables in `env` that are no setting of the service but one or two letters away from
 * one that is unset (`REDIS_ULR` for `REDIS_URL`): a setting the operator believes is set,
 * and that silently keeps its default. Only names in the settings' style (capitals, digits,
 * underscores) are compared, and the shorter a setting's name, the closer a miss must be
 * (`HOME` is not taken for `HOST`).
 */
export function nearMisses(env: NodeJS.ProcessEnv, settings: Iterable<string>): NearMiss[] {
  const known = new Set(settings);
  const unset = [...known].filter((name) => env[name] === undefined);
  const misses: NearMiss[] = [];
  for (const variable of Object.keys(env)) {
    if (known.has(variable) || !/^[A-Z][A-Z0-9_]*$/.test(variable)) continue;
    const meant = unset.find(
      (name) => distance(variable, name) <= Math.min(2, Math.floor(name.length / 4)),
    );
    if (meant) misses.push({ variable, meant });
  }
  return misses;
}

/** Warns of each near miss (see nearMisses) among a service's variables, one line each. */
export function warnOfNearMisses(
  logger: { warn(fields: object, message: string): void },
  env: NodeJS.ProcessEnv,
  ...schemas: z.ZodObject[]
): void {
  const settings = schemas.flatMap((schema) => Object.keys(schema.shape));
  for (const { variable, meant } of nearMisses(env, settings)) {
    logger.warn(
      { variable, meant },
      `${variable} is not a setting of this service: ${meant} was meant? It is not set.`,
    );
  }
}
