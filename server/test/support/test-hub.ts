/** Starts a real hub for tests: SQLite in a temp dir, Socket.IO and HTTP on port 0. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHub, type Hub } from '../../src/app.ts';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { sqliteStore } from '../../src/store/async-store.ts';
import { systemClock, type Clock } from '../../src/clock.ts';

export interface TestHub {
  url: string;
  token: string;
  hub: Hub;
  store: SqliteJobStore;
  dataDir: string;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export interface TestHubOptions {
  clock?: Clock;
  leaseTtlMs?: number;
  sweepIntervalMs?: number;
  dataDir?: string;
  maxConnectionsPerAddress?: number;
  joinToken?: string;
  /** Where it listens; default 127.0.0.1 (its `url` is on 127.0.0.1 either way). */
  host?: string;
  allowedOrigins?: readonly string[] | '*';
  /** Receives the hub's log lines; default: dropped. */
  log?: (message: string, err?: unknown) => void;
}

export const TEST_TOKEN = 'test-admin-token-0123456789';

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'edgeswarm-test-'));
  const store = new SqliteJobStore(join(dataDir, 'edgeswarm.db'), { groupCommit: true });
  const hub = createHub({
    store: sqliteStore(store),
    clock: options.clock ?? systemClock,
    adminToken: TEST_TOKEN,
    webRoot: join(dataDir, 'no-web'),
    retentionDays: 30,
    leaseTtlMs: options.leaseTtlMs,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
    ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
    ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
    sweepIntervalMs: options.sweepIntervalMs ?? 100,
    feedIntervalMs: 100,
    log: options.log ?? (() => {}),
  });
  await hub.ready;
  await new Promise<void>((ok) => hub.httpServer.listen(0, options.host ?? '127.0.0.1', () => ok()));
  const { port } = hub.httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    token: TEST_TOKEN,
    hub,
    store,
    dataDir,
    async api<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(url + path, {
        method,
        headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    },
    async close() {
      await hub.close();
      await new Promise<void>((ok) => hub.httpServer.close(() => ok()));
      store.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
