/**
 * `npm run cluster -- --hubs N [--port 8080] [--host ADDR]`: a local network of several hubs to try out, and the setup
 * of the multi-hub end-to-end test. It starts a PostgreSQL server in a temporary directory (the machine's PostgreSQL
 * binaries), N hubs on it (each on a loopback port of its own), and HAProxy (the operating system's package) in front
 * of them on `--port`, with sticky sessions for Socket.IO's long-polling and health checks that take a dead hub out.
 * Prints each hub's name, port and process id; Ctrl-C (or SIGTERM) stops them all and removes the database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { freePort, postgresBinDir, startPostgres, type PostgresServer } from './local-postgres.ts';
import { lanAddresses } from '../hub/origin-policy.ts';

const USAGE = `Usage: npm run cluster -- --hubs N [--port 8080] [--host 0.0.0.0]
  --hubs N     hubs to start on one PostgreSQL database (1 to 16)
  --port P     where the load balancer listens (default 8080); the hubs listen on loopback ports of their own
  --host ADDR  the load balancer's address (default 0.0.0.0: phones on the network can join)`;

function fail(message: string): never {
  console.error(`edgeswarm cluster: ${message}\n${USAGE}`);
  process.exit(2);
}

function integer(text: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

/** HAProxy's binary: /usr/sbin/haproxy (Debian's package) or one on the PATH. */
function findHaproxy(): string | null {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(process.env['PATH'] ?? '').split(delimiter)];
  for (const dir of dirs) {
    const file = join(dir, 'haproxy');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** The load balancer's configuration: round robin, a cookie that keeps a browser on its hub, dead hubs taken out. */
export function haproxyConfig(host: string, port: number, hubs: readonly { name: string; port: number }[]): string {
  return [
    // No global maxconn: HAProxy derives it from the file descriptor limit it is given.
    'global',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    // WebSockets stay open for as long as the device does.
    '  timeout tunnel 1h',
    // A request pinned to a hub that is down goes to another one.
    '  option redispatch',
    '  retries 2',
    'frontend edgeswarm',
    `  bind ${host}:${port}`,
    '  default_backend hubs',
    'backend hubs',
    '  balance roundrobin',
    // Sticky sessions: Socket.IO's long-polling sends each request of one session to the hub that holds it.
    '  cookie ESHUB insert indirect nocache',
    '  option httpchk',
    '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost',
    '  default-server inter 1s fall 2 rise 2',
    ...hubs.map((h) => `  server ${h.name} 127.0.0.1:${h.port} check cookie ${h.name}`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  // Whoever started the cluster may have closed its end of our output before stopping us: the database and the
  // processes must still be stopped, so a write to a closed pipe is not fatal.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: { hubs: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } }, strict: true });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.hubs === undefined) fail('--hubs is required');
  const count = integer(values.hubs, '--hubs', 2, 1, 16);
  const port = integer(values.port, '--port', 8080, 1, 65535);
  const host = values.host ?? '0.0.0.0';
  if (!postgresBinDir()) fail('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql');
  const haproxy = findHaproxy();
  if (!haproxy) fail('HAProxy is not installed: apt-get install haproxy');

  const children: ChildProcess[] = [];
  let pg: PostgresServer | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-cluster-'));
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((ok) => c.once('exit', ok)) : null)));
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
    console.log('cluster stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  console.log('Starting PostgreSQL…');
  pg = await startPostgres();
  console.log(`PostgreSQL: ${pg.url} (in ${pg.dir}, removed on exit)`);
  const token = randomBytes(24).toString('base64url');
  const lbHosts = host === '0.0.0.0' || host === '::' ? ['localhost', '127.0.0.1', ...lanAddresses()] : [host];
  const origins = lbHosts.map((h) => `http://${h}:${port}`).join(',');
  const serverDir = resolve(import.meta.dirname, '../..');
  const hubs: { name: string; port: number }[] = [];
  for (let i = 1; i <= count; i++) hubs.push({ name: `hub${i}`, port: await freePort() });
  await Promise.all(
    hubs.map(
      (hub) =>
        new Promise<void>((ready, failed) => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', 'src/main.ts', '--port', String(hub.port), '--host', '127.0.0.1', '--database-url', pg?.url ?? '', '--hub-name', hub.name, '--token', token, '--allowed-origins', origins,
              // Behind the load balancer every device comes from its address: no per-address cap.
              '--max-connections-per-address', '0'],
            { cwd: serverDir, stdio: ['ignore', 'pipe', 'pipe'] },
          );
          children.push(child);
          let output = '';
          const prefix = (chunk: Buffer) =>
            chunk
              .toString()
              .split('\n')
              .filter((line) => line !== '')
              .map((line) => `[${hub.name}] ${line}`)
              .join('\n');
          let started = false;
          child.stdout?.on('data', (chunk: Buffer) => {
            if (started) {
              console.log(prefix(chunk));
              return;
            }
            output += chunk.toString();
            if (output.includes('Dashboard:')) {
              started = true;
              ready();
            }
          });
          child.stderr?.on('data', (chunk: Buffer) => console.error(prefix(chunk)));
          child.once('exit', (code, signal) => {
            if (!output.includes('Dashboard:')) failed(new Error(`${hub.name} did not start (${code ?? signal}):\n${output}`));
            else if (!stopping) console.log(`${hub.name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); the others carry on`);
          });
          console.log(`${hub.name}: pid ${child.pid} on 127.0.0.1:${hub.port}`);
        }),
    ),
  ).catch(async (err: unknown) => {
    console.error((err as Error).message);
    await stop(1);
  });

  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(host, port, hubs));
  const lb = spawn(haproxy, ['-W', '-db', '-f', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(lb);
  lb.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`HAProxy exited (${signal ?? `code ${code}`}); stopping the cluster`);
    void stop(1);
  });
  console.log(`HAProxy: pid ${lb.pid} on ${host}:${port}, in front of ${hubs.map((h) => h.name).join(', ')}`);
  for (const h of lbHosts) {
    console.log(`Volunteer page: http://${h}:${port}/`);
    console.log(`Dashboard:      http://${h}:${port}/dashboard#token=${token}`);
  }
  console.log('Cluster ready. Ctrl-C stops it.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
