/** The test PostgreSQL server: started from the machine's binaries, a database its role owns, durable across a crash. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, type PostgresServer } from './support/postgres-server.ts';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server.stop();
});

describe('the test PostgreSQL server', () => {
  it('gives a database owned by a role that is not a superuser, with durable commits', async () => {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const role = await client.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
      expect(role.rows[0]?.rolsuper).toBe(false);
      const settings = await client.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name`,
      );
      expect(settings.rows).toEqual([
        { name: 'fsync', setting: 'on' },
        { name: 'synchronous_commit', setting: 'on' },
      ]);
      await client.query('CREATE TABLE survives (x int)');
      await client.query('INSERT INTO survives VALUES (42)');
    } finally {
      await client.end();
    }
    // A crash (immediate stop) keeps every committed row: the WAL replays at the next start.
    server.crash();
    server.start();
    const again = new pg.Client({ connectionString: server.url });
    await again.connect();
    try {
      expect((await again.query('SELECT x FROM survives')).rows).toEqual([{ x: 42 }]);
    } finally {
      await again.end();
    }
  });
});
