/** Hub configuration from flags and environment (flags win), validated at start with messages that name the setting. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { ConfigError } from './errors.ts';
import { parseOrigin } from './hub/origin-policy.ts';

export interface HubConfig {
  port: number;
  host: string;
  dataDir: string;
  token: string | undefined;
  retentionDays: number;
  maxConnectionsPerAddress: number;
  /** Private pool: devices must bring this token; undefined = anyone may join. */
  joinToken: string | undefined;
  /** Browser origins admitted besides the hub's own, or '*' for any. */
  allowedOrigins: string[] | '*';
  /** A `postgres://` URL: keep everything in that database, shared with every hub given the same URL. */
  databaseUrl: string | undefined;
  /** How this hub names itself in device entries, logs and metrics; unique per network. */
  hubName: string;
}

const FLAGS = {
  port: { env: 'PORT', default: '8080' },
  host: { env: 'HOST', default: '0.0.0.0' },
  'data-dir': { env: 'EDGESWARM_DATA_DIR', default: './data' },
  token: { env: 'EDGESWARM_TOKEN', default: '' },
  'retention-days': { env: 'EDGESWARM_RETENTION_DAYS', default: '30' },
  'max-connections-per-address': { env: 'EDGESWARM_MAX_CONNECTIONS_PER_ADDRESS', default: '2000' },
  'join-token': { env: 'EDGESWARM_JOIN_TOKEN', default: '' },
  'allowed-origins': { env: 'EDGESWARM_ALLOWED_ORIGINS', default: '' },
  'database-url': { env: 'EDGESWARM_DATABASE_URL', default: '' },
  'hub-name': { env: 'EDGESWARM_HUB_NAME', default: '' },
} as const;

type Flag = keyof typeof FLAGS;

export const USAGE =
  'Usage: npm start -- [--port N] [--host ADDR] [--data-dir DIR] [--token TOKEN] [--retention-days N] [--max-connections-per-address N] [--join-token TOKEN] [--allowed-origins ORIGIN,...] [--database-url postgres://...] [--hub-name NAME]';

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): HubConfig {
  let values: Partial<Record<Flag, string>>;
  try {
    values = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' }])),
      strict: true,
      allowPositionals: false,
    }).values as Partial<Record<Flag, string>>;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${USAGE}`);
  }
  const pick = (flag: Flag): { value: string; source: string } => {
    const v = values[flag];
    if (v !== undefined) return { value: v, source: `--${flag}` };
    const e = env[FLAGS[flag].env];
    if (e !== undefined && e !== '') return { value: e, source: FLAGS[flag].env };
    return { value: FLAGS[flag].default, source: `--${flag}` };
  };
  const port = pick('port');
  const retention = pick('retention-days');
  const token = pick('token');
  const maxConn = pick('max-connections-per-address');
  const join = pick('join-token');
  // It goes into the volunteer URL, so only characters that need no escaping there.
  if (join.value !== '' && !/^[A-Za-z0-9_-]{8,128}$/.test(join.value)) {
    throw new ConfigError(`${join.source} must be 8 to 128 letters, digits, "-" or "_"`);
  }
  if (token.value !== '' && !/^[\x21-\x7e]{16,256}$/.test(token.value)) {
    throw new ConfigError(`${token.source} must be 16 to 256 printable ASCII characters without spaces`);
  }
  const database = pick('database-url');
  if (database.value !== '' && parseDatabaseUrl(database.value) === null) {
    throw new ConfigError(`${database.source} must be a postgres:// or postgresql:// URL such as postgres://user:password@db.example.org:5432/edgeswarm`);
  }
  const portNumber = integer(port.value, port.source, 0, 65535);
  const host = pick('host').value;
  const hubName = pick('hub-name');
  if (hubName.value !== '' && !/^[\x21-\x7e]{1,100}$/.test(hubName.value)) {
    throw new ConfigError(`${hubName.source} must be 1 to 100 printable ASCII characters without spaces`);
  }
  return {
    port: portNumber,
    host,
    databaseUrl: database.value === '' ? undefined : database.value,
    hubName: hubName.value !== '' ? hubName.value : defaultHubName(host, portNumber),
    // npm runs workspace scripts inside the workspace; resolve against where the user typed the command.
    dataDir: resolve(env['INIT_CWD'] ?? process.cwd(), pick('data-dir').value),
    token: token.value === '' ? undefined : token.value,
    retentionDays: integer(retention.value, retention.source, 1, 36500),
    maxConnectionsPerAddress: integer(maxConn.value, maxConn.source, 0, 1_000_000),
    joinToken: join.value === '' ? undefined : join.value,
    allowedOrigins: origins(pick('allowed-origins')),
  };
}

/** The URL when it is a PostgreSQL one, else null. */
export function parseDatabaseUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:' ? url : null;
  } catch {
    return null;
  }
}

/** `HOST:PORT` of the hub (the machine's name when it listens on every address; its process id for a random port). */
function defaultHubName(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `${name}:${port === 0 ? `pid${process.pid}` : port}`;
}

function origins({ value, source }: { value: string; source: string }): string[] | '*' {
  if (value.trim() === '*') return '*';
  const out: string[] = [];
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const origin = parseOrigin(part);
    if (origin === null) {
      throw new ConfigError(`${source} must be "*" or comma-separated origins such as https://hub.example.org, got "${part}"`);
    }
    out.push(origin);
  }
  return out;
}

function integer(text: string, source: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${source} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return n;
}
