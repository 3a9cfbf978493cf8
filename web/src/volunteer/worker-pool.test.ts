import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createInProcessRunner, type InProcessRunner } from './testing/in-process-runner.ts';
import { WorkerPool, parseReport, type PoolTask, type RunnerHandle } from './worker-pool.ts';

const task = (over: Partial<PoolTask> = {}): PoolTask => ({
  jobId: 'job-a',
  code: '(n) => n * n',
  timeoutMs: 1000,
  input: 7,
  ...over,
});

describe('WorkerPool', () => {
  let runners: InProcessRunner[];
  let pool: WorkerPool;

  beforeEach(() => {
    vi.useFakeTimers();
    runners = [];
    pool = new WorkerPool(2, () => {
      const r = createInProcessRunner();
      runners.push(r);
      return r;
    });
  });

  afterEach(() => {
    pool.dispose();
    vi.useRealTimers();
  });

  it('runs an input and returns its JSON result', async () => {
    await expect(pool.run(task())).resolves.toEqual({ ok: true, json: '49' });
    expect(pool.idle).toBe(2);
  });

  it('runs one input per runner and refuses a third concurrent run', () => {
    void pool.run(task({ code: '() => new Promise(() => {})' }));
    void pool.run(task({ code: '() => new Promise(() => {})' }));
    expect(pool.idle).toBe(0);
    expect(() => pool.run(task())).toThrow(/no idle runner/);
  });

  it('runs a batch of one job’s inputs in one call, each with its outcome and run time, in order', async () => {
    const outcomes = await pool.runBatch([1, 2, 3].map((n) => task({ input: n })));
    expect(outcomes.map((o) => (o && o !== 'again' ? o.outcome : o))).toEqual([
      { ok: true, json: '1' },
      { ok: true, json: '4' },
      { ok: true, json: '9' },
    ]);
    expect(outcomes.every((o) => o !== null && o !== 'again' && o.ms >= 0)).toBe(true);
    expect(pool.idle).toBe(2);
  });

  it('gives a batch that runs past timeoutMs back as `again`, replaces its runner and batches that job no more', async () => {
    const hang = task({ code: '(n) => (n === 2 ? new Promise(() => {}) : n)', timeoutMs: 300 });
    const outcomes = pool.runBatch([1, 2, 3].map((n) => ({ ...hang, input: n })));
    await vi.advanceTimersByTimeAsync(299);
    expect(pool.canBatch('job-a')).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcomes).toEqual(['again', 'again', 'again']);
    expect(runners[0]?.terminated).toBe(true);
    expect(pool.canBatch('job-a')).toBe(false);
    expect(pool.idle).toBe(2);
  });

  it('compiles the code of a job once per runner', async () => {
    await pool.run(task({ input: 1 }));
    await pool.run(task({ input: 2 }));
    await pool.run(task({ jobId: 'job-b', code: '(n) => n + 1', input: 2 }));
    expect(runners[0]?.loads).toBe(2);
  });

  it('terminates and replaces a runner whose run overruns timeoutMs', async () => {
    const outcome = pool.run(task({ code: '() => new Promise(() => {})', timeoutMs: 250 }));
    await vi.advanceTimersByTimeAsync(249);
    expect(pool.idle).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(outcome).resolves.toEqual({
      ok: false,
      code: 'timeout',
      message: 'the run took longer than timeoutMs (250 ms)',
    });
    expect(runners[0]?.terminated).toBe(true);
    expect(runners).toHaveLength(3);
    expect(pool.idle).toBe(2);
    // The fresh runner works.
    await expect(pool.run(task({ input: 3 }))).resolves.toEqual({ ok: true, json: '9' });
  });

  it('does not time out a run that finishes in time', async () => {
    const outcome = await pool.run(task({ timeoutMs: 100 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(outcome).toEqual({ ok: true, json: '49' });
    expect(runners).toHaveLength(2);
  });

  it('reports code that does not compile as work_error', async () => {
    const outcome = await pool.run(task({ code: '(n) => {' }));
    expect(outcome).toMatchObject({ ok: false, code: 'work_error' });
    expect(outcome?.ok === false && outcome.message).toMatch(/failed to compile/);
  });

  it('reports a thrown error as work_error and a non-JSON result as invalid_result', async () => {
    await expect(pool.run(task({ jobId: 'throws', code: '() => { throw new RangeError("boom") }' }))).resolves.toEqual({
      ok: false,
      code: 'work_error',
      message: 'RangeError: boom',
    });
    await expect(pool.run(task({ jobId: 'nan', code: '() => NaN' }))).resolves.toMatchObject({ ok: false, code: 'invalid_result' });
  });

  it('abandons only the runs of the stopped job, resolving them to null', async () => {
    const hang = '() => new Promise(() => {})';
    const a = pool.run(task({ jobId: 'job-a', code: hang }));
    const b = pool.run(task({ jobId: 'job-b', code: hang, timeoutMs: 500 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(pool.abandonJob('job-a')).toBe(1);
    await expect(a).resolves.toBeNull();
    expect(runners[0]?.terminated).toBe(true);
    expect(runners[1]?.terminated).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    await expect(b).resolves.toMatchObject({ code: 'timeout' });
  });

  it('abandonAll frees every runner and cancels their timers', async () => {
    const hang = '() => new Promise(() => {})';
    const runs = [pool.run(task({ code: hang })), pool.run(task({ code: hang }))];
    await vi.advanceTimersByTimeAsync(0);
    expect(pool.abandonAll()).toBe(2);
    await expect(Promise.all(runs)).resolves.toEqual([null, null]);
    expect(pool.idle).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });
  it("never runs one owner's code in a runner that ran another's, and reuses a runner for the same owner", async () => {
    const solo = new WorkerPool(1, () => {
      const r = createInProcessRunner();
      runners.push(r);
      return r;
    });
    try {
      const before = runners.length;
      await solo.run(task({ jobId: 'a1', owner: 'alice', input: 2 }));
      await solo.run(task({ jobId: 'a2', owner: 'alice', input: 3 }));
      expect(runners.length).toBe(before); // same owner: same runner
      await expect(solo.run(task({ jobId: 'b1', owner: 'bob', input: 4 }))).resolves.toEqual({ ok: true, json: '16' });
      expect(runners.length).toBe(before + 1);
      expect(runners[before - 1]?.terminated).toBe(true);
      await solo.run(task({ jobId: 'admin', owner: null, input: 5 }));
      expect(runners.length).toBe(before + 2);
    } finally {
      solo.dispose();
    }
  });

  describe('posting the next batch behind a running one', () => {
    const slow = '(n) => (n === 0 ? new Promise((resolve) => setTimeout(() => resolve(0), 100)) : n * 2)';

    it('runs a posted batch right after the running one, in order, counting the inputs both hold', async () => {
      expect(pool.postBatch([task({ code: slow, input: 1 })])).toBeNull(); // nothing is running
      const ahead = pool.runBatch([0, 1].map((n) => task({ code: slow, input: n })));
      await vi.advanceTimersByTimeAsync(0);
      expect(pool.postBatch([task({ jobId: 'job-b', code: slow, input: 1 })])).toBeNull(); // another job
      const started: number[] = [];
      const behind = pool.postBatch([2, 3, 4].map((n) => task({ code: slow, input: n, onStart: () => started.push(n) })));
      expect(behind).not.toBeNull();
      expect(pool.postBatch([task({ code: slow, input: 5 })])).toBeNull(); // one batch behind each running one
      expect(pool.inputs).toBe(5);
      expect(started).toEqual([]); // its budget starts when it starts
      await vi.advanceTimersByTimeAsync(100);
      expect((await ahead).map((o) => (o && o !== 'again' ? o.outcome : o))).toEqual([{ ok: true, json: '0' }, { ok: true, json: '2' }]);
      expect((await behind)?.map((o) => (o && o !== 'again' ? o.outcome : o))).toEqual([4, 6, 8].map((n) => ({ ok: true, json: String(n) })));
      expect(started).toEqual([2, 3, 4]);
      expect(runners[0]?.loads).toBe(1); // posted to the runner that had the code loaded
      expect(pool.inputs).toBe(0);
      expect(pool.idle).toBe(2);
    });

    it('abandons a posted batch with the running one, counting every input stopped', async () => {
      const hang = '() => new Promise(() => {})';
      const ahead = pool.runBatch([1, 2].map((n) => task({ code: hang, input: n })));
      await vi.advanceTimersByTimeAsync(0);
      const behind = pool.postBatch([3, 4, 5].map((n) => task({ code: hang, input: n })));
      expect(pool.abandonJob('job-a')).toBe(5);
      expect(await ahead).toEqual([null, null]);
      expect(await behind).toEqual([null, null, null]);
      expect(pool.inputs).toBe(0);
    });
  });

  describe('posting a batch of one behind a running input', () => {
    const hang = '(n) => (n === 0 ? new Promise(() => {}) : n * 2)';

    it('takes only an input of the job a runner is running, one per runner', async () => {
      expect(pool.postBatch([task()])).toBeNull(); // nothing is running
      void pool.run(task({ code: hang, input: 0 }));
      await vi.advanceTimersByTimeAsync(0); // the runner has loaded the code
      expect(pool.postBatch([task({ jobId: 'job-b', code: hang, input: 1 })])).toBeNull();
      expect(pool.postBatch([task({ code: hang, input: 1 })])).not.toBeNull();
      expect(pool.posted).toBe(1);
      expect(pool.postBatch([task({ code: hang, input: 2 })])).toBeNull(); // the other runner is idle, this one is full
    });

    it('runs a posted input again on the fresh runner when the one ahead of it times out', async () => {
      const stuck = pool.run(task({ code: hang, input: 0, timeoutMs: 250 }));
      await vi.advanceTimersByTimeAsync(0);
      const started: number[] = [];
      const behind = pool.postBatch([task({ code: hang, input: 3, timeoutMs: 250, onStart: () => started.push(Date.now()) })]);
      expect(started).toEqual([]); // its budget has not started
      await vi.advanceTimersByTimeAsync(250);
      await expect(stuck).resolves.toMatchObject({ code: 'timeout' });
      await expect(behind).resolves.toMatchObject([{ outcome: { ok: true, json: '6' } }]);
      expect(started).toHaveLength(1);
      expect(runners[0]?.terminated).toBe(true);
      expect(runners[2]?.loads).toBe(1); // the replacement loaded the code and ran the input
      expect(pool.posted).toBe(0);
    });

    it('abandons a posted input of a stopped job with the running one', async () => {
      const running = pool.run(task({ code: hang, input: 0 }));
      await vi.advanceTimersByTimeAsync(0);
      const behind = pool.postBatch([task({ code: hang, input: 5 })]);
      expect(pool.abandonJob('job-a')).toBe(2);
      await expect(running).resolves.toBeNull();
      await expect(behind).resolves.toEqual([null]);
      expect(pool.posted).toBe(0);
      expect(pool.idle).toBe(2);
    });
  });
});

describe("the worker's reports, which job code in that worker can forge", () => {
  const noOutcome = { outcome: { ok: false, code: 'work_error', message: 'the worker reported no outcome for this input' }, ms: 0 };

  it('keeps a well-formed report and clamps its run time to [0, timeoutMs]', () => {
    expect(parseReport({ outcome: { ok: true, json: '4' }, ms: 2.5 }, 1000)).toEqual({ outcome: { ok: true, json: '4' }, ms: 2.5 });
    expect(parseReport({ outcome: { ok: true, json: '4' }, ms: 1e12 }, 1000)).toEqual({ outcome: { ok: true, json: '4' }, ms: 1000 });
    expect(parseReport({ outcome: { ok: true, json: '4' }, ms: -5 }, 1000)).toMatchObject({ ms: 0 });
    expect(parseReport({ outcome: { ok: true, json: '4' }, ms: Number.NaN }, 1000)).toMatchObject({ ms: 0 });
    expect(parseReport({ outcome: { ok: false, code: 'timeout', message: 'slow' }, ms: 3 }, 1000)).toEqual({
      outcome: { ok: false, code: 'timeout', message: 'slow' },
      ms: 3,
    });
  });

  it('turns anything else into work_error for that input', () => {
    for (const forged of [null, 7, 'x', {}, { outcome: { ok: true, json: 4 } }, { outcome: { ok: false, code: 'device_lost', message: 'm' } }, { outcome: { ok: 'yes' } }]) {
      expect(parseReport(forged, 1000)).toEqual(noOutcome);
    }
  });

  it('parses what a runner sends back for a batch: a forged run time is clamped, a non-array gives every input work_error', async () => {
    const forging = (reports: unknown): RunnerHandle => ({
      ready: Promise.resolve(),
      load: () => Promise.resolve({ ok: true }),
      runBatch: () => Promise.resolve(reports as never),
      terminate: () => {},
    });
    const clamped = new WorkerPool(1, () => forging([{ outcome: { ok: true, json: '1' }, ms: 1e9 }]));
    await expect(clamped.runBatch([task({ timeoutMs: 500 })])).resolves.toEqual([{ outcome: { ok: true, json: '1' }, ms: 500 }]);
    clamped.dispose();
    const garbage = new WorkerPool(1, () => forging('not an array'));
    await expect(garbage.runBatch([task(), task({ input: 8 })])).resolves.toEqual([noOutcome, noOutcome]);
    garbage.dispose();
  });
});
