/** The SQLite engine behind the asynchronous store contract: writes of the device path settle after their group commit, failures reject. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { sqliteStore, type JobStore } from './async-store.ts';

let dir: string;
let engine: SqliteJobStore;
let store: JobStore;
const NOW = Date.UTC(2026, 0, 1);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-async-'));
  engine = new SqliteJobStore(join(dir, 'edgeswarm.db'), { groupCommit: true });
  store = sqliteStore(engine);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function spec(body: Record<string, unknown>) {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

/** Whether the engine's group transaction is open (writes made, not yet committed). */
const uncommitted = () => engine.db.inTransaction;

describe('sqliteStore', () => {
  it('settles a lease only after the group commit that holds it, and one commit holds a whole turn of leases', async () => {
    await store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3, 4] }), NOW);
    const seenOpen: boolean[] = [];
    const first = store.leaseWork({ deviceId: 'a', connId: 'ca', max: 2, deadline: NOW + 1000, now: NOW });
    const second = store.leaseWork({ deviceId: 'b', connId: 'cb', max: 2, deadline: NOW + 1000, now: NOW });
    seenOpen.push(uncommitted());
    const [a, b] = await Promise.all([first, second]);
    seenOpen.push(uncommitted());
    expect(seenOpen).toEqual([true, false]);
    expect([a?.items.length, b?.items.length]).toEqual([2, 2]);
  });

  it('answers reads at once, without waiting for a commit', async () => {
    await store.createJob(spec({ code: '(x) => x', inputs: [1, 2] }), NOW);
    void store.leaseWork({ deviceId: 'a', connId: 'ca', max: 1, deadline: NOW + 1000, now: NOW });
    expect(await store.heldCount('ca')).toBe(1);
    expect(uncommitted()).toBe(true);
  });

  it('rejects with the engine error when a call fails', async () => {
    await expect(store.createJob(spec({ bundle: `sha256:${'ab'.repeat(32)}`, inputs: [1] }), NOW)).rejects.toThrow(/^bundle: the hub has no blob/);
  });
});
