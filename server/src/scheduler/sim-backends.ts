/** The store engines a swarm simulation drives, each with a probe that reads its tables behind its back. Test-only. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteJobStore } from '../store/sqlite-job-store.ts';
import { sqliteStore, type JobStore } from '../store/async-store.ts';
import { PostgresJobStore } from '../store/postgres/postgres-job-store.ts';

/** The store engine a run drives: a SQLite file of its own, or an empty PostgreSQL database (its URL). */
export type SimEngine = { kind: 'sqlite' } | { kind: 'postgres'; url: string };

/**
 * Reads the store's tables behind its back, for the checks. The SQL is written once, for both engines: `?`
 * placeholders, boolean columns tested bare (`WHERE l.open`, `NOT j.deleted`), `sum(CASE ...)` rather than sums of
 * comparisons. Rows come back alike from both: PostgreSQL's booleans as SQLite's 0/1, its BIGINT and NUMERIC
 * (counts, sums) as numbers. What one statement cannot say on both engines is a named method.
 */
export interface SimProbe {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Open tail copies (speculative leases) of job `jobSeq` other than `exceptLease` that carry input `idx`. */
  openCopies(jobSeq: number, exceptLease: string, idx: number): Promise<number>;
}

/** One engine under the simulation: the hub's store (a new one after each restart) and a probe on its database. */
export interface SimBackend {
  readonly engine: SimEngine['kind'];
  readonly store: JobStore;
  readonly probe: SimProbe;
  /** The hub process restarts: its store closes, and a new process opens one on the same database. */
  restart(): Promise<void>;
  /** Closes the store and the probe, and removes what the run left on disk. */
  close(): Promise<void>;
}

/**
 * The SQLite engine: a file in a temporary directory, read by the probe through the store's own connection. A
 * simulated restart closes and reopens the store (no power loss), so fsync buys nothing here: synchronous=OFF
 * keeps every commit visible to the next open and makes the run several times faster. Durability itself is
 * tested by the crash tests.
 */
class SqliteBackend implements SimBackend {
  readonly engine = 'sqlite';
  readonly probe: SimProbe;
  private readonly dir = mkdtempSync(join(tmpdir(), 'edgeswarm-swarm-'));
  private readonly file = join(this.dir, 'edgeswarm.db');
  private sqlite: SqliteJobStore;
  private statements = new Map<string, Database.Statement<unknown[], unknown>>();
  store: JobStore;

  constructor() {
    this.sqlite = this.open();
    this.store = sqliteStore(this.sqlite);
    this.probe = {
      all: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).all(...params) as T[],
      get: async <T>(sql: string, params: readonly unknown[] = []) => this.statement(sql).get(...params) as T | undefined,
      openCopies: async (jobSeq, exceptLease, idx) =>
        (
          this.statement(
            `SELECT count(*) AS n FROM leases WHERE job_seq = ? AND open AND speculative AND id <> ?
                AND EXISTS (SELECT 1 FROM json_each(items) WHERE value = ?)`,
          ).get(jobSeq, exceptLease, idx) as { n: number } | undefined
        )?.n ?? -1,
    };
  }

  private open(): SqliteJobStore {
    const store = new SqliteJobStore(this.file);
    store.db.pragma('synchronous = OFF');
    return store;
  }

  private statement(sql: string): Database.Statement<unknown[], unknown> {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.sqlite.db.prepare<unknown[], unknown>(sql)));
    return statement;
  }

  async restart(): Promise<void> {
    await this.store.close();
    this.statements = new Map();
    this.sqlite = this.open();
    this.store = sqliteStore(this.sqlite);
  }

  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

const PG_BOOL = 16;
const PG_INT8 = 20;
const PG_NUMERIC = 1700;

/** The probe's rows in SQLite's shapes: booleans as 0/1, BIGINT and NUMERIC (counts and sums) as numbers. */
const probeTypes = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === PG_BOOL) return (value: string) => (value === 't' ? 1 : 0);
    if (oid === PG_INT8 || oid === PG_NUMERIC) {
      return (value: string) => {
        const n = Number(value);
        if (!Number.isSafeInteger(n)) throw new Error(`the probe read ${value}, which is not a safe integer`);
        return n;
      };
    }
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

/** SQLite's `?` placeholders as PostgreSQL's `$1..$n` (a `?` inside a quoted literal stays). */
function numberedPlaceholders(sql: string): string {
  let n = 0;
  let quoted = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out;
}

/** The hub's name on PostgreSQL: a restart is a new process of the same hub, which voids that hub's leases. */
const SIM_HUB = 'swarm-hub';

/**
 * The PostgreSQL engine: `PostgresJobStore` on an empty database, read by the probe through a connection of its own
 * (each store call has committed when its promise settles, so the probe sees it). A restart closes the store and
 * opens another on the same URL with the same hub name. As with SQLite's synchronous=OFF, the database is told not
 * to wait for the WAL flush at commit (synchronous_commit=off): a simulated restart loses no commit either way (the
 * server keeps running), and the run is faster.
 */
class PostgresBackend implements SimBackend {
  readonly engine = 'postgres';
  readonly probe: SimProbe;
  private readonly sql = new Map<string, string>();

  private constructor(
    private readonly url: string,
    private readonly client: pg.Client,
    public store: JobStore,
  ) {
    this.probe = {
      all: <T>(sql: string, params: readonly unknown[] = []) => this.rows<T>(sql, params),
      get: async <T>(sql: string, params: readonly unknown[] = []) => (await this.rows<T>(sql, params))[0],
      openCopies: async (jobSeq, exceptLease, idx) =>
        (
          await this.rows<{ n: number }>(
            `SELECT count(*) AS n FROM leases WHERE job_seq = ? AND open AND speculative AND id <> ?
                AND EXISTS (SELECT 1 FROM jsonb_array_elements(items::jsonb) AS e(value) WHERE e.value = to_jsonb(?::bigint))`,
            [jobSeq, exceptLease, idx],
          )
        )[0]?.n ?? -1,
    };
  }

  static async open(url: string): Promise<PostgresBackend> {
    const client = new pg.Client({ connectionString: url, types: probeTypes });
    // A connection that breaks emits 'error' (which would end the process without a listener); the query in flight,
    // and every later one, fails the run anyway.
    client.on('error', () => undefined);
    await client.connect();
    try {
      const database = decodeURIComponent(new URL(url).pathname.slice(1));
      await client.query(`ALTER DATABASE "${database.replaceAll('"', '""')}" SET synchronous_commit = off`);
      return new PostgresBackend(url, client, await PostgresJobStore.open(url, { hub: SIM_HUB, max: 4 }));
    } catch (err) {
      await client.end();
      throw err;
    }
  }

  private async rows<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    let text = this.sql.get(sql);
    if (text === undefined) this.sql.set(sql, (text = numberedPlaceholders(sql)));
    return (await this.client.query(text, [...params])).rows as T[];
  }

  async restart(): Promise<void> {
    await this.store.close();
    this.store = await PostgresJobStore.open(this.url, { hub: SIM_HUB, max: 4 });
  }

  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      await this.client.end();
    }
  }
}

export function openBackend(engine: SimEngine): Promise<SimBackend> {
  return engine.kind === 'sqlite' ? Promise.resolve(new SqliteBackend()) : PostgresBackend.open(engine.url);
}
