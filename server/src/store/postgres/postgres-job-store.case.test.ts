/**
 * The store contract's conformance suite, the verification cases, WorkService's engine-independent cases and the time model, on PostgreSQL: a real server
 * started from the machine's binaries (one for this file), a fresh database for each case, owned by a role that is
 * not a superuser.
 */
import pg from 'pg';
import { runJobStoreSuite } from '../../../test/support/job-store-suite.ts';
import { postgresForFile } from '../../../test/support/postgres-server.ts';
import { runVerifiedSuite } from '../../../test/support/verified-suite.ts';
import { runWorkServiceSuite, type WorkSuiteEngine } from '../../../test/support/work-service-suite.ts';
import { runTimeModelSuite } from '../../../test/support/time-model-suite.ts';
import { PostgresJobStore } from './postgres-job-store.ts';

const postgres = postgresForFile();

runJobStoreSuite({
  name: 'PostgreSQL',
  async open() {
    const url = await postgres.fresh();
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

const workEngine: WorkSuiteEngine = {
  name: 'PostgreSQL',
  async open() {
    const url = await postgres.fresh();
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
};
runWorkServiceSuite(workEngine);
runTimeModelSuite(workEngine);

runVerifiedSuite({
  name: 'PostgreSQL',
  async open(random) {
    const url = await postgres.fresh();
    const store = await PostgresJobStore.open(url, { max: 4, random });
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    return {
      store,
      probe: {
        rows: async (table) => Number((await probe.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0),
        setDevice: async (id, v) =>
          void (await probe.query('UPDATE devices SET quarantined_at = $1, streak = coalesce($2, streak) WHERE id = $3', [v.quarantinedAt, v.streak ?? null, id])),
        streak: async (id) => Number((await probe.query<{ streak: string }>('SELECT streak FROM devices WHERE id = $1', [id])).rows[0]?.streak),
      },
      async close() {
        await probe.end();
        await store.close();
      },
    };
  },
});
