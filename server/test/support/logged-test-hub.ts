/**
 * A hub like startTestHub() (real SQLite file, 127.0.0.1, port 0) whose log lines are kept, so a
 * test can assert that the hub logged no failure (a handler that threw, a request that became a 500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHub } from '../../src/app.ts';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.ts';
import { systemClock } from '../../src/clock.ts';
import { TEST_TOKEN, type TestHub } from './test-hub.ts';

export interface HubLogEntry {
  message: string;
  err: unknown;
}

export interface LoggedTestHub extends TestHub {
  /** Every line the hub logged, in order. */
  readonly logs: HubLogEntry[];
}

export interface LoggedTestHubOptions {
  /** Socket.IO connections allowed from one address (the hub's --max-connections-per-address). */
  maxConnectionsPerAddress?: number;
}

export async function startLoggedTestHub(options: LoggedTestHubOptions = {}): Promise<LoggedTestHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeswarm-logged-'));
  const store = new SqliteJobStore(join(dataDir, 'edgeswarm.db'));
  const logs: HubLogEntry[] = [];
  const hub = createHub({
    store,
    clock: systemClock,
    adminToken: TEST_TOKEN,
    webRoot: join(dataDir, 'no-web'),
    retentionDays: 30,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
    sweepIntervalMs: 100,
    feedIntervalMs: 100,
    log: (message, err) => logs.push({ message, err }),
  });
  await new Promise<void>((ok) => hub.httpServer.listen(0, '127.0.0.1', () => ok()));
  const { port } = hub.httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    token: TEST_TOKEN,
    hub,
    store,
    dataDir,
    logs,
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
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
