import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';

const TOKEN_A = 'a'.repeat(16);
const TOKEN_B = 'flag-token-0123456789';

function configError(argv: string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('listens on 0.0.0.0:8080, keeps 30 days and generates the token when nothing is given', () => {
    expect(loadConfig([], { INIT_CWD: '/srv/edgeswarm' })).toEqual({
      port: 8080,
      host: '0.0.0.0',
      dataDir: '/srv/edgeswarm/data',
      token: undefined,
      retentionDays: 30,
      maxConnectionsPerAddress: 2000,
      joinToken: undefined,
      allowedOrigins: [],
      databaseUrl: undefined,
      hubName: expect.any(String),
    });
  });

  it('resolves the data dir against INIT_CWD, where the user typed the command', () => {
    expect(loadConfig(['--data-dir', 'state/hub'], { INIT_CWD: '/home/me/proj' }).dataDir).toBe('/home/me/proj/state/hub');
    expect(loadConfig(['--data-dir', '../up'], { INIT_CWD: '/home/me/proj' }).dataDir).toBe('/home/me/up');
  });

  it('resolves the default data dir against the working directory without INIT_CWD', () => {
    expect(loadConfig([], {}).dataDir).toBe(resolve(process.cwd(), 'data'));
  });

  it('keeps an absolute data dir as given', () => {
    expect(loadConfig(['--data-dir', '/var/lib/edgeswarm'], { INIT_CWD: '/home/me' }).dataDir).toBe('/var/lib/edgeswarm');
  });

  it('treats empty environment variables as not set', () => {
    expect(
      loadConfig([], { INIT_CWD: '/x', PORT: '', HOST: '', EDGESWARM_TOKEN: '', EDGESWARM_RETENTION_DAYS: '', EDGESWARM_DATA_DIR: '' }),
    ).toEqual({ port: 8080, host: '0.0.0.0', dataDir: '/x/data', token: undefined, retentionDays: 30, maxConnectionsPerAddress: 2000, joinToken: undefined, allowedOrigins: [], databaseUrl: undefined, hubName: expect.any(String) });
  });
});

describe('loadConfig sources', () => {
  const env = {
    INIT_CWD: '/work',
    PORT: '9000',
    HOST: '127.0.0.1',
    EDGESWARM_DATA_DIR: '/env/data',
    EDGESWARM_TOKEN: TOKEN_A,
    EDGESWARM_RETENTION_DAYS: '7',
    EDGESWARM_MAX_CONNECTIONS_PER_ADDRESS: '50',
    EDGESWARM_JOIN_TOKEN: 'env-join-token',
  };

  it('uses the environment when no flag is given', () => {
    expect(loadConfig([], env)).toEqual({
      port: 9000,
      host: '127.0.0.1',
      dataDir: '/env/data',
      token: TOKEN_A,
      retentionDays: 7,
      maxConnectionsPerAddress: 50,
      joinToken: 'env-join-token',
      allowedOrigins: [],
      databaseUrl: undefined,
      hubName: expect.any(String),
    });
  });

  it('uses flags when no environment variable is set', () => {
    expect(
      loadConfig(['--port', '1234', '--host', '::1', '--data-dir', '/flag/data', '--token', TOKEN_B, '--retention-days', '90'], {}),
    ).toEqual({ port: 1234, host: '::1', dataDir: '/flag/data', token: TOKEN_B, retentionDays: 90, maxConnectionsPerAddress: 2000, joinToken: undefined, allowedOrigins: [], databaseUrl: undefined, hubName: expect.any(String) });
  });

  it.each([
    ['--port', '1234', 'port', 1234],
    ['--host', '::1', 'host', '::1'],
    ['--data-dir', '/flag/data', 'dataDir', '/flag/data'],
    ['--token', TOKEN_B, 'token', TOKEN_B],
    ['--retention-days', '90', 'retentionDays', 90],
    ['--max-connections-per-address', '0', 'maxConnectionsPerAddress', 0],
    ['--join-token', 'flag_join_token', 'joinToken', 'flag_join_token'],
  ])('lets %s win over its environment variable', (flag, text, key, expected) => {
    const config = loadConfig([flag, text], env);
    expect(config).toMatchObject({ [key]: expected });
    // every other setting still comes from the environment
    const fromEnv = loadConfig([], env);
    // The default hub name is HOST:PORT, so it follows them.
    expect({ ...config, [key]: undefined, hubName: undefined }).toEqual({ ...fromEnv, [key]: undefined, hubName: undefined });
  });

  it('accepts --flag=value', () => {
    expect(loadConfig(['--port=0', '--retention-days=1'], {})).toMatchObject({ port: 0, retentionDays: 1 });
  });
});

describe('loadConfig allowed origins', () => {
  it('takes "*" or a comma-separated list of origins, normalised', () => {
    expect(loadConfig(['--allowed-origins', '*'], {}).allowedOrigins).toBe('*');
    expect(loadConfig(['--allowed-origins', 'https://Hub.Example.org, http://localhost:5173/'], {}).allowedOrigins).toEqual([
      'https://hub.example.org',
      'http://localhost:5173',
    ]);
    expect(loadConfig([], { EDGESWARM_ALLOWED_ORIGINS: 'http://10.0.0.5:8080' }).allowedOrigins).toEqual(['http://10.0.0.5:8080']);
  });

  it.each(['hub.example.org', 'ftp://x.org', 'https://x.org/path', 'null'])('rejects %s, naming the flag', (text) => {
    expect(configError(['--allowed-origins', text]).message).toBe(
      `--allowed-origins must be "*" or comma-separated origins such as https://hub.example.org, got "${text}"`,
    );
  });
});

