/** Two hubs' stores on one PostgreSQL database recording results for the same inputs at the same time: each input counts once, and one of them reports the job done. */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import { postgresForFile } from '../../../test/support/postgres-server.ts';
import type { CheckedResult } from '../job-store.ts';
import { PostgresJobStore } from './postgres-job-store.ts';

const postgres = postgresForFile();
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

/** A fresh database with two hubs' stores on it, closed after the test. */
async function twoHubs(): Promise<{ url: string; a: PostgresJobStore; b: PostgresJobStore }> {
  const url = await postgres.fresh();
  const a = await PostgresJobStore.open(url, { max: 4, hub: 'hub-a' });
  open.push(a);
  const b = await PostgresJobStore.open(url, { max: 4, hub: 'hub-b' });
  open.push(b);
  return { url, a, b };
}

const N = 200;
const ok = (indexes: number[]): CheckedResult[] => indexes.map((index) => ({ index, ok: true, json: String(index), value: index }));

describe('results of one job through two hubs at once', () => {
  it('counts every input once when the device that lost a lease and the one that took it over report together', async () => {
    const { url, a, b } = await twoHubs();
    const now = Date.now();
    const job = await a.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: N } }, reduce: 'sum' }), now);
    await a.registerDevice({ id: 'dev_a', kind: 'node', name: 'a', threads: 64, now });
    await b.registerDevice({ id: 'dev_b', kind: 'node', name: 'b', threads: 64, now });

    const first = await a.leaseWork({ deviceId: 'dev_a', connId: 'conn_a', max: N, now, deadline: 1e12 });
    expect(first?.items).toHaveLength(N);
    // dev_a's connection drops: its inputs go back to the queue, and hub B leases them all to dev_b.
    await a.releaseConnectionLeases('conn_a', now);
    const second = await b.leaseWork({ deviceId: 'dev_b', connId: 'conn_b', max: N, now, deadline: 1e12 });
    expect(second?.items).toHaveLength(N);

    // Both report every input, each through its own hub, in the same instant (dev_a's results are late but valid).
    const indexes = Array.from({ length: N }, (_, i) => i);
    const [late, fresh] = await Promise.all([
      a.recordResults(first?.lease.id ?? '', 'dev_a', ok(indexes), now),
      b.recordResults(second?.lease.id ?? '', 'dev_b', ok(indexes), now),
    ]);
    expect(late.completed + fresh.completed).toBe(N);
    expect(late.dropped + fresh.dropped).toBe(N);
    expect([...late.jobsToFinalize, ...fresh.jobsToFinalize]).toEqual([job.id]);

    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    open.push({ close: () => probe.end() });
    const counts = await probe.query<{ completed: number; leased: number; queued: number; done: number }>(
      `SELECT j.completed::int, j.leased::int, j.queued::int, (SELECT count(*)::int FROM subtasks s WHERE s.job_seq = j.seq AND s.state = 'done') AS done
         FROM jobs j WHERE j.id = $1`,
      [job.id],
    );
    expect(counts.rows[0]).toEqual({ completed: N, leased: 0, queued: 0, done: N });
  });

  it('never leases one input twice when two hubs lease the same job at the same time', async () => {
    const { url, a, b } = await twoHubs();
    const now = Date.now();
    await a.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: N } }, reduce: 'sum' }), now);
    const devices = Array.from({ length: 20 }, (_, i) => ({ store: i % 2 === 0 ? a : b, id: `dev_${i}` }));
    for (const d of devices) await d.store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 4, now });
    // Every device asks for 7 inputs at once, 10 through each hub, twice: 280 asked for 200 inputs.
    const grants = await Promise.all(
      [...devices, ...devices].map((d, k) => d.store.leaseWork({ deviceId: d.id, connId: `conn_${d.id}_${k}`, max: 7, now, deadline: 1e15 })),
    );
    const leased = grants.flatMap((g) => g?.items.map((item) => item.index) ?? []);
    expect(leased).toHaveLength(N);
    expect(new Set(leased).size).toBe(N);
  });

  it('lets one hub aggregate a finished job: the one whose results finished it, or another once that one is gone a minute', async () => {
    const { url, a, b } = await twoHubs();
    const now = Date.now();
    const job = await a.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 10 } }, reduce: 'sum' }), now);
    await a.registerDevice({ id: 'dev_a', kind: 'node', name: 'a', threads: 4, now });
    const lease = await a.leaseWork({ deviceId: 'dev_a', connId: 'conn_a', max: 10, now, deadline: 1e15 });
    const outcome = await a.recordResults(lease?.lease.id ?? '', 'dev_a', ok(Array.from({ length: 10 }, (_, i) => i)), now);
    expect(outcome.jobsToFinalize).toEqual([job.id]);
    // Hub B's sweep leaves it to A; A's own sweep (a retry, or its next process) may take it again.
    expect(await b.jobsAwaitingFinalize()).toEqual([]);
    expect(await a.jobsAwaitingFinalize()).toEqual([job.id]);
    // A stops answering for a minute: B takes the job over.
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    open.push({ close: () => probe.end() });
    await probe.query('UPDATE jobs SET finalizer_since = finalizer_since - 61000 WHERE id = $1', [job.id]);
    expect(await b.jobsAwaitingFinalize()).toEqual([job.id]);
    expect(await a.jobsAwaitingFinalize()).toEqual([]);
  });
});
