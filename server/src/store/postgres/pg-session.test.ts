import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { postgresForFile } from '../../../test/support/postgres-server.ts';
import { PgSession } from './pg-session.ts';

const postgres = postgresForFile();

describe('PgSession', () => {
  it('commits with synchronous_commit on even where the database default is off', async () => {
    const url = await postgres.fresh();
    const name = new URL(url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: postgres.server.adminUrl });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
    } finally {
      await admin.end();
    }
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    const defaults = (await plain.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0];
    await plain.end();
    expect(defaults).toEqual({ synchronous_commit: 'off' });

    const session = new PgSession(url, { max: 2 });
    try {
      const inTx = await session.tx((q) => q.query<{ synchronous_commit: string }>('SHOW synchronous_commit'));
      expect(inTx.rows[0]).toEqual({ synchronous_commit: 'on' });
      expect((await session.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]).toEqual({ synchronous_commit: 'on' });
    } finally {
      await session.close();
    }
  });
});
