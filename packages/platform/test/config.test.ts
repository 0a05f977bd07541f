import { describe, expect, it } from 'vitest';
import { inRequestedOrder, queryableIds } from '../src/batch.ts';
import {
  baseSettings,
  ConfigurationError,
  flagSetting,
  httpUrlSetting,
  loadConfig,
  maxTimerMs,
  millisecondsSetting,
  nearMisses,
  optionalFlagSetting,
  optionalTextSetting,
  optionalUrlSetting,
  portSetting,
  postgresUrlSetting,
  seedsDemoData,
} from '../src/config.ts';

const settings = baseSettings.extend({
  PORT: portSetting(4001),
  SEED_DEMO_DATA: flagSetting(true),
});

describe('loadConfig', () => {
  it('takes a variable set to nothing as unset, as `npm start` without database URLs sets them', () => {
    const schema = baseSettings.extend({ TICKETS_DATABASE_URL: optionalTextSetting() });
    expect(loadConfig(schema, { TICKETS_DATABASE_URL: '' }).TICKETS_DATABASE_URL).toBeUndefined();
    expect(loadConfig(schema, {}).TICKETS_DATABASE_URL).toBeUndefined();
    expect(
      loadConfig(schema, { TICKETS_DATABASE_URL: 'postgres://db/tickets' }).TICKETS_DATABASE_URL,
    ).toBe('postgres://db/tickets');
  });

  it('applies defaults that make a fresh start work', () => {
    expect(loadConfig(settings, {})).toEqual({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PORT: 4001,
      SEED_DEMO_DATA: true,
    });
  });

  it('reads and converts what the environment sets', () => {
    expect(
      loadConfig(settings, { PORT: '0', SEED_DEMO_DATA: 'false', NODE_ENV: 'production' }),
    ).toMatchObject({
      PORT: 0,
      SEED_DEMO_DATA: false,
      NODE_ENV: 'production',
    });
  });

  it('stops with a message that names each bad variable', () => {
    const load = () => loadConfig(settings, { PORT: '70000', SEED_DEMO_DATA: 'maybe' });
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(/PORT/);
    expect(load).toThrow(/SEED_DEMO_DATA/);
  });
});

describe('number settings', () => {
  const schema = baseSettings.extend({
    PORT: portSetting(4001),
    DRAIN_DEADLINE_MS: millisecondsSetting(8_000),
    RELAY_INTERVAL_MS: millisecondsSetting(500, { min: 10 }),
  });

  it('take a variable set to nothing as unset, not as 0', () => {
    expect(loadConfig(schema, { PORT: '', DRAIN_DEADLINE_MS: '', RELAY_INTERVAL_MS: '' })).toEqual({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PORT: 4001,
      DRAIN_DEADLINE_MS: 8_000,
      RELAY_INTERVAL_MS: 500,
    });
    expect(loadConfig(schema, { PORT: '0', DRAIN_DEADLINE_MS: '0' })).toMatchObject({
      PORT: 0,
      DRAIN_DEADLINE_MS: 0,
    });
  });

  it('refuse a duration no timer keeps, and one below its least', () => {
    expect(loadConfig(schema, { DRAIN_DEADLINE_MS: String(maxTimerMs) }).DRAIN_DEADLINE_MS).toBe(
      maxTimerMs,
    );
    for (const [variable, value] of [
      ['DRAIN_DEADLINE_MS', String(maxTimerMs + 1)],
      ['RELAY_INTERVAL_MS', '3000000000'],
      ['RELAY_INTERVAL_MS', '9'],
      ['DRAIN_DEADLINE_MS', '-1'],
      ['DRAIN_DEADLINE_MS', '1.5'],
      ['DRAIN_DEADLINE_MS', 'soon'],
    ] as const) {
      expect(() => loadConfig(schema, { [variable]: value }), value).toThrow(new RegExp(variable));
    }
  });
});

