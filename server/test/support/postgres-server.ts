/**
 * A real PostgreSQL server for tests (../../src/cluster/local-postgres.ts), and a fresh database on it for each case.
 */
import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type PostgresServer } from '../../src/cluster/local-postgres.ts';

export { postgresBinDir, startPostgres, type PostgresServer } from '../../src/cluster/local-postgres.ts';

let databases = 0;

/** A new empty database on `server`, owned by the hub's role (the hub creates its tables); returns its URL. */
export async function freshDatabase(server: PostgresServer): Promise<string> {
  const name = `db_${process.pid}_${++databases}`;
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER edgeswarm`);
  } finally {
    await admin.end();
  }
  return server.url.replace(/\/edgeswarm$/, `/${name}`);
}


/** One PostgreSQL server for a test file: started before its first test, stopped after its last. */
export function postgresForFile(): { readonly server: PostgresServer; fresh(): Promise<string> } {
  let started: PostgresServer | undefined;
  beforeAll(async () => {
    started = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await started?.stop();
  });
  const server = (): PostgresServer => {
    if (!started) throw new Error('the PostgreSQL server is not started yet (use it inside a test)');
    return started;
  };
  return {
    get server() {
      return server();
    },
    fresh: () => freshDatabase(server()),
  };
}
