/**
 * The PostgreSQL connection pool of the store and the two ways it runs statements: one at a time (`query`) or in
 * one transaction (`tx`). BIGINT and COUNT come back as numbers (the store keeps only safe integers: ms times,
 * counters), and what PostgreSQL's errors mean for callers (`translatePgError`).
 */
import pg from 'pg';
import { StoreUnavailableError } from '../job-store.ts';

/** SQLSTATE classes that mean "not now" rather than "this request is wrong": connection, resources, shutdown, conflicts. */
const UNAVAILABLE = /^(08|53|57P0|40001|40P01|55P03|58)/;

export function translatePgError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE.test(code)) {
    return new StoreUnavailableError(`the database cannot take this now (${code}: ${(err as Error).message})`, { cause: err });
  }
  // No connection at all (refused, reset, timed out) carries a Node error code instead.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new StoreUnavailableError(`the database cannot be reached (${code}: ${(err as Error).message})`, { cause: err });
  }
  if (err instanceof Error && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(err.message)) {
    return new StoreUnavailableError(`the database connection failed: ${err.message}`, { cause: err });
  }
  return err;
}

const INT8 = 20;
/** Deadlock and serialization failure: the transaction ran into another one and may simply run again. */
const RETRIED: ReadonlySet<string> = new Set(['40P01', '40001']);
const TX_ATTEMPTS = 5;

/** What runs statements: the pool (one statement each) or a client inside a transaction. */
export interface Queryable {
  query<TRow extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<TRow>>;
}

export class PgSession implements Queryable {
  readonly pool: pg.Pool;

  constructor(connectionString: string, options: { max?: number } = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: options.max ?? 16,
      // Commit before acknowledge: whatever the server's or the database's default, this hub's commits wait for
      // their WAL to be flushed (and for synchronous standbys, where the server has them).
      // JIT compiling pays off for long analytic queries, not for a hub's short ones (where a bad row estimate can
      // make PostgreSQL spend milliseconds compiling a statement that then runs in one).
      options: '-c synchronous_commit=on -c jit=off',
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client that loses its connection must not crash the process; the next query reports it.
    this.pool.on('error', () => undefined);
  }

  /** One statement, in its own implicit transaction. */
  async query<TRow extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<TRow>> {
    try {
      return await this.pool.query<TRow>(sql, params);
    } catch (err) {
      throw translatePgError(err);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection: committed when it returns, rolled back when it throws. A
   * transaction that lost a deadlock or a serialization conflict to another hub's runs again from the start (a few
   * times), so `fn` must keep its state in the database, not in variables it shares with other calls.
   */
  async tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.txOnce(fn);
      } catch (err) {
        const code = ((err as { cause?: { code?: unknown } }).cause ?? err) as { code?: unknown };
        if (attempt >= TX_ATTEMPTS || !RETRIED.has(String(code.code))) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    }
  }

  private async txOnce<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translatePgError(err);
    }
    // A connection that breaks while checked out emits 'error' with no listener of the pool's: without this one,
    // the process would crash when the database goes away mid-transaction. The query in flight rejects anyway.
    let broken = false;
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    const q: Queryable = { query: (sql, params) => client.query(sql, params) };
    try {
      await client.query('BEGIN');
      const value = await fn(q);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      throw translatePgError(err);
    } finally {
      client.removeListener('error', onError);
      // A broken connection is closed rather than given back to the pool.
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
