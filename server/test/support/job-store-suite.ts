/**
 * The conformance suite of the store contract (`JobStore`): one set of cases that every engine runs (the Hono
 * pattern: one interface, many implementations, one suite). An engine's test file calls `runJobStoreSuite` with a
 * way to open an empty store and a probe that counts rows behind the contract (the engines share table names).
 * Cases that an engine cannot run yet are listed in `skip` with the reason, which the suite prints.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import type { JobStore } from '../../src/store/async-store.ts';
import { BlobQuotaError, MissingBlobError, type ActiveLease } from '../../src/store/job-store.ts';

/** What the suite may look at behind the contract. */
export interface StoreProbe {
  /** Rows of a table. */
  rows(table: string): Promise<number>;
  /** Sets when an owner's claim on a blob was last touched (to age it). */
  touchClaim(owner: string, at: number): Promise<void>;
}

export interface OpenedStore {
  store: JobStore;
  probe: StoreProbe;
  close(): Promise<void>;
}

export interface SuiteEngine {
  name: string;
  /** An empty store of this engine. */
  open(): Promise<OpenedStore>;
  /** Sections this engine does not run yet, each with its reason. */
  skip?: Partial<Record<SuiteSection, string>>;
}

export type SuiteSection = 'blobs' | 'jobs' | 'work';

const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bundleBytes = new TextEncoder().encode('module.exports = { default: (x) => x };');
const tableBytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

