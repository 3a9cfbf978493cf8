/**
 * A PostgreSQL server of its own, started from the machine's binaries (`initdb`, `pg_ctl`) in a temporary directory
 * on a free loopback port, with trust authentication (only this machine can reach it) and durable commits (`fsync`,
 * `synchronous_commit` on): for `npm run cluster` and the tests. As root, PostgreSQL refuses to run, so it runs as
 * the `postgres` user. Stopped by its own `pg_ctl` (its postmaster.pid), never by process name.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/edgeswarm`: a database owned by a role that is not a superuser. */
  url: string;
  /** The superuser's URL, for tests that look behind the store. */
  adminUrl: string;
  port: number;
  dir: string;
  /** Stops at once (`immediate`: like a crash; the WAL replays at the next start). */
  crash(): void;
  start(): void;
  stop(): Promise<void>;
}

/** The newest PostgreSQL bin directory: $PG_BIN, or /usr/lib/postgresql/<version>/bin. */
export function postgresBinDir(): string | null {
  const fromEnv = process.env['PG_BIN'];
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

export async function startPostgres(options: { port?: number } = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed here (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql, or set PG_BIN)');
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-pg-'));
  const data = join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  let owner = { uid: userInfo().uid, gid: userInfo().gid };
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    owner = { uid, gid };
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const command = asRoot ? ['runuser', '-u', 'postgres', '--', join(bin, tool), ...args] : [join(bin, tool), ...args];
    return execFileSync(command[0] ?? tool, command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  };
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = options.port ?? (await freePort());
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `listen_addresses = '127.0.0.1'`,
      `port = ${port}`,
      `unix_socket_directories = '${dir}'`,
      'fsync = on',
      'synchronous_commit = on',
      'max_connections = 200',
      '',
    ].join('\n'),
  );
  chownSync(join(data, 'postgresql.conf'), owner.uid, owner.gid);
  const start = () => void run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  start();
  const psql = (sql: string) => run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  // The hub's role owns its database and nothing else (the contract: no superuser needed).
  psql('CREATE ROLE edgeswarm LOGIN');
  psql('CREATE DATABASE edgeswarm OWNER edgeswarm');
  let stopped = false;
  return {
    url: `postgres://edgeswarm@127.0.0.1:${port}/edgeswarm`,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/edgeswarm`,
    port,
    dir,
    crash: () => void run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
