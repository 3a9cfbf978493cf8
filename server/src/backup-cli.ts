/**
 * `npm run backup -- --out FILE [--data-dir DIR]`: a consistent copy of the live database, taken with SQLite's online
 * backup. With a PostgreSQL database (--database-url or EDGESWARM_DATABASE_URL) it says how to back that up instead.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from './database-file.ts';
import { parseDatabaseUrl } from './config.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { out: { type: 'string' }, 'data-dir': { type: 'string' }, 'database-url': { type: 'string' } },
});
const databaseUrl = values['database-url'] ?? (process.env['EDGESWARM_DATABASE_URL'] || undefined);
if (databaseUrl !== undefined) {
  const url = parseDatabaseUrl(databaseUrl);
  const where = url ? `${url.host}${url.pathname}` : 'the database';
  console.log(`The hubs keep everything in PostgreSQL (${where}): back it up with PostgreSQL's own tools, which copy it consistently while the hubs run:
  pg_dump --format=custom --file=edgeswarm.dump "$EDGESWARM_DATABASE_URL"      (restore: pg_restore --clean -d URL edgeswarm.dump)
or continuous archiving (base backups and WAL, point-in-time recovery), or a synchronous standby. See the README, "Several hubs".`);
  process.exit(0);
}
if (!values.out) {
  console.error('Usage: npm run backup -- --out FILE [--data-dir DIR]');
  process.exit(2);
}
const base = process.env['INIT_CWD'] ?? process.cwd();
const dataDir = resolve(base, values['data-dir'] ?? process.env['EDGESWARM_DATA_DIR'] ?? './data');
const source = join(dataDir, DATABASE_FILE);
if (!existsSync(source)) {
  console.error(`edgeswarm: no database at ${source} (--data-dir)`);
  process.exit(2);
}
const out = resolve(base, values.out);
const db = new Database(source, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
await db.backup(out);
db.close();
console.log(`Backed up ${source} to ${out}`);
