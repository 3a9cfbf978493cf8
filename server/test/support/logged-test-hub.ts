/**
 * A hub like startTestHub() (real SQLite file, 127.0.0.1, port 0) whose log lines are kept, so a
 * test can assert that the hub logged no failure (a handler that threw, a request that became a 500).
 */
import { startTestHub, type TestHub } from './test-hub.ts';

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
  const logs: HubLogEntry[] = [];
  const hub = await startTestHub({ ...options, log: (message, err) => logs.push({ message, err }) });
  return Object.assign(hub, { logs });
}
