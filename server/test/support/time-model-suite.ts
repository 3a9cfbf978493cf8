/**
 * `Job.timing` through WorkService and JobService over the store contract, the same cases for every engine: a job
 * with known run times matches the time model's formulas, and stays right across a retry, a tail copy and a
 * replicated job. An engine's test file calls `runTimeModelSuite` with a way to open an empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobSpec, type JobSpec, type RunResult } from '@edgeswarm/shared';
import { ManualClock } from '../../src/clock.ts';
import type { JobStore } from '../../src/store/async-store.ts';
import { JobService } from '../../src/jobs/job-service.ts';
import { WorkService, type DeviceConnection } from '../../src/scheduler/work-service.ts';
import type { WorkSuiteEngine } from './work-service-suite.ts';

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

const dev = (n: number, threads = 1): DeviceConnection => ({ deviceId: `device-${n}`, connId: `conn-${n}`, threads });
const ok = (index: number, value: unknown, ms: number): RunResult => ({ index, ok: true, json: JSON.stringify(value), ms });

export function runTimeModelSuite(engine: WorkSuiteEngine): void {
  describe(`the time model (Job.timing) on ${engine.name}`, () => {
    let opened: Awaited<ReturnType<WorkSuiteEngine['open']>>;
    let db: JobStore;
    let clock: ManualClock;
    let work: WorkService;
    let jobs: JobService;

    beforeEach(async () => {
      opened = await engine.open();
      db = opened.store;
      clock = new ManualClock();
      const events = { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: () => {}, jobFinished: () => {} };
      work = new WorkService({ store: db, clock, events, fleetThreads: () => 0, slowStart: false });
      jobs = new JobService(db, clock, { jobSubmitted: () => {}, jobStopped: () => {} });
      for (const n of [1, 2, 3]) await db.registerDevice({ id: dev(n).deviceId, kind: 'node', name: `box ${n}`, threads: 1, now: clock.now() });
    });

    afterEach(async () => {
      await work.settled();
      await opened.close();
    });

    /** What the hub has gathered goes to the store (the sweep does this about once a second). */
    async function timingOf(jobId: string) {
      await work.settled();
      await work.flushTiming();
      return (await jobs.get(jobId)).timing;
    }

    it('matches the formulas for a job with known run times', async () => {
      const job = await db.createJob(spec({ code: '(n) => n', inputs: [1, 2, 3, 4] }), clock.now());
      expect((await jobs.get(job.id)).timing).toBeUndefined();
      const grant = (await work.requestWork(dev(1, 4), 4))!;
      expect(grant.items).toHaveLength(4);
      clock.advance(400);
      await work.submitResults(dev(1, 4), { leaseId: grant.leaseId, results: grant.items.map((it) => ok(it.index, it.input, 100)), rttMs: 2 });
      const t = await timingOf(job.id);
      expect((await jobs.get(job.id)).status).toBe('completed');
      expect(t).toMatchObject({
        wallMs: 400,
        computeMs: 400,
        meanRunMs: 100,
        devices: 1,
        messages: 2,
        commMs: 2,
        threads: 4,
        runs: 4,
        extraMs: 0,
        replicaMs: 0,
        model: { serverlessMs: 100, edgeMs: 104, idealParallelMs: 100 },
        efficiency: 0.25,
      });
      expect(t?.byDevice).toEqual([{ deviceId: 'device-1', name: 'box 1', threads: 4, runs: 4, share: 1, computeMs: 400, meanRunMs: 100 }]);
      // Kept after the job ended: the wall time stops at its end.
      clock.advance(10_000);
      expect((await jobs.get(job.id)).timing?.wallMs).toBe(400);
      expect((await jobs.list(0, 10)).items[0]?.timing?.computeMs).toBe(400);
    });

    it('counts a failed run that was retried as compute spent, and both exchanges', async () => {
      const job = await db.createJob(spec({ code: '(n) => n', inputs: [7], maxAttempts: 3 }), clock.now());
      const first = (await work.requestWork(dev(1), 1))!;
      await work.submitResults(dev(1), { leaseId: first.leaseId, results: [{ index: 0, ok: false, code: 'work_error', message: 'flaky', ms: 50 }] });
      const second = (await work.requestWork(dev(2), 1))!;
      clock.advance(200);
      await work.submitResults(dev(2), { leaseId: second.leaseId, results: [ok(0, 7, 100)] });
      const t = await timingOf(job.id);
      expect(t).toMatchObject({ runs: 2, computeMs: 150, meanRunMs: 75, devices: 2, messages: 4, extraMs: 0, wallMs: 200 });
    });

    it('counts the losing copy of a tail input apart, not as compute of the job', async () => {
      const job = await db.createJob(spec({ code: '(n) => n', inputs: [5] }), clock.now());
      const slow = (await work.requestWork(dev(1), 1))!;
      const copy = (await work.requestWork(dev(2), 1))!;
      expect(copy.items.map((i) => i.index)).toEqual([0]);
      await work.submitResults(dev(2), { leaseId: copy.leaseId, results: [ok(0, 5, 80)] });
      expect(await work.submitResults(dev(1), { leaseId: slow.leaseId, results: [ok(0, 5, 120)] })).toEqual({ accepted: 0, dropped: 1 });
      const t = await timingOf(job.id);
      expect(t).toMatchObject({ runs: 1, computeMs: 80, extraMs: 120, devices: 1, messages: 4 });
      expect(t?.byDevice.map((d) => d.deviceId)).toEqual(['device-2']);
    });

    it('counts a replicated job’s extra runs as compute spent, shown apart', async () => {
      const job = await db.createJob(spec({ code: '(n) => n', inputs: [1, 2], verify: 'replicate', replication: 2, quorum: 2 }), clock.now());
      for (const n of [1, 2]) {
        const grant = (await work.requestWork(dev(n), 2))!;
        expect(grant.items).toHaveLength(2);
        await work.submitResults(dev(n), { leaseId: grant.leaseId, results: grant.items.map((it) => ok(it.index, it.input, 10)) });
      }
      expect((await jobs.get(job.id)).progress.completed).toBe(2);
      const t = await timingOf(job.id);
      expect(t).toMatchObject({ runs: 4, computeMs: 40, replicaMs: 20, devices: 2 });
    });
  });
}
