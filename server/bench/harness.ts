/** Shared helpers of the bench scenarios: figures, child processes (hub, echo server) on free ports, and /proc readings of their CPU time and RSS. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/hub-process.ts';

export interface Figure {
  median: number;
  min: number;
  max: number;
}

export function summarise(values: number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? NaN, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN };
}

export const SERVER_DIR = resolve(import.meta.dirname, '..');
export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';

let clockTicks = 0;
function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU time of a process (all its threads), in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 overall.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / ticksPerSecond();
}

/** Bytes of the files directly in `dir` (the database, its WAL and shared memory). */
export function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/** Resident set size of a process in KiB, from /proc/<pid>/status. */
export function rssKib(pid: number): number {
  return statusKib(pid, 'VmRSS');
}

/** Peak resident set size of a process so far in KiB (VmHWM). */
export function peakRssKib(pid: number): number {
  return statusKib(pid, 'VmHWM');
}

function statusKib(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}

export interface ServerProcess {
  url: string;
  pid: number;
  /** The hub's data directory (hubs only). */
  dataDir?: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Spawns `node --import tsx <script> ...args` in server/ and waits until its output contains `readyText`. */
export async function spawnServer(
  script: string,
  args: string[],
  readyText: string,
  url: string,
  cleanup: () => void,
  dataDir?: string,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: SERVER_DIR,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  };
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${script} did not start:\n${output}`)), 30_000);
    const onData = (d: Buffer): void => {
      if (output.length < 20_000) output += d.toString();
      if (output.includes(readyText)) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${script} exited with ${code}:\n${output}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  if (child.pid === undefined) throw new Error(`${script} has no pid`);
  return { url, pid: child.pid, child, stop, ...(dataDir === undefined ? {} : { dataDir }) };
}

/**
 * A hub as its own process on a free port of 127.0.0.1 with a temporary data dir, removed on stop (or on a PostgreSQL
 * database, with `databaseUrl`).
 * Every simulated device connects from 127.0.0.1, so the per-address connection cap is off.
 */
export async function startHub(options: { databaseUrl?: string; hubName?: string } = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeswarm-bench-hub-'));
  const database = options.databaseUrl === undefined ? [] : ['--database-url', options.databaseUrl];
  const name = options.hubName === undefined ? [] : ['--hub-name', options.hubName];
  return spawnServer(
    'src/main.ts',
    ['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--token', BENCH_TOKEN, '--max-connections-per-address', '0', ...database, ...name],
    'Dashboard:',
    `http://127.0.0.1:${port}`,
    () => rmSync(dataDir, { recursive: true, force: true }),
    dataDir,
  );
}

/** The minimal Socket.IO echo server of bench/echo-server.ts as its own process on a free port. */
export async function startEchoServer(): Promise<ServerProcess> {
  const port = await freePort();
  return spawnServer('bench/echo-server.ts', [String(port)], 'echo server listening', `http://127.0.0.1:${port}`, () => {});
}

/** A call of the hub's HTTP API with the bench token. */
export async function api<T>(hubUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(hubUrl + path, {
    method,
    headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? null : JSON.parse(text)) as T;
}

export { sleep };
