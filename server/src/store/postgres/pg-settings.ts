/** Settings every hub of a PostgreSQL network shares (the `settings` table): today the admin token. */
import { randomBytes } from 'node:crypto';
import type { PgSession } from './pg-session.ts';

/**
 * The network's admin token: the one given (every hub must then be given the same), else the one the first hub
 * generated and stored, so every hub of the network accepts the same token.
 */
export async function sharedAdminToken(session: PgSession, given: string | undefined): Promise<string> {
  if (given) return given;
  await session.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', ['admin_token', randomBytes(24).toString('base64url')]);
  const row = (await session.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', ['admin_token'])).rows[0];
  if (!row) throw new Error('the admin token vanished from the settings table');
  return row.value;
}
