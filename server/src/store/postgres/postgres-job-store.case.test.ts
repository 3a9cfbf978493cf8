/**
 * The store contract's conformance suite, and WorkService's engine-independent cases, on PostgreSQL: a real server
 * started from the machine's binaries (one for this file), a fresh database for each case, owned by a role that is
 * not a superuser.
 */
import { afterAll, beforeAll } from 'vitest';
import pg from 'pg';
import { runJobStoreSuite } from '../../../test/support/job-store-suite.ts';
import { freshDatabase, startPostgres, type PostgresServer } from '../../../test/support/postgres-server.ts';
import { runWorkServiceSuite } from '../../../test/support/work-service-suite.ts';
import { PostgresJobStore } from './postgres-job-store.ts';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

runJobStoreSuite({
  name: 'PostgreSQL',
  async open() {
    const url = await freshDatabase(server);
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

runWorkServiceSuite({
  name: 'PostgreSQL',
  async open() {
    const url = await freshDatabase(server);
    let store = await PostgresJobStore.open(url, { max: 4 });
    return {
      store,
      async reopen() {
        await store.close();
        store = await PostgresJobStore.open(url, { max: 4 });
        return store;
      },
      close: () => store.close(),
    };
  },
});