describe('loadConfig join token', () => {
  it.each(['short', 'has space in it', 'semi;colon!', 'x'.repeat(129)])('rejects --join-token %j, naming the flag', (text) => {
    expect(configError([`--join-token=${text}`]).message).toBe('--join-token must be 8 to 128 letters, digits, "-" or "_"');
  });

  it('names EDGESWARM_JOIN_TOKEN when the environment holds a bad one', () => {
    expect(configError([], { EDGESWARM_JOIN_TOKEN: 'a/b' }).message).toMatch(/^EDGESWARM_JOIN_TOKEN must be/);
  });
});

describe('loadConfig port and retention', () => {
  it.each([
    ['0', 0],
    ['65535', 65535],
    ['80', 80],
  ])('accepts port %s', (text, port) => {
    expect(loadConfig([`--port=${text}`], {}).port).toBe(port);
  });

  it.each(['abc', '70000', '-1', '65536', '1.5', '8080x', '1e3'])('rejects --port %s, naming --port', (text) => {
    expect(configError([`--port=${text}`], { PORT: '9000' }).message).toBe(
      `--port must be an integer from 0 to 65535, got "${text}"`,
    );
  });

  it.each(['abc', '70000', '-1'])('rejects PORT=%s, naming PORT', (text) => {
    expect(configError([], { PORT: text }).message).toBe(`PORT must be an integer from 0 to 65535, got "${text}"`);
  });

  it('rejects a port flag value that looks like another flag, naming --port', () => {
    expect(configError(['--port', '-1']).message).toContain("'--port'");
  });

  it.each(['0', '36501', 'x', '-3'])('rejects --retention-days %s, naming --retention-days', (text) => {
    expect(configError([`--retention-days=${text}`]).message).toBe(
      `--retention-days must be an integer from 1 to 36500, got "${text}"`,
    );
  });

  it('rejects EDGESWARM_RETENTION_DAYS=0, naming EDGESWARM_RETENTION_DAYS', () => {
    expect(configError([], { EDGESWARM_RETENTION_DAYS: '0' }).message).toBe(
      'EDGESWARM_RETENTION_DAYS must be an integer from 1 to 36500, got "0"',
    );
  });
});

describe('loadConfig token', () => {
  it.each([
    ['16 characters', 'x'.repeat(16)],
    ['256 characters', 'x'.repeat(256)],
    ['printable ASCII punctuation', '!~#$%&()*+,-./:;<=>?@[]^_`{|}0123'],
  ])('accepts a token of %s', (_label, token) => {
    expect(loadConfig(['--token', token], {}).token).toBe(token);
  });

  it.each([
    ['15 characters', 'x'.repeat(15)],
    ['257 characters', 'x'.repeat(257)],
    ['a space', 'abcdefgh ijklmnopq'],
    ['a non-ASCII character', 'abcdefghijklmnopé'],
  ])('rejects a --token of %s, naming --token', (_label, token) => {
    expect(configError(['--token', token]).message).toBe(
      '--token must be 16 to 256 printable ASCII characters without spaces',
    );
  });

  it('rejects a short EDGESWARM_TOKEN, naming EDGESWARM_TOKEN', () => {
    expect(configError([], { EDGESWARM_TOKEN: 'short' }).message).toBe(
      'EDGESWARM_TOKEN must be 16 to 256 printable ASCII characters without spaces',
    );
  });
});

describe('loadConfig arguments', () => {
  it('rejects an unknown flag with the usage line', () => {
    const err = configError(['--colour', 'red']);
    expect(err.message).toContain("'--colour'");
    expect(err.message).toContain('Usage: npm start --');
  });

  it('rejects a positional argument', () => {
    expect(configError(['8080']).message).toContain('Usage: npm start --');
  });

  it('rejects a flag without its value', () => {
    expect(configError(['--port']).message).toContain('--port');
  });
});

describe('several hubs', () => {
  it('takes a PostgreSQL URL from --database-url or EDGESWARM_DATABASE_URL, and rejects anything else naming the setting', () => {
    expect(loadConfig([], {}).databaseUrl).toBeUndefined();
    expect(loadConfig(['--database-url', 'postgres://u:p@db:5432/edgeswarm'], {}).databaseUrl).toBe('postgres://u:p@db:5432/edgeswarm');
    expect(loadConfig([], { EDGESWARM_DATABASE_URL: 'postgresql://db/x' }).databaseUrl).toBe('postgresql://db/x');
    expect(configError(['--database-url', 'mysql://db/x']).message).toMatch(/^--database-url must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(configError([], { EDGESWARM_DATABASE_URL: 'not a url' }).message).toMatch(/^EDGESWARM_DATABASE_URL must be a postgres:\/\//);
  });

  it('names the hub HOST:PORT unless --hub-name or EDGESWARM_HUB_NAME says otherwise', () => {
    expect(loadConfig(['--host', '10.0.0.5', '--port', '9000'], {}).hubName).toBe('10.0.0.5:9000');
    expect(loadConfig(['--hub-name', 'hub-east'], {}).hubName).toBe('hub-east');
    expect(loadConfig([], { EDGESWARM_HUB_NAME: 'hub-west' }).hubName).toBe('hub-west');
    expect(configError(['--hub-name', 'has space']).message).toBe('--hub-name must be 1 to 100 printable ASCII characters without spaces');
  });
});
