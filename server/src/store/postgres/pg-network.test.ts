/** Hubs on one PostgreSQL database: names are unique among live hubs, a hub that stops beating is taken for dead, and it learns so when it beats again. */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseJobSpec } from '@edgeswarm/shared';
import { HubNameTakenError } from '../../network/hub-network.ts';
import { postgresForFile } from '../../../test/support/postgres-server.ts';
import { PostgresJobStore } from './postgres-job-store.ts';
import { HUB_STALE_MS, PostgresNetwork } from './pg-network.ts';
import { sharedAdminToken } from './pg-settings.ts';

const postgres = postgresForFile();

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function hub(url: string, name: string): Promise<{ store: PostgresJobStore; network: PostgresNetwork }> {
  const store = await PostgresJobStore.open(url, { max: 2, hub: name });
  open.push(store);
  return { store, network: new PostgresNetwork(store.session, name) };
}

const figures = { devices: 0, threads: 0, subtasksPerSecond: 0, completed: 0 };

describe('PostgresNetwork', () => {
  it('refuses a second live hub with the same name, and takes the name back once that hub is gone', async () => {
    const url = await postgres.fresh();
    const first = await hub(url, 'hub-a');
    await first.network.join();
    const twin = await hub(url, 'hub-a');
    const refused = await twin.network.join().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HubNameTakenError);
    expect((refused as HubNameTakenError).code).toBe('hub_name_taken');
    await first.network.leave(Date.now());
    await expect(twin.network.join()).resolves.toBeUndefined();
  });

  it('lets a hub restarted on the same machine take its name back at once when its previous process is gone', async () => {
    const url = await postgres.fresh();
    const first = await hub(url, 'hub-a');
    await first.network.join();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    open.push({ close: () => admin.end() });
    // The row says a process of this machine that no longer runs (a pid past the kernel's largest) holds the name.
    await admin.query('UPDATE hubs SET pid = $1 WHERE name = $2', [2 ** 22 + 1, 'hub-a']);
    const restarted = await hub(url, 'hub-a');
    await expect(restarted.network.join()).resolves.toBeUndefined();
    // Another machine's hub of that name, still beating, is not taken over.
    await admin.query('UPDATE hubs SET host = $1 WHERE name = $2', ['another-machine', 'hub-a']);
    await expect((await hub(url, 'hub-a')).network.join()).rejects.toBeInstanceOf(HubNameTakenError);
  });

  it('takes a hub that stopped beating for dead once: its devices go offline, its leases go back with a loss each, and it is told when it beats again', async () => {
    const url = await postgres.fresh();
    const a = await hub(url, 'hub-a');
    const b = await hub(url, 'hub-b');
    await a.network.join();
    await b.network.join();
    await a.store.registerDevice({ id: 'dev_1', kind: 'node', name: 'one', threads: 2, now: Date.now() });
    const parsed = parseJobSpec({ code: '(x) => x', inputs: { range: { start: 0, end: 10 } }, reduce: 'sum' });
    if (!parsed.ok) throw new Error(parsed.message);
    const job = await a.store.createJob(parsed.value, Date.now());
    const lease = await a.store.leaseWork({ deviceId: 'dev_1', connId: 'conn_1', max: 4, now: Date.now(), deadline: 1e15 });
    expect(lease?.items).toHaveLength(4);
    expect((await b.network.beat(figures)).deadHubs).toEqual([]);
    expect(await b.store.onlineDeviceCount()).toBe(1);

    // hub-a's last heartbeat is made older than the limit, as if it had been cut off from the database.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    open.push({ close: () => admin.end() });
    await admin.query('UPDATE hubs SET beat_at = beat_at - $1 WHERE name = $2', [HUB_STALE_MS + 1000, 'hub-a']);

    const taken = await b.network.beat(figures);
    expect(taken.deadHubs).toEqual(['hub-a']);
    expect((await b.network.beat(figures)).deadHubs).toEqual([]);
    expect(await b.store.onlineDeviceCount()).toBe(0);
    // hub-a's lease went back: its 4 inputs are queued again with one loss each, and nothing is leased.
    const after = await admin.query<{ queued: number; leased: number; losses: number; open: number }>(
      `SELECT j.queued::int, j.leased::int, (SELECT coalesce(sum(losses), 0)::int FROM subtasks s WHERE s.job_seq = j.seq) AS losses,
         (SELECT count(*)::int FROM leases l WHERE l.job_seq = j.seq AND l.open) AS open FROM jobs j WHERE j.id = $1`,
      [job.id],
    );
    expect(after.rows[0]).toEqual({ queued: 4, leased: 0, losses: 4, open: 0 });

    const back = await a.network.beat(figures);
    expect(back.declaredDead).toBe(true);
    expect((await a.network.beat(figures)).declaredDead).toBe(false);
    expect((await b.network.figures(figures)).hubs).toBe(2);
  });

  it('gives every hub of a database the admin token the first one generated, unless one is given', async () => {
    const url = await postgres.fresh();
    const a = await hub(url, 'hub-a');
    const b = await hub(url, 'hub-b');
    const generated = await sharedAdminToken(a.store.session, undefined);
    expect(generated).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(await sharedAdminToken(b.store.session, undefined)).toBe(generated);
    expect(await sharedAdminToken(b.store.session, 'given-token-0123456789')).toBe('given-token-0123456789');
    expect(await sharedAdminToken(a.store.session, undefined)).toBe(generated);
  });
});
