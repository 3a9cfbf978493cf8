/**
 * Scale benchmark helpers: one SQLite hub, one PostgreSQL hub or two PostgreSQL hubs on one database (a server of
 * its own in a temporary directory), and what PostgreSQL spent meanwhile: the CPU time of its processes (read from
 * /proc), its commits and its WAL flushes (pg_stat_database, pg_stat_wal).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../src/cluster/local-postgres.ts';
import { BENCH_TOKEN, cpuMicros, startHub, type ServerProcess } from './harness.ts';

export interface ScaleSetup {
  name: string;
  hubs: ServerProcess[];
  /** What PostgreSQL has spent so far (zeros for the SQLite hub). */
  database(): Promise<DatabaseSpend>;
  stop(): Promise<void>;
}

export interface DatabaseSpend {
  cpuMicros: number;
  /** Transactions committed (reads included: every statement outside a transaction is one). */
  commits: number;
  /** WAL flushes to disk (fsync): what a durable commit costs; several commits may share one. */
  walSyncs: number;
}

const CLOCK_TICKS = 100;

/** CPU time (user + system) of the postmaster and every process it started, in microseconds. */
export function postgresCpuMicros(server: PostgresServer): number {
  const postmaster = Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    const ppid = Number(fields[1]);
    if (pid !== postmaster && ppid !== postmaster) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
    // Children that exited and were reaped count in the postmaster's cutime and cstime.
    if (pid === postmaster) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}

async function spend(server: PostgresServer, url: string): Promise<DatabaseSpend> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const commits = (await client.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0]?.n;
    const syncs = (await client.query<{ n: string }>('SELECT wal_sync AS n FROM pg_stat_wal')).rows[0]?.n;
    return { cpuMicros: postgresCpuMicros(server), commits: Number(commits), walSyncs: Number(syncs) };
  } finally {
    await client.end();
  }
}

export async function sqliteSetup(): Promise<ScaleSetup> {
  const hub = await startHub();
  return {
    name: '1 SQLite hub',
    hubs: [hub],
    database: async () => ({ cpuMicros: 0, commits: 0, walSyncs: 0 }),
    stop: () => hub.stop(),
  };
}

export async function postgresSetup(count: number): Promise<ScaleSetup> {
  const server = await startPostgres();
  const hubs: ServerProcess[] = [];
  try {
    for (let i = 1; i <= count; i++) hubs.push(await startHub({ databaseUrl: server.url, hubName: `hub${i}` }));
  } catch (err) {
    await Promise.all(hubs.map((h) => h.stop()));
    await server.stop();
    throw err;
  }
  return {
    name: `${count} PostgreSQL hub${count === 1 ? '' : 's'}`,
    hubs,
    database: () => spend(server, server.url),
    stop: async () => {
      await Promise.all(hubs.map((h) => h.stop()));
      await server.stop();
    },
  };
}

/** CPU microseconds the hubs of a setup have used so far. */
export function hubsCpuMicros(setup: ScaleSetup): number {
  return setup.hubs.reduce((sum, h) => sum + cpuMicros(h.pid), 0);
}

/** What the hubs of a setup have done so far, from their /metrics: device calls, their commits, subtasks completed. */
export interface HubCounts {
  /** Device calls (leases, results, renewals, connections) made durable. */
  calls: number;
  /** Write transactions (group commits) of the hubs. */
  commits: number;
  completed: number;
}

export async function hubCounts(setup: ScaleSetup): Promise<HubCounts> {
  const total: HubCounts = { calls: 0, commits: 0, completed: 0 };
  for (const hub of setup.hubs) {
    const res = await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${BENCH_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (!res.ok) throw new Error(`/metrics: ${res.status} ${text}`);
    const value = (name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      if (!line) throw new Error(`/metrics has no ${name}`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    total.calls += value('edgeswarm_store_commit_calls_sum');
    total.commits += value('edgeswarm_store_commit_calls_count');
    total.completed += value('edgeswarm_subtasks_completed_total');
  }
  return total;
}
