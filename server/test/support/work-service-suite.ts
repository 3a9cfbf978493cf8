/**
 * WorkService over the store contract, the same cases for every engine: lease expiry and renewal by the monotonic
 * clock, caps, retries and failures, lost leases and device_lost, late and duplicate results, restarts, lease sizing
 * and tail copies. An engine's test file calls `runWorkServiceSuite` with a way to open an empty store (and to open it
 * again, as a restarted hub does).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobSpec, type JobSpec, type RunResult } from '@edgeswarm/shared';
import { ManualClock } from '../../src/clock.ts';
import type { JobStore } from '../../src/store/async-store.ts';
import { MAX_LEASE_ITEMS, WorkService, type DeviceConnection, type WorkEvents } from '../../src/scheduler/work-service.ts';

export interface WorkSuiteEngine {
  name: string;
  open(): Promise<{ store: JobStore; reopen(): Promise<JobStore>; close(): Promise<void> }>;
}

const TTL = 20_000;

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

const dev = (n: number): DeviceConnection => ({ deviceId: `device-${n}`, connId: `conn-${n}`, threads: 4 });
const ok = (index: number, value: unknown): RunResult => ({ index, ok: true, json: JSON.stringify(value) });

export function runWorkServiceSuite(engine: WorkSuiteEngine): void {
  describe(`WorkService on ${engine.name}`, () => {
    let opened: Awaited<ReturnType<WorkSuiteEngine['open']>>;
    let db: JobStore;
    let clock: ManualClock;
    let work: WorkService;
    let stopped: string[];
    let threads: number;

    function service(options: { tailCopies?: boolean } = {}, store: JobStore = db): WorkService {
      const events: WorkEvents = {
        jobStopped: (id) => stopped.push(id),
        workAvailable: () => {},
        subtasksCompleted: () => {},
        jobFinished: () => {},
      };
      return new WorkService({ store, clock, events, fleetThreads: () => threads, leaseTtlMs: TTL, slowStart: false, ...options });
    }

    beforeEach(async () => {
      opened = await engine.open();
      db = opened.store;
      clock = new ManualClock();
      stopped = [];
      threads = 0;
      work = service();
      for (const n of [1, 2, 3]) await db.registerDevice({ id: dev(n).deviceId, kind: 'node', name: '', threads: 1, now: clock.now() });
    });

    afterEach(async () => {
      await work.settled();
      await opened.close();
    });

    it('expires a lease that is not renewed and leases its inputs again', async () => {
      work = service({ tailCopies: false }); // the lease lifecycle alone, without tail copies
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [10, 20] }), clock.now()));
      const first = await work.requestWork(dev(1), 2);
      expect(first?.items.map((i) => i.input)).toEqual([10, 20]);
      expect(await work.requestWork(dev(2), 2)).toBeNull();
      clock.advance(TTL - 1);
      await work.sweep();
      expect(await work.requestWork(dev(2), 2)).toBeNull();
      clock.advance(2);
      await work.sweep();
      const second = await work.requestWork(dev(2), 2);
      expect(second?.items.map((i) => i.index)).toEqual([0, 1]);
      await work.settled();
      expect((await db.getJob(job.id))?.status).toBe('running');
    });

    it('keeps a lease alive while the device heartbeats', async () => {
      work = service({ tailCopies: false }); // the lease lifecycle alone, without tail copies
      (await db.createJob(spec({ code: '(n) => n', inputs: [1], timeoutMs: 600_000 }), clock.now()));
      await work.requestWork(dev(1), 1);
      for (let i = 0; i < 10; i++) {
        clock.advance(TTL / 2);
        await work.heartbeat(dev(1), { state: 'working', threads: 1 });
        await work.sweep();
        expect(await work.requestWork(dev(2), 1)).toBeNull();
      }
    });

    it('lets heartbeats extend a lease only until each of its inputs could have timed out once', async () => {
      work = service({ tailCopies: false }); // the lease lifecycle alone, without tail copies
      (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2], timeoutMs: 1000 }), clock.now()));
      await work.requestWork(dev(1), 2);
      for (let t = 0; t < TTL + 2000; t += 500) {
        clock.advance(500);
        await work.heartbeat(dev(1), { state: 'working', threads: 1 });
        await work.sweep();
        expect(await work.requestWork(dev(2), 2), `at ${t + 500} ms`).toBeNull();
      }
      clock.advance(1);
      await work.sweep();
      expect((await work.requestWork(dev(2), 2))?.items.length).toBe(2);
    });

    it('stops leasing to a connection that holds 128 inputs per thread', async () => {
      (await db.createJob(spec({ code: '(n) => n', inputs: { range: { start: 0, end: 10_000 } } }), clock.now()));
      const greedy = { ...dev(1), threads: 1 };
      let held = 0;
      for (let grant = await work.requestWork(greedy, 50); grant; grant = await work.requestWork(greedy, 50)) held += grant.items.length;
      expect(held).toBe(128);
      expect((await work.requestWork(dev(2), 50))?.items.length).toBe(50);
    });

    it('writes device presence in one batch per sweep, not once per heartbeat', async () => {
      const calls: number[] = [];
      const counting = new Proxy(db, {
        get(target, prop) {
          if (prop === 'devicesSeen') {
            return (updates: Parameters<JobStore['devicesSeen']>[0]) => {
              calls.push(updates.length);
              return target.devicesSeen(updates);
            };
          }
          return Reflect.get(target, prop, target) as unknown;
        },
      });
      work = service({}, counting);
      clock.advance(5000);
      for (let round = 0; round < 3; round++) for (const n of [1, 2, 3]) await work.heartbeat(dev(n), { state: 'paused', threads: 2 });
      const seen = async () => (await db.listDevices(0, 10)).items.map((d) => [d.state, d.lastSeenAt]);
      expect((await seen()).every(([state]) => state === 'idle')).toBe(true);
      await work.sweep();
      expect(calls).toEqual([3]);
      expect(await seen()).toEqual([1, 2, 3].map(() => ['paused', new Date(clock.now()).toISOString()]));
    });

    it('expires leases by the monotonic clock, not by wall-clock steps', async () => {
      work = service({ tailCopies: false }); // the lease lifecycle alone, without tail copies
      (await db.createJob(spec({ code: '(n) => n', inputs: [1] }), clock.now()));
      await work.requestWork(dev(1), 1);
      clock.stepWallClock(3_600_000); // the wall clock jumps an hour ahead
      await work.sweep();
      expect(await work.requestWork(dev(2), 1)).toBeNull();
      clock.advance(TTL + 1);
      await work.sweep();
      expect(await work.requestWork(dev(2), 1)).not.toBeNull();
    });

    it('accepts the result of a lease held before a hub restart, once', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [4], reduce: 'sum' }), clock.now()));
      const before = (await work.requestWork(dev(1), 1))!;
      db = await opened.reopen();
      work = service();
      await work.recover();
      const after = (await work.requestWork(dev(2), 1))!;
      expect(await work.submitResults(dev(1), { leaseId: before.leaseId, results: [ok(0, 4)] })).toEqual({ accepted: 1, dropped: 0 });
      expect(await work.submitResults(dev(2), { leaseId: after.leaseId, results: [ok(0, 4)] })).toEqual({ accepted: 0, dropped: 1 });
      await work.settled();
      expect((await db.getJob(job.id))).toMatchObject({ status: 'completed', result: 4, progress: { completed: 1 } });
    });

    it('accepts a late result from an earlier holder once and drops the second copy', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [7], reduce: 'sum' }), clock.now()));
      const first = (await work.requestWork(dev(1), 1))!;
      clock.advance(TTL + 1);
      await work.sweep();
      const second = (await work.requestWork(dev(2), 1))!;
      expect(await work.submitResults(dev(1), { leaseId: first.leaseId, results: [ok(0, 7)] })).toEqual({ accepted: 1, dropped: 0 });
      expect(await work.submitResults(dev(2), { leaseId: second.leaseId, results: [ok(0, 7)] })).toEqual({ accepted: 0, dropped: 1 });
      await work.settled();
      const done = (await db.getJob(job.id))!;
      expect(done.status).toBe('completed');
      expect(done.progress.completed).toBe(1);
      expect(done.result).toBe(7);
    });

    it('fails the job with device_lost after the eleventh lost lease of one input', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1] }), clock.now()));
      for (let loss = 1; loss <= 11; loss++) {
        const grant = await work.requestWork(dev(1), 1);
        expect(grant, `lease ${loss}`).not.toBeNull();
        await work.disconnected(dev(1));
        (await db.registerDevice({ id: dev(1).deviceId, kind: 'node', name: '', threads: 1, now: clock.now() }));
        await work.settled();
        expect((await db.getJob(job.id))?.status).toBe(loss <= 10 ? 'running' : 'failed');
      }
      await work.settled();
      expect((await db.getJob(job.id))?.error).toMatchObject({ code: 'device_lost', input: 0 });
      expect(stopped).toEqual([job.id]);
    });

    it('retries an input that errored and fails the job after maxAttempts runs, not sooner', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2], maxAttempts: 3 }), clock.now()));
      let runs = 0;
      for (;;) {
        const grant = await work.requestWork(dev(1), 1);
        if (!grant) break;
        runs++;
        const index = grant.items[0]!.index;
        await work.submitResults(dev(1), {
          leaseId: grant.leaseId,
          results: [index === 1 ? { index, ok: false, code: 'timeout', message: 'took too long' } : ok(index, 1)],
        });
      }
      await work.settled();
      const failed = (await db.getJob(job.id))!;
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatchObject({ code: 'timeout', input: 1 });
      expect(failed.progress).toEqual({ total: 2, completed: 1, failed: 1 });
      expect(runs).toBe(4); // input 0 once, input 1 three times
    });

    it('does not count an error from a lease that no longer holds the input', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1], maxAttempts: 1 }), clock.now()));
      const stale = (await work.requestWork(dev(1), 1))!;
      await work.disconnected(dev(1));
      await work.requestWork(dev(2), 1);
      const receipt = await work.submitResults(dev(1), {
        leaseId: stale.leaseId,
        results: [{ index: 0, ok: false, code: 'work_error', message: 'x' }],
      });
      expect(receipt).toEqual({ accepted: 0, dropped: 1 });
      await work.settled();
      expect((await db.getJob(job.id))?.status).toBe('running');
    });

    it('turns a result over 1 MiB into result_too_large', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1], maxAttempts: 1 }), clock.now()));
      const grant = (await work.requestWork(dev(1), 1))!;
      const big = JSON.stringify('x'.repeat(1024 * 1024));
      await work.submitResults(dev(1), { leaseId: grant.leaseId, results: [{ index: 0, ok: true, json: big }] });
      await work.settled();
      expect((await db.getJob(job.id))?.error?.code).toBe('result_too_large');
    });

    it('shrinks leases as the job runs out (guided self-scheduling), down to one input, within MAX_LEASE_ITEMS', async () => {
      threads = 4;
      (await db.createJob(spec({ code: '(n) => n', inputs: { range: { start: 0, end: 5000 } } }), clock.now()));
      const sizes: number[] = [];
      for (let n = 0; n < 200; n++) {
        const device = { ...dev(n), threads: 64 };
        const grant = await work.requestWork(device, 10_000);
        if (!grant) break;
        sizes.push(grant.items.length);
        if (grant.items.length === 1) break;
      }
      expect(sizes[0]).toBe(MAX_LEASE_ITEMS); // a big job: capped
      // Each lease is at most half a fair share of what is left: ceil(left / (2 x 4 threads)).
      let left = 5000;
      for (const size of sizes) {
        expect(size).toBe(Math.min(MAX_LEASE_ITEMS, Math.ceil(left / 8)));
        left -= size;
      }
      expect(sizes.at(-1)).toBe(1);
      for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeLessThanOrEqual(sizes[i - 1]!);
    });

    it('spreads a small job over the fleet instead of giving it all to the first device', async () => {
      threads = 4;
      (await db.createJob(spec({ code: '(n) => n', inputs: { range: { start: 0, end: 80 } } }), clock.now()));
      const grant = (await work.requestWork(dev(1), 1000))!;
      expect(grant.items.length).toBe(10);
    });

    describe('tail copies', () => {
      it('copies the longest-held inputs to an idle device once nothing is left to lease', async () => {
        (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2, 3, 4] }), clock.now()));
        const older = (await work.requestWork({ ...dev(1), threads: 1 }, 2))!;
        const newer = (await work.requestWork({ ...dev(2), threads: 1 }, 2))!;
        const copy = (await work.requestWork(dev(3), 8))!;
        // One copy per thread of the idle device, oldest lease first; each input is copied once.
        expect(copy.items.map((i) => i.index)).toEqual([...older.items, ...newer.items].map((i) => i.index));
        expect(await work.requestWork({ ...dev(3), connId: 'conn-3b' }, 8)).toBeNull();
        // The holder itself gets no copy of its own inputs.
        expect(await work.requestWork({ ...dev(1), connId: 'conn-1b' }, 8)).toBeNull();
      });

      it('counts the first result and drops the other copy without double counting', async () => {
        const job = (await db.createJob(spec({ code: '(n) => n', inputs: [5, 6], reduce: 'sum' }), clock.now()));
        const slow = (await work.requestWork(dev(1), 2))!;
        const copy = (await work.requestWork(dev(2), 2))!;
        expect(copy.items.map((i) => i.index)).toEqual([0, 1]);
        expect(await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [ok(0, 5)] })).toEqual({ accepted: 1, dropped: 0 });
        expect(await work.submitResults(dev(1), { leaseId: slow.leaseId, results: [ok(0, 5), ok(1, 6)] })).toEqual({ accepted: 1, dropped: 1 });
        expect(await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [ok(1, 6)] })).toEqual({ accepted: 0, dropped: 1 });
        await work.settled();
        expect((await db.getJob(job.id))).toMatchObject({ status: 'completed', result: 11, progress: { completed: 2, failed: 0 } });
        await work.settled();
        expect((await db.getResults(job.id, 0, 10))?.results).toEqual([5, 6]);
      });

      it('finishes a job whose holder vanished without waiting for its lease to expire', async () => {
        const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2, 3] }), clock.now()));
        await work.requestWork(dev(1), 3); // dev(1) goes silent while holding everything
        const copy = (await work.requestWork(dev(2), 8))!;
        await work.submitResults(dev(2), { leaseId: copy.leaseId, results: copy.items.map((i) => ok(i.index, i.input)) });
        await work.settled();
        expect((await db.getJob(job.id))?.status).toBe('completed');
        // The silent holder's lease expires later and requeues nothing; no loss counted.
        clock.advance(TTL + 1);
        await work.sweep();
        await work.settled();
        expect((await db.workCounts())).toMatchObject({ queued: 0, running: 0 });
      });

      it("counts a copy's failure and loss against nothing, and lets a lost copy be copied again", async () => {
        const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1], maxAttempts: 1 }), clock.now()));
        const held = (await work.requestWork(dev(1), 1))!;
        const lost = (await work.requestWork(dev(2), 1))!;
        expect(lost.items.map((i) => i.index)).toEqual([0]);
        await work.disconnected(dev(2)); // the copy is lost: nothing counted, the input may be copied again
        await work.settled();
        expect((await db.workCounts())).toMatchObject({ queued: 0, running: 1 });
        const again = (await work.requestWork(dev(3), 1))!;
        expect(again.items.map((i) => i.index)).toEqual([0]);
        const error: RunResult = { index: 0, ok: false, code: 'work_error', message: 'boom' };
        expect(await work.submitResults(dev(3), { leaseId: again.leaseId, results: [error] })).toEqual({ accepted: 0, dropped: 1 });
        await work.settled();
        expect((await db.getJob(job.id))?.status).toBe('running'); // maxAttempts 1, yet the copy's error did not fail the job
        await work.submitResults(dev(1), { leaseId: held.leaseId, results: [ok(0, 1)] });
        await work.settled();
        expect((await db.getJob(job.id))).toMatchObject({ status: 'completed', progress: { completed: 1, failed: 0 } });
      });

      it('closes a copy once it has reported every input over several batches, so the device gets the next copy', async () => {
        (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2, 3] }), clock.now()));
        await work.requestWork(dev(1), 3); // dev(1) holds everything and is slow
        const copy = (await work.requestWork({ ...dev(2), threads: 2 }, 8))!;
        expect(copy.items.map((i) => i.index)).toEqual([0, 1]);
        const error: RunResult = { index: 0, ok: false, code: 'work_error', message: 'flaky' };
        await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [error] });
        await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [ok(1, 2)] });
        // Both inputs reported: the copy is closed and the device can take a copy of input 2.
        const next = (await work.requestWork({ ...dev(2), threads: 2 }, 8))!;
        expect(next.items.map((i) => i.index)).toEqual([2]);
      });

      it('copies an input no more once a copy of it failed', async () => {
        (await db.createJob(spec({ code: '(n) => n', inputs: [1] }), clock.now()));
        await work.requestWork(dev(1), 1);
        const copy = (await work.requestWork(dev(2), 1))!;
        await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [{ index: 0, ok: false, code: 'work_error', message: 'no' }] });
        expect(await work.requestWork(dev(2), 1)).toBeNull();
        expect(await work.requestWork(dev(3), 1)).toBeNull();
      });

      it('gives no copies while any job still has inputs to lease', async () => {
        (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2] }), clock.now()));
        (await db.createJob(spec({ code: '(n) => n', inputs: [3, 4, 5] }), clock.now()));
        await work.requestWork(dev(1), 2);
        const next = (await work.requestWork(dev(2), 8))!;
        expect(next.items.map((i) => i.input)).toEqual([3, 4, 5]);
      });
    });

    it('voids leases of the previous process at start-up without counting a loss', async () => {
      const job = (await db.createJob(spec({ code: '(n) => n', inputs: [1, 2, 3] }), clock.now()));
      await work.requestWork(dev(1), 3);
      db = await opened.reopen();
      work = service();
      await work.recover();
      const grant = await work.requestWork(dev(2), 3);
      expect(grant?.items.length).toBeGreaterThan(0);
      await work.settled();
      expect((await db.getJob(job.id))?.status).toBe('running');
    });

  });
}
