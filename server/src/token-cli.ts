/**
 * `npm run token -- create NAME [--max-running N] [--max-inputs N] [--per-minute N] [--max-blob-bytes N] | list | revoke NAME
 * [--data-dir DIR | --database-url URL]`: named submitter tokens in the hub's database (the SQLite file in the data dir,
 * or the PostgreSQL database every hub of a network shares), stored hashed. Running hubs read them at each call, so
 * changes count at once. `create` prints the new token alone on its last line (it cannot be shown again).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE } from './database-file.ts';
import { SqliteJobStore } from './store/sqlite-job-store.ts';
import { sqliteStore, type JobStore } from './store/async-store.ts';
import { PostgresJobStore } from './store/postgres/postgres-job-store.ts';
import { parseDatabaseUrl } from './config.ts';
import { DEFAULT_SUBMITTER_LIMITS, SUBMITTER_NAME, hashToken, newSubmitterToken } from './auth/principal.ts';
import type { SubmitterLimits } from './store/job-store.ts';

const USAGE = `Usage: npm run token -- create NAME [--max-running N] [--max-inputs N] [--per-minute N] [--max-blob-bytes N]
       npm run token -- list
       npm run token -- revoke NAME
  options: --data-dir DIR (default ./data, or EDGESWARM_DATA_DIR), or --database-url postgres://... (or
    EDGESWARM_DATABASE_URL) for hubs that keep everything in PostgreSQL
  limits of a new token: --max-running ${DEFAULT_SUBMITTER_LIMITS.maxRunning} jobs queued or running, --max-inputs ${DEFAULT_SUBMITTER_LIMITS.maxInputs} inputs per job, --per-minute ${DEFAULT_SUBMITTER_LIMITS.perMinute} jobs,
    --max-blob-bytes ${DEFAULT_SUBMITTER_LIMITS.maxBlobBytes} bytes of uploaded work modules and shared files kept at once`;

function fail(message: string): never {
  console.error(`edgeswarm token: ${message}\n${USAGE}`);
  process.exit(2);
}

function integer(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max) fail(`${flag} must be an integer from 1 to ${max}, got "${text}"`);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    options: {
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      'max-running': { type: 'string' },
      'max-inputs': { type: 'string' },
      'per-minute': { type: 'string' },
      'max-blob-bytes': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
} catch (err) {
  fail((err as Error).message);
}
const { values, positionals } = parsed;
const [command, name, ...extra] = positionals;
if (extra.length > 0) fail(`unexpected argument "${extra[0]}"`);
const base = process.env['INIT_CWD'] ?? process.cwd();
const dataDir = resolve(base, values['data-dir'] ?? process.env['EDGESWARM_DATA_DIR'] ?? './data');
const databaseUrl = values['database-url'] ?? (process.env['EDGESWARM_DATABASE_URL'] || undefined);
if (databaseUrl !== undefined && values['data-dir'] !== undefined) fail('give --data-dir or --database-url, not both');
if (databaseUrl !== undefined && parseDatabaseUrl(databaseUrl) === null) fail('--database-url must be a postgres:// or postgresql:// URL');

async function open(create: boolean): Promise<JobStore> {
  if (databaseUrl !== undefined) {
    try {
      return await PostgresJobStore.open(databaseUrl, { max: 1 });
    } catch (err) {
      const url = parseDatabaseUrl(databaseUrl);
      fail(`cannot open the database at ${url?.host ?? '?'}${url?.pathname ?? ''}: ${(err as Error).message}`);
    }
  }
  const file = join(dataDir, DATABASE_FILE);
  if (!existsSync(file)) {
    if (!create) fail(`no hub database at ${file} (--data-dir)`);
    mkdirSync(dataDir, { recursive: true });
  }
  return sqliteStore(new SqliteJobStore(file));
}

function checkName(text: string | undefined): string {
  if (text === undefined) fail(`${command} needs a NAME`);
  if (!SUBMITTER_NAME.test(text)) fail(`NAME must be 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit; got "${text}"`);
  return text;
}

switch (command) {
  case 'create': {
    const submitter = checkName(name);
    const limits: SubmitterLimits = {
      maxRunning: integer(values['max-running'], '--max-running', DEFAULT_SUBMITTER_LIMITS.maxRunning, 10_000),
      maxInputs: integer(values['max-inputs'], '--max-inputs', DEFAULT_SUBMITTER_LIMITS.maxInputs, 10_000_000),
      perMinute: integer(values['per-minute'], '--per-minute', DEFAULT_SUBMITTER_LIMITS.perMinute, 100_000),
      maxBlobBytes: integer(values['max-blob-bytes'], '--max-blob-bytes', DEFAULT_SUBMITTER_LIMITS.maxBlobBytes, 2 ** 50),
    };
    const store = await open(true);
    const token = newSubmitterToken();
    const created = await store.createSubmitter(submitter, hashToken(token), limits, Date.now());
    await store.close();
    if (!created) fail(`the name "${submitter}" is taken (names are never reused, even after revoke, so a new token never sees old jobs); choose another`);
    console.log(
      `Created submitter token "${submitter}" (at most ${limits.maxRunning} jobs at once, ${limits.maxInputs} inputs per job, ${limits.perMinute} jobs a minute, ${limits.maxBlobBytes} bytes of blobs).`,
    );
    console.log('It is shown only now; the hub keeps only its hash:');
    console.log(token);
    break;
  }
  case 'list': {
    if (name !== undefined) fail('list takes no NAME');
    const store = await open(false);
    const all = await store.listSubmitters();
    await store.close();
    if (all.length === 0) console.log('No submitter tokens. Create one with: npm run token -- create NAME');
    for (const s of all) {
      const state = s.revokedAt === null ? 'active' : `revoked ${new Date(s.revokedAt).toISOString()}`;
      console.log(
        `${s.name}\t${state}\tcreated ${new Date(s.createdAt).toISOString()}\tmax-running ${s.limits.maxRunning}\tmax-inputs ${s.limits.maxInputs}\tper-minute ${s.limits.perMinute}\tmax-blob-bytes ${s.limits.maxBlobBytes}`,
      );
    }
    break;
  }
  case 'revoke': {
    const submitter = checkName(name);
    const store = await open(false);
    const revoked = await store.revokeSubmitter(submitter, Date.now());
    await store.close();
    if (!revoked) fail(`no active token named "${submitter}"`);
    console.log(`Revoked "${submitter}": the hub refuses it from now on. Its jobs stay.`);
    break;
  }
  default:
    fail(command === undefined ? 'a command is needed' : `unknown command "${command}"`);
}
