/** The worker_threads pool with real threads: results, batches, timeouts that replace or keep a thread, the memory limit, abandoning runs. */
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPool, memoryLimits, type PoolTask } from './thread-pool.ts';

const pools: ThreadPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function pool(threads: number, heapMb = 64, vmTimeout?: 'always' | 'after-timeout' | 'never'): ThreadPool {
  const p = new ThreadPool({ threads, memory: memoryLimits(heapMb), vmTimeout, onFatal: (err) => { throw err; } });
  pools.push(p);
  return p;
}

const task = (over: Partial<PoolTask> = {}): PoolTask => ({ jobId: 'squares', code: '(n) => n * n', timeoutMs: 5000, input: 3, ...over });
/** Runs added in one go are dispatched together, after the current turn's synchronous code. */
const dispatched = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe('ThreadPool', () => {
  it('starts no thread before the first run, then runs inputs of several jobs on its threads', async () => {
    const p = pool(2);
    expect(p.threadsStarted).toBe(0);
    const inputs = Array.from({ length: 200 }, (_, i) => i);
    const results = await Promise.all(
      inputs.map((i) => p.run(i % 2 ? task({ input: i }) : task({ jobId: 'upper', code: '(n) => String(n).padStart(3, "0")', input: i }))),
    );
    expect(results.map((r) => r?.outcome)).toEqual(
      inputs.map((i) => ({ ok: true, json: i % 2 ? String(i * i) : JSON.stringify(String(i).padStart(3, '0')) })),
    );
    expect(p.threadsStarted).toBe(2);
  });

  it('terminates a run that never ends at timeoutMs, reports timeout, and keeps working', async () => {
    const p = pool(1);
    await p.run(task()); // thread started
    const started = performance.now();
    const looped = await p.run(task({ jobId: 'loop', code: '() => { for (;;); }', timeoutMs: 300 }));
    const elapsed = performance.now() - started;
    expect(looped?.outcome).toEqual({ ok: false, code: 'timeout', message: 'the run took longer than timeoutMs (300 ms)' });
    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(1500);
    expect(p.threadsStarted).toBe(2); // the looping thread was replaced
    await expect(p.run(task({ input: 12 }))).resolves.toMatchObject({ outcome: { ok: true, json: '144' } });
    // An async run that never settles cannot be interrupted from inside: the pool still ends it.
    await expect(p.run(task({ jobId: 'hang', code: '() => new Promise(() => {})', timeoutMs: 200 }))).resolves.toMatchObject({
      outcome: { ok: false, code: 'timeout' },
    });
  });

  it('stops later runs of a job that timed out from inside the thread, without replacing it', async () => {
    const p = pool(1);
    const loop = task({ jobId: 'loop', code: '() => { for (;;); }', timeoutMs: 300 });
    await p.run(loop);
    await p.run(task()); // the replacement thread is ready
    const before = p.threadsStarted;
    await expect(p.run(loop)).resolves.toMatchObject({ outcome: { ok: false, code: 'timeout' } });
    expect(p.threadsStarted).toBe(before);
  });

  it('ends code that allocates without bound as work_error naming the memory limit, and keeps working', async () => {
    const p = pool(1, 64);
    const hog = await p.run(task({ jobId: 'hog', code: '() => { const a = []; for (;;) a.push(new Array(1e5).fill(1)); }', timeoutMs: 20_000 }));
    expect(hog?.outcome).toEqual({ ok: false, code: 'work_error', message: 'the run exhausted the worker memory limit (64 MiB)' });
    await expect(p.run(task({ input: 5 }))).resolves.toMatchObject({ outcome: { ok: true, json: '25' } });
  });

  it('gives job code no require, process or fetch', async () => {
    const p = pool(1);
    const result = await p.run(task({ jobId: 'probe', code: '() => [typeof require, typeof process, typeof fetch]' }));
    expect(result?.outcome).toEqual({ ok: true, json: '["undefined","undefined","undefined"]' });
  });

  it('abandons queued and running inputs of an owner with null, leaving the others', async () => {
    const p = pool(1);
    const a = {};
    const b = {};
    const long = task({ jobId: 'slow', code: '() => new Promise(() => {})', timeoutMs: 10_000 });
    await p.run(task()); // the thread is ready, so the first run below starts at once
    const running = p.run(long, a);
    const queuedA = p.run(task(), a);
    const queuedB = p.run(task({ input: 4 }), b);
    await dispatched();
    expect(p.running).toBe(1);
    expect(p.abandon((_t, owner) => owner === a, { running: false })).toBe(1);
    await expect(queuedA).resolves.toBeNull();
    expect(p.abandon((t) => t.jobId === 'slow', { running: true })).toBe(1);
    await expect(running).resolves.toBeNull();
    await expect(queuedB).resolves.toMatchObject({ outcome: { ok: true, json: '16' } });
  });
  it('sends inputs to a thread in batches, one message per chunk, each input once and in order, with the next batch already posted', async () => {
    const p = pool(1);
    await p.run(task()); // the thread has the code loaded
    const before = p.batchesPosted;
    const order: number[] = [];
    const runs = Array.from({ length: 500 }, (_, i) =>
      p.run(task({ input: i })).then((r) => {
        order.push(i);
        return r;
      }),
    );
    await dispatched();
    // One batch running, the next already posted behind it, the rest queued here. (A batch is about 25 ms of work at
    // the measured pace, at most 64 inputs: on a loaded machine a trivial run may measure slow enough to make it fewer.)
    expect(p.running).toBe(1);
    expect(p.batchesPosted - before).toBe(2);
    expect(p.queued).toBeGreaterThanOrEqual(500 - 2 * 64);
    expect(p.queued).toBeLessThan(500 - 2 * 10);
    const results = await Promise.all(runs);
    expect(results.map((r) => r?.outcome)).toEqual(Array.from({ length: 500 }, (_, i) => ({ ok: true, json: String(i * i) })));
    expect(order).toEqual(Array.from({ length: 500 }, (_, i) => i));
    // Trivial runs: large batches, so a few messages for 500 inputs (9 when each holds the 64 allowed).
    expect(p.batchesPosted - before).toBeLessThan(500 / 10);
    expect(results.every((r) => r !== null && r.runMs >= 0 && r.runMs < 1000)).toBe(true);
  });

  it('fails only the input that timed out inside a batch; the batch’s other inputs run on the replacement thread', async () => {
    const p = pool(1);
    const code = '(n) => { if (n === 0) for (;;); return n * 10; }';
    await p.run(task({ jobId: 'mixed', code, input: 1, timeoutMs: 400 })); // loaded
    const before = p.batchesPosted;
    const runs = [5, 6, 0, 7, 8].map((input) => p.run(task({ jobId: 'mixed', code, input, timeoutMs: 400 })));
    await dispatched();
    expect(p.batchesPosted - before).toBe(1); // all five in one batch
    const results = await Promise.all(runs);
    expect(results.map((r) => r?.outcome)).toEqual([
      { ok: true, json: '50' },
      { ok: true, json: '60' },
      { ok: false, code: 'timeout', message: 'the run took longer than timeoutMs (400 ms)' },
      { ok: true, json: '70' },
      { ok: true, json: '80' },
    ]);
    expect(p.threadsStarted).toBe(2);
  });

  it('times each input of a batch from its own start, not from the batch’s', async () => {
    const p = pool(1);
    // Five inputs of 150 ms in one batch: 750 ms in all, each well within its 400 ms.
    const code = '(n) => { const end = Date.now() + 150; while (Date.now() < end); return n; }';
    await p.run(task({ jobId: 'steady', code, input: 1, timeoutMs: 400 }));
    const results = await Promise.all([1, 2, 3, 4, 5].map((input) => p.run(task({ jobId: 'steady', code, input, timeoutMs: 400 }))));
    expect(results.map((r) => r?.outcome)).toEqual([1, 2, 3, 4, 5].map((n) => ({ ok: true, json: String(n) })));
    expect(results.every((r) => r !== null && r.runMs >= 145)).toBe(true);
    expect(p.threadsStarted).toBe(1);
  });

  it('runs a posted next run again on a new thread when the running one times out, and times each from its own start', async () => {
    const p = pool(1);
    const code = '(n) => { if (n === 0) for (;;); const end = Date.now() + 150; while (Date.now() < end); return n; }';
    await p.run(task({ jobId: 'mixed', code, input: 1, timeoutMs: 400 })); // loaded
    const stuck = p.run(task({ jobId: 'mixed', code, input: 0, timeoutMs: 400 }));
    const behind = p.run(task({ jobId: 'mixed', code, input: 2, timeoutMs: 400 }));
    await dispatched();
    expect(p.queued).toBe(0); // posted with the stuck run
    await expect(stuck).resolves.toMatchObject({ outcome: { ok: false, code: 'timeout' } });
    // Not failed with the stuck run's thread: it ran on the replacement.
    await expect(behind).resolves.toMatchObject({ outcome: { ok: true, json: '2' } });
    expect(p.threadsStarted).toBe(2);
  });

  it('reports a posted next run of an abandoned job as null and never runs it again', async () => {
    const p = pool(1);
    await p.run(task());
    const first = p.run(task({ input: 4, code: '(n) => { const end = Date.now() + 200; while (Date.now() < end); return n * n; }', jobId: 'slow' }));
    await p.run(task({ input: 0 })); // another job in between, so 'slow' is loaded next time
    const a = p.run(task({ jobId: 'slow', code: '(n) => { const end = Date.now() + 200; while (Date.now() < end); return n * n; }', input: 5 }));
    const b = p.run(task({ jobId: 'slow', code: '(n) => { const end = Date.now() + 200; while (Date.now() < end); return n * n; }', input: 6 }));
    await first;
    expect(p.abandon((t) => t.jobId === 'slow', { running: false })).toBeGreaterThanOrEqual(1);
    const [ra, rb] = await Promise.all([a, b]);
    // The running one finishes (running: false), the posted next one is abandoned.
    expect([ra, rb].filter((r) => r === null)).toHaveLength(1);
  });
});
