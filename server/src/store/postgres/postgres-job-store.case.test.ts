/**
 * The store contract's conformance suite on PostgreSQL: a real server started from the machine's binaries (one for
 * this file), a fresh database for each case, owned by a role that is not a superuser.
 */
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { runJobStoreSuite } from '../../../test/support/job-store-suite.ts';
import { startPostgres, type PostgresServer } from '../../../test/support/postgres-server.ts';
import { PostgresJobStore } from './postgres-job-store.ts';

let server: PostgresServer;
let databases = 0;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

runJobStoreSuite({
  name: 'PostgreSQL',
  async open() {
    const name = `case_${++databases}`;
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name} OWNER edgeswarm`);
    await admin.end();
    const url = server.url.replace(/\/edgeswarm$/, `/${name}`);
    const store = await PostgresJobStore.open(url, { max: 4 });
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    return {
      store,
      probe: {
        rows: async (table) => Number((await probe.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0),
        touchClaim: async (owner, at) => void (await probe.query('UPDATE blob_owners SET touched_at = $1 WHERE owner = $2', [at, owner])),
      },
      async close() {
        await probe.end();
        await store.close();
      },
    };
  },
});
