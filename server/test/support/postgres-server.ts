/**
 * A real PostgreSQL server for tests (../../src/cluster/local-postgres.ts), and a fresh database on it for each case.
 */
import type { PostgresServer } from '../../src/cluster/local-postgres.ts';

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