export function runJobStoreSuite(engine: SuiteEngine): void {
  describe(`JobStore on ${engine.name}`, () => {
    let opened: OpenedStore;
    let store: JobStore;
    let probe: StoreProbe;
    beforeEach(async () => {
      opened = await engine.open();
      store = opened.store;
      probe = opened.probe;
    });
    afterEach(async () => {
      await opened.close();
    });

    /** Stores `bytes` in chunks of `chunk` bytes for `owner`, as the HTTP route does (aborting when finishing fails). */
    async function upload(bytes: Uint8Array, owner: string | null, options: { quota?: number | null; chunk?: number; at?: number } = {}) {
      const { quota = null, chunk = 4, at = NOW } = options;
      const handle = await store.beginBlob(at);
      for (let i = 0; i * chunk < bytes.length; i++) await store.appendBlobChunk(handle, i, bytes.subarray(i * chunk, (i + 1) * chunk));
      try {
        return await store.finishBlob(handle, sha(bytes), owner, at, quota);
      } catch (err) {
        await store.abortBlob(handle);
        throw err;
      }
    }

    const section = (name: SuiteSection, body: () => void) => {
      const reason = engine.skip?.[name];
      if (reason) describe.skip(`${name} (skipped: ${reason})`, body);
      else describe(name, body);
    };

    section('blobs', () => {
      it('keeps the bytes in chunks and gives each back by index', async () => {
        expect(await upload(tableBytes, 'alice')).toEqual({ created: true, size: 10 });
        const hex = sha(tableBytes);
        const chunks = await Promise.all([0, 1, 2].map((i) => store.readBlobChunk(hex, i)));
        expect(chunks.map((c) => [...(c ?? [])])).toEqual([
          [1, 2, 3, 4],
          [5, 6, 7, 8],
          [9, 10],
        ]);
        expect(await store.readBlobChunk(hex, 3)).toBeNull();
        expect(await store.readBlobChunk('00'.repeat(32), 0)).toBeNull();
        expect(await store.blobStored(hex)).toBe(10);
      });

      it('shows a submitter only the blobs it uploaded, and the admin every blob', async () => {
        await upload(tableBytes, 'alice');
        const hex = sha(tableBytes);
        expect(await store.blobSize(hex, 'alice', NOW)).toBe(10);
        expect(await store.blobSize(hex, 'bob', NOW)).toBeNull();
        expect(await store.blobSize(hex, null, NOW)).toBe(10);
        expect(await store.blobSize('00'.repeat(32), null, NOW)).toBeNull();
      });

      it('stores the same bytes once when two owners upload them, and claims them for both', async () => {
        await upload(tableBytes, 'alice');
        expect(await upload(tableBytes, 'bob')).toEqual({ created: false, size: 10 });
        expect(await probe.rows('blobs')).toBe(1);
        expect(await probe.rows('blob_chunks')).toBe(3);
        expect(await store.blobSize(sha(tableBytes), 'bob', NOW)).toBe(10);
        expect(await store.claimBlob(sha(tableBytes), 'carol', NOW, null)).toEqual({ created: false, size: 10 });
        expect(await store.claimBlob('00'.repeat(32), 'carol', NOW, null)).toBeNull();
      });

      it('refuses a claim past the owner quota (the upload is then aborted), counting a blob it already has once', async () => {
        await upload(tableBytes, 'alice', { quota: 16 });
        expect(await store.claimedBlobBytes('alice')).toBe(10);
        await expect(upload(bundleBytes, 'alice', { quota: 16 })).rejects.toBeInstanceOf(BlobQuotaError);
        expect(await store.blobSize(sha(bundleBytes), 'alice', NOW)).toBeNull();
        expect(await probe.rows('blobs')).toBe(1);
        expect(await probe.rows('blob_chunks')).toBe(3);
        expect(await upload(tableBytes, 'alice', { quota: 10 })).toEqual({ created: false, size: 10 });
        expect(await store.claimedBlobBytes('alice')).toBe(10);
        await expect(store.claimBlob(sha(tableBytes), 'bob', NOW, 9)).rejects.toThrow(/at most 9 bytes of blobs; it keeps 0 and this blob is 10 more/);
      });

      it('refuses a job that names a blob its submitter does not have, naming the field and the reference', async () => {
        await upload(tableBytes, 'alice');
        const hex = sha(tableBytes);
        const job = spec({ code: '(x) => x', inputs: [1], shared: { table: `sha256:${hex}` } });
        const refused = await store.createJob(job, NOW, 'bob').catch((err: unknown) => err);
        expect(refused).toBeInstanceOf(MissingBlobError);
        expect((refused as Error).message).toContain(`shared.table: the hub has no blob sha256:${hex}`);
        expect(await probe.rows('jobs')).toBe(0);
        expect((await store.createJob(job, NOW, 'alice')).shared).toEqual([{ name: 'table', blob: `sha256:${hex}`, as: 'bytes', size: 10 }]);
        await expect(store.createJob(spec({ bundle: `sha256:${'ab'.repeat(32)}`, inputs: [1] }), NOW, null)).rejects.toThrow(/^bundle: the hub has no blob/);
      });

      it('shows the bundle and shared files on the job', async () => {
        await upload(bundleBytes, null);
        await upload(tableBytes, null);
        const created = await store.createJob(
          spec({ bundle: `sha256:${sha(bundleBytes)}`, inputs: [1, 2], shared: { t: { blob: `sha256:${sha(tableBytes)}`, as: 'json' } } }),
          NOW,
        );
        expect(created.bundle).toEqual({ blob: `sha256:${sha(bundleBytes)}`, size: bundleBytes.length });
        expect((await store.getJob(created.id))?.shared).toEqual([{ name: 't', blob: `sha256:${sha(tableBytes)}`, as: 'json', size: 10 }]);
      });

      it('keeps a blob while a job refers to it and removes it once no job does and its claim is old', async () => {
        await upload(tableBytes, 'alice');
        const hex = sha(tableBytes);
        const job = await store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${hex}` } }), NOW, 'alice');
        const later = NOW + 48 * HOUR;
        expect(await store.purgeBlobs(later - HOUR, later, 100)).toEqual({ claims: 0, rows: 0 });
        expect(await store.blobSize(hex, 'alice', later)).toBe(10);
        expect(await store.deleteJob(job.id)).toBe(true);
        // The claim was touched just now (blobSize): kept for the grace period, then dropped.
        expect(await store.purgeBlobs(later - HOUR, later, 100)).toEqual({ claims: 0, rows: 0 });
        const much = later + 2 * HOUR;
        expect(await store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 1, rows: 2 });
        expect(await store.claimedBlobBytes('alice')).toBe(0);
        expect(await store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 0, rows: 2 });
        expect(await probe.rows('blob_chunks')).toBe(0);
        expect(await probe.rows('blobs')).toBe(0);
        expect(await store.purgeBlobs(much - HOUR, much, 2)).toEqual({ claims: 0, rows: 0 });
      });

      it('stores bytes sent again while their old copy is being removed, whole (the old copy loses its name first)', async () => {
        await upload(tableBytes, 'alice');
        const hex = sha(tableBytes);
        const later = NOW + 2 * HOUR;
        expect(await store.purgeBlobs(later - HOUR, later, 1)).toEqual({ claims: 1, rows: 1 });
        expect(await store.blobSize(hex, null, later)).toBeNull();
        expect(await upload(tableBytes, 'alice', { at: later })).toEqual({ created: true, size: 10 });
        while ((await store.purgeBlobs(later - HOUR, later, 1)).rows > 0);
        expect((await Promise.all([0, 1, 2].map((i) => store.readBlobChunk(hex, i)))).map((c) => c?.length)).toEqual([4, 4, 2]);
        expect(await store.blobSize(hex, 'alice', later)).toBe(10);
      });

      it('keeps bytes another owner still claims when one owner lets go', async () => {
        await upload(tableBytes, 'alice');
        await upload(tableBytes, 'bob');
        await probe.touchClaim('alice', NOW - 5 * HOUR);
        expect(await store.purgeBlobs(NOW - HOUR, NOW, 100)).toEqual({ claims: 1, rows: 0 });
        expect(await store.blobSize(sha(tableBytes), 'bob', NOW)).toBe(10);
        expect(await probe.rows('blob_chunks')).toBe(3);
      });

      it('removes the bytes of an upload that never finished, and lets an upload be aborted', async () => {
        const stale = await store.beginBlob(NOW);
        await store.appendBlobChunk(stale, 0, tableBytes);
        const aborted = await store.beginBlob(NOW);
        await store.appendBlobChunk(aborted, 0, tableBytes);
        await store.abortBlob(aborted);
        expect(await probe.rows('blobs')).toBe(1);
        expect(await store.purgeBlobs(NOW, NOW + 60_000, 100)).toEqual({ claims: 0, rows: 0 });
        expect(await store.purgeBlobs(NOW, NOW + 2 * HOUR, 100)).toEqual({ claims: 0, rows: 2 });
        expect(await probe.rows('blobs')).toBe(0);
        await expect(store.appendBlobChunk(stale, 1, tableBytes)).rejects.toThrow(/no blob upload/);
      });

      it('purges the references of a deleted job with its other rows', async () => {
        await upload(tableBytes, null);
        const job = await store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${sha(tableBytes)}` } }), NOW);
        expect(await probe.rows('job_blobs')).toBe(1);
        await store.deleteJob(job.id);
        while ((await store.purgeStep(1000)) > 0);
        expect(await probe.rows('job_blobs')).toBe(0);
      });
    });

    section('jobs', () => {
      it('lists jobs newest first with a total, and only an owner’s own when asked', async () => {
        const ids: string[] = [];
        for (const n of [1, 2, 3]) ids.push((await store.createJob(spec({ name: `j${n}`, code: '(x) => x', inputs: [n] }), NOW + n, n === 2 ? 'alice' : null)).id);
        const page = await store.listJobs(0, 2);
        expect(page.total).toBe(3);
        expect(page.items.map((j) => j.id)).toEqual([ids[2], ids[1]]);
        const mine = await store.listJobs(0, 10, 'alice');
        expect(mine.total).toBe(1);
        expect(mine.items.map((j) => [j.id, j.owner])).toEqual([[ids[1], 'alice']]);
        expect(await store.jobCountsByStatus()).toEqual({ queued: 3 });
      });

      it('gives a job back as it was submitted, with its defaults', async () => {
        const created = await store.createJob(
          spec({ name: 'squares', code: '(n) => n * n', inputs: { range: { start: 0, end: 10 } }, reduce: 'sum', priority: 2, meta: { view: 'x' } }),
          NOW,
        );
        expect(await store.getJob(created.id)).toEqual(created);
        expect(created).toMatchObject({
          name: 'squares',
          status: 'queued',
          progress: { total: 10, completed: 0, failed: 0 },
          reduce: 'sum',
          priority: 2,
          meta: { view: 'x' },
          verify: 'none',
          replication: 1,
          owner: null,
          createdAt: new Date(NOW).toISOString(),
          startedAt: null,
          finishedAt: null,
        });
        expect(await store.getJob('job_nope')).toBeNull();
      });

      it('cancels a running job once, and says when a job has already finished or is unknown', async () => {
        const job = await store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
        expect(await store.cancelJob(job.id, NOW + 5)).toBe('cancelled');
        expect(await store.getJob(job.id)).toMatchObject({ status: 'cancelled', finishedAt: new Date(NOW + 5).toISOString() });
        expect(await store.cancelJob(job.id, NOW + 6)).toBe('already_finished');
        expect(await store.cancelJob('job_nope', NOW)).toBe('not_found');
      });

      it('purges finished jobs older than the retention cutoff and keeps running ones', async () => {
        const old = await store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
        const running = await store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
        await store.cancelJob(old.id, NOW);
        expect(await store.purgeFinishedBefore(NOW + 1)).toBe(1);
        expect(await store.getJob(old.id)).toBeNull();
        expect(await store.getJob(running.id)).not.toBeNull();
      });

      it('hides a deleted job at once and removes its rows in bounded steps', async () => {
        const values = Array.from({ length: 3000 }, (_, i) => i);
        const job = await store.createJob(spec({ code: '(x) => x', inputs: values }), NOW);
        expect(await store.deleteJob(job.id)).toBe(true);
        expect(await store.getJob(job.id)).toBeNull();
        expect((await store.listJobs(0, 10)).total).toBe(0);
        const steps: number[] = [];
        for (let n = await store.purgeStep(2); n > 0; n = await store.purgeStep(2)) steps.push(n);
        expect(Math.max(...steps)).toBeLessThanOrEqual(2);
        expect((await probe.rows('input_chunks')) + (await probe.rows('jobs'))).toBe(0);
        expect(await store.deleteJob(job.id)).toBe(false);
      });

      it('keeps submitters, their limits and what they submitted, and never reuses a name', async () => {
        const limits = { maxRunning: 2, maxInputs: 100, perMinute: 5, maxBlobBytes: 1000 };
        expect(await store.createSubmitter('alice', 'hash-a', limits, NOW)).toBe(true);
        expect(await store.createSubmitter('alice', 'hash-b', limits, NOW)).toBe(false);
        expect(await store.findSubmitter('hash-a')).toEqual({ name: 'alice', limits, createdAt: NOW, revokedAt: null });
        await store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW + 10, 'alice');
        await store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW + 20, 'alice');
        expect(await store.submitterActivity('alice', NOW + 15)).toEqual({ active: 2, recent: [NOW + 20] });
        expect(await store.revokeSubmitter('alice', NOW + 30)).toBe(true);
        expect(await store.findSubmitter('hash-a')).toBeNull();
        expect(await store.revokeSubmitter('alice', NOW + 31)).toBe(false);
        expect((await store.listSubmitters()).map((s) => [s.name, s.revokedAt])).toEqual([['alice', NOW + 30]]);
      });

      it('keeps devices, their presence and whether they are online', async () => {
        await store.registerDevice({ id: 'dev-a', kind: 'browser', name: 'Chrome', threads: 2, now: NOW, address: '10.0.0.1' });
        await store.registerDevice({ id: 'dev-b', kind: 'node', name: 'box', threads: 8, now: NOW + 1 });
        expect(await store.onlineDeviceCount()).toBe(2);
        await store.devicesSeen([{ id: 'dev-a', state: 'working', threads: 3, now: NOW + 100 }]);
        const page = await store.listDevices(0, 10);
        expect(page.total).toBe(2);
        expect(page.items.find((d) => d.id === 'dev-a')).toMatchObject({ kind: 'browser', name: 'Chrome', threads: 3, state: 'working', quarantined: false, lastSeenAt: new Date(NOW + 100).toISOString() });
        await store.deviceOffline('dev-b', NOW + 200);
        expect(await store.onlineDeviceCount()).toBe(1);
        await store.markAllDevicesOffline();
        expect(await store.onlineDeviceCount()).toBe(0);
        expect(await store.isQuarantined('dev-a')).toBe(false);
        expect(await store.releaseQuarantine('dev-a')).toBe(false);
      });
    });

    section('work', () => {
      const lease = (max: number, connId = 'c1', deviceId = 'dev') => store.leaseWork({ deviceId, connId, max, deadline: NOW + 1000, now: NOW });

      it('stores a range as its bounds and an array once, handing out the right inputs', async () => {
        await store.createJob(spec({ code: '(n) => n', inputs: { range: { start: 5, end: 20_000_005, step: 2 } } }), NOW);
        const grant = await lease(3);
        expect(grant?.items).toEqual([
          { index: 0, input: 5 },
          { index: 1, input: 7 },
          { index: 2, input: 9 },
        ]);
        expect(await probe.rows('subtasks')).toBe(3);
        expect(await store.workCounts()).toEqual({ completed: 0, queued: 9_999_997, running: 3 });
        const values = Array.from({ length: 2500 }, (_, i) => ({ i }));
        const job = await store.createJob(spec({ code: '(x) => x', inputs: values, priority: 10 }), NOW);
        let last = null;
        for (let i = 0; i < 30; i++) {
          const g = await lease(256, 'c2');
          if (g?.lease.jobId === job.id) last = g;
        }
        expect(last?.items.at(-1)).toEqual({ index: 2499, input: { i: 2499 } });
      });

      it('cuts a lease to what the connection may still hold, and grants none to a full one', async () => {
        await store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100 } } }), NOW);
        const ask = (max: number) => store.leaseWork({ deviceId: 'd', connId: 'c', max, deadline: NOW + 1000, now: NOW, maxHeld: 10 });
        expect((await ask(6))?.items).toHaveLength(6);
        expect((await ask(6))?.items).toHaveLength(4);
        expect(await ask(6)).toBeNull();
        const both = await Promise.all([store.leaseWork({ deviceId: 'e', connId: 'e', max: 6, deadline: NOW + 1000, now: NOW, maxHeld: 8 }), store.leaseWork({ deviceId: 'e', connId: 'e', max: 6, deadline: NOW + 1000, now: NOW, maxHeld: 8 })]);
        expect(both.map((g) => g?.items.length ?? 0)).toEqual([6, 2]);
        expect(await store.heldCount('e')).toBe(8);
      });

      it('grants the leases of many devices asked in one turn as it grants them one by one: fair shares, no input twice, slow start', async () => {
        const a = await store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 30 } } }), NOW);
        const b = await store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 30 } } }), NOW);
        const ask = (d: number, max = 4, slowStart = false) =>
          store.leaseWork({ deviceId: `d${d}`, connId: `c${d}`, max, deadline: NOW + 1000, now: NOW, slowStart });
        // Slow start: no success yet, so one input per connection and job, and nothing more for a connection holding one.
        const first = await Promise.all([ask(0, 4, true), ask(1, 4, true), ask(0, 4, true)]);
        expect(first.map((g) => g?.items.length ?? 0)).toEqual([1, 1, 1]);
        expect(new Set(first.map((g) => g?.lease.jobId)).size).toBe(2); // the turns alternate between the jobs
        const [g0] = first;
        await store.recordResults(g0?.lease.id ?? '', 'd0', [{ index: g0?.items[0]?.index ?? 0, ok: true, json: '0', value: 0 }], NOW);
        // Without slow start, many at once: every input of both jobs handed out once, shared fairly.
        const grants = await Promise.all(Array.from({ length: 16 }, (_, i) => ask(10 + i, 4)));
        const taken = grants.flatMap((g) => (g ? g.items.map((it) => `${g.lease.jobId}:${it.index}`) : []));
        expect(new Set(taken).size).toBe(taken.length);
        const perJob = (id: string) => taken.filter((t) => t.startsWith(`${id}:`)).length;
        expect(perJob(a.id) + perJob(b.id)).toBe(57); // 60 inputs, 3 held by the slow starters
        expect(Math.abs(perJob(a.id) - perJob(b.id))).toBeLessThanOrEqual(5);
        expect(grants.filter((g) => g === null)).toHaveLength(1); // the last one found nothing left
        expect(await store.workCounts()).toEqual({ completed: 1, queued: 0, running: 59 });
        // Work that goes back to the queue is handed out again first, and only once.
        await store.releaseConnectionLeases('c10', NOW);
        await store.releaseConnectionLeases('c11', NOW);
        const again = await Promise.all([ask(40, 8), ask(41, 8)]);
        const back = again.flatMap((g) => g?.items.map((it) => it.index) ?? []);
        expect(back).toHaveLength(8);
        expect(new Set(again.flatMap((g) => g?.items.map((it) => `${g.lease.jobId}:${it.index}`) ?? [])).size).toBe(8);
      });

      it('records the results of many leases made durable together as it records them one by one', async () => {
        const job = await store.createJob(spec({ code: '(x) => x', inputs: Array.from({ length: 20 }, (_, i) => i), maxAttempts: 2 }), NOW);
        const grants: ActiveLease[] = [];
        for (let d = 0; d < 4; d++) grants.push((await store.leaseWork({ deviceId: `d${d}`, connId: `c${d}`, max: 5, deadline: NOW + 1000, now: NOW }))!);
        const other = await store.createJob(spec({ code: '(x) => x', inputs: [100, 101] }), NOW);
        const otherGrant = (await store.leaseWork({ deviceId: 'd9', connId: 'c9', max: 5, deadline: NOW + 1000, now: NOW }))!;
        expect(grants.map((g) => g.lease.jobId)).toEqual([job.id, job.id, job.id, job.id]);
        expect(otherGrant.lease.jobId).toBe(other.id);
        const ok = (index: number, value: number) => ({ index, ok: true as const, json: String(value), value });
        const results = (g: ActiveLease) => g.items.map((it) => ok(it.index, (it.input as number) * 10));
        const [g0, g1, g2, g3] = grants as [ActiveLease, ActiveLease, ActiveLease, ActiveLease];
        // All in one turn: one batch on engines that group commits.
        const outcomes = await Promise.all([
          store.recordResults(g0.lease.id, 'd0', results(g0), NOW),
          store.recordResults(g0.lease.id, 'd0', results(g0), NOW), // the same batch again: nothing counts twice
          store.recordResults(g1.lease.id, 'd1', [...results(g1), ok(19, 0)], NOW), // 19 is not d1's
          store.recordResults(g2.lease.id, 'someone else', results(g2), NOW), // not this device's lease
          store.recordResults(g3.lease.id, 'd3', [{ index: g3.items[0]?.index ?? 0, ok: false, code: 'work_error', message: 'boom' }, ...results(g3).slice(1)], NOW),
          store.recordResults(otherGrant.lease.id, 'd9', results(otherGrant), NOW),
        ]);
        expect(outcomes.map((o) => [o.accepted, o.completed, o.dropped, o.rejected, o.requeued])).toEqual([
          [5, 5, 0, 0, 0],
          [0, 0, 5, 0, 0],
          [5, 5, 0, 1, 0],
          [0, 0, 0, 5, 0],
          [5, 4, 0, 0, 1],
          [2, 2, 0, 0, 0],
        ]);
        expect(outcomes[5]?.jobsToFinalize).toEqual([other.id]);
        expect((await store.getJob(job.id))?.progress).toEqual({ total: 20, completed: 14, failed: 0 });
        const page = await store.getResults(job.id, 0, 20);
        expect(page?.missing).toEqual([...g2.items.map((it) => it.index), g3.items[0]?.index].sort((a, b) => (a ?? 0) - (b ?? 0)));
        expect(await store.workCounts()).toEqual({ completed: 16, queued: 1, running: 5 });
        // The input whose run failed is queued again, with its attempt counted.
        const again = await store.leaseWork({ deviceId: 'd1', connId: 'c1', max: 5, deadline: NOW + 1000, now: NOW });
        expect(again?.items.map((it) => it.index)).toEqual([g3.items[0]?.index]);
        const last = await store.recordResults(again?.lease.id ?? '', 'd1', [{ index: g3.items[0]?.index ?? 0, ok: false, code: 'work_error', message: 'boom' }], NOW);
        expect(last.jobsFailed).toEqual([job.id]);
      });

      it('pages results with null slots and their positions listed as missing', async () => {
        const job = await store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3, 4] }), NOW);
        const grant = (await lease(4))!;
        await store.recordResults(grant.lease.id, 'dev', [
          { index: 1, ok: true, json: '"b"', value: 'b' },
          { index: 3, ok: true, json: '"d"', value: 'd' },
        ], NOW);
        expect(await store.getResults(job.id, 0, 10)).toEqual({ total: 4, offset: 0, results: [null, 'b', null, 'd'], missing: [0, 2] });
        expect(await store.getResults(job.id, 2, 2)).toEqual({ total: 4, offset: 2, results: [null, 'd'], missing: [0] });
        expect(await store.getResults(job.id, 10, 5)).toEqual({ total: 4, offset: 10, results: [], missing: [] });
      });

      it('lets a connection read a blob only while it holds an open lease of a job that refers to it', async () => {
        await upload(tableBytes, null);
        await upload(bundleBytes, null);
        const hex = sha(tableBytes);
        const job = await store.createJob(spec({ code: '(x) => x', inputs: [1], shared: { t: `sha256:${hex}` } }), NOW);
        await store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3] }), NOW);
        expect(await store.leasedBlobSize('c1', hex)).toBeNull();
        const grant = await lease(1);
        expect(grant?.lease.jobId).toBe(job.id);
        expect(grant?.shared).toEqual([{ name: 't', blob: hex, as: 'bytes', size: 10 }]);
        expect(await store.leasedBlobSize('c1', hex)).toBe(10);
        expect(await store.leasedBlobSize('c2', hex)).toBeNull();
        expect(await store.leasedBlobSize('c1', sha(bundleBytes))).toBeNull();
        await store.releaseConnectionLeases('c1', NOW);
        expect(await store.leasedBlobSize('c1', hex)).toBeNull();
      });

      it('shares leases among running jobs in turn, by priority weight, without starving any', async () => {
        const make = async (name: string, priority: number) =>
          (await store.createJob(spec({ name, code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } }, priority }), NOW)).id;
        const [a, b, hi, lo] = [await make('a', 0), await make('b', 0), await make('hi', 4), await make('lo', -10)];
        const got = new Map<string, number>();
        for (let i = 0; i < 2000; i++) {
          const grant = (await lease(10))!;
          got.set(grant.lease.jobId, (got.get(grant.lease.jobId) ?? 0) + grant.items.length);
        }
        const [na, nb, nhi, nlo] = [a, b, hi, lo].map((id) => got.get(id) ?? 0) as [number, number, number, number];
        expect(Math.abs(na - nb)).toBeLessThanOrEqual(10);
        expect(nhi / na).toBeGreaterThan(3.5); // 2^(4/2) = 4
        expect(nhi / na).toBeLessThan(4.5);
        expect(nlo).toBeGreaterThan(0); // 1/32 of a share, but never nothing
        expect(na / nlo).toBeGreaterThan(25);
      });

      it('lets a job submitted later take its turn at once instead of waiting behind older ones', async () => {
        const old = await store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } } }), NOW);
        for (let i = 0; i < 50; i++) await lease(10);
        const late = await store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100 } } }), NOW);
        const next = [(await lease(10))!, (await lease(10))!].map((g) => g.lease.jobId);
        expect(next).toContain(late.id);
        expect(next).toContain(old.id);
      });
    });
  });
}