describe('URL settings', () => {
  const schema = baseSettings.extend({
    USERS_URL: httpUrlSetting().default('http://127.0.0.1:4001/graphql'),
    USERS_DATABASE_URL: optionalUrlSetting(postgresUrlSetting()),
  });

  it('take the URLs their clients speak, and nothing as unset', () => {
    expect(
      loadConfig(schema, {
        USERS_URL: 'https://users.internal/graphql',
        USERS_DATABASE_URL: 'postgresql:///users?host=/var/run/postgresql',
      }),
    ).toMatchObject({
      USERS_URL: 'https://users.internal/graphql',
      USERS_DATABASE_URL: 'postgresql:///users?host=/var/run/postgresql',
    });
    expect(loadConfig(schema, { USERS_DATABASE_URL: '' }).USERS_DATABASE_URL).toBeUndefined();
    expect(loadConfig(schema, { USERS_DATABASE_URL: 'postgres://u@db/users' })).toMatchObject({
      USERS_DATABASE_URL: 'postgres://u@db/users',
    });
  });

  it('refuse a URL written without its scheme, naming the variable and the scheme', () => {
    // Each parses as a URL: of the schemes `users`, `db.example` and `ftp`.
    for (const [variable, value, scheme] of [
      ['USERS_URL', 'users:4001/graphql', 'http://'],
      ['USERS_DATABASE_URL', 'db.example:5432/users', 'postgresql://'],
      ['USERS_DATABASE_URL', 'http://db.example:5432/users', 'postgresql://'],
      ['USERS_URL', 'ftp://users/graphql', 'https://'],
    ] as const) {
      const load = () => loadConfig(schema, { [variable]: value });
      expect(load, value).toThrow(ConfigurationError);
      expect(load, value).toThrow(new RegExp(`${scheme}[^]*${variable}`));
    }
  });
});

describe('nearMisses', () => {
  const settings = ['NODE_ENV', 'HOST', 'PORT', 'LOG_LEVEL', 'REDIS_URL', 'DRAIN_DEADLINE_MS'];

  it('names a variable a letter or two from an unset setting, with the setting', () => {
    expect(nearMisses({ REDIS_ULR: 'redis://r:6379', LOGLEVEL: 'debug' }, settings)).toEqual([
      { variable: 'REDIS_ULR', meant: 'REDIS_URL' },
      { variable: 'LOGLEVEL', meant: 'LOG_LEVEL' },
    ]);
  });

  it('leaves the rest of a process’s environment alone', () => {
    expect(
      nearMisses(
        {
          HOME: '/root',
          HOSTNAME: 'pod-1',
          PWD: '/app',
          // Kubernetes' service links, and a setting that is set beside its near miss.
          REDIS_PORT: 'tcp://10.0.0.1:6379',
          USERS_SERVICE_PORT: '4001',
          LOG_LEVEL: 'info',
          LOG_LEVL: 'debug',
          npm_config_cache: '/tmp',
        },
        settings,
      ),
    ).toEqual([]);
  });
});

describe('seedsDemoData', () => {
  const demo = baseSettings.extend({ SEED_DEMO_DATA: optionalFlagSetting() });
  const decide = (env: NodeJS.ProcessEnv) => seedsDemoData(loadConfig(demo, env));

  it('seeds outside production unless told not to', () => {
    expect(decide({})).toBe(true);
    expect(decide({ NODE_ENV: 'test' })).toBe(true);
    expect(decide({ SEED_DEMO_DATA: 'false' })).toBe(false);
  });

  it('never seeds in production unless asked for explicitly', () => {
    expect(decide({ NODE_ENV: 'production' })).toBe(false);
    expect(decide({ NODE_ENV: 'production', SEED_DEMO_DATA: 'false' })).toBe(false);
    expect(decide({ NODE_ENV: 'production', SEED_DEMO_DATA: 'true' })).toBe(true);
  });
});

describe('inRequestedOrder', () => {
  it('returns rows in the order of the ids, with null for ids that matched none', () => {
    const rows = [{ id: 'b' }, { id: 'a' }];
    expect(inRequestedOrder(['a', 'x', 'b', 'a'], rows, (row) => row.id)).toEqual([
      { id: 'a' },
      null,
      { id: 'b' },
      { id: 'a' },
    ]);
  });

  it('finds a row asked for with its UUID in capitals (RFC 9562: the same UUID)', () => {
    const id = '0192f5a0-7b1c-7d2e-8f3a-4b5c6d7e8f90';
    const rows = [{ id }];
    expect(inRequestedOrder([id.toUpperCase(), id], rows, (row) => row.id)).toEqual([
      { id },
      { id },
    ]);
    expect(queryableIds([id.toUpperCase(), id, 'not-a-uuid'])).toEqual([id]);
  });
});
