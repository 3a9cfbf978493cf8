/** WorkService cases that need the SQLite engine's hooks: aggregation steps, a failing store, result order, verified jobs (the engine-independent cases are in work-service.case.test.ts). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type JobSpec, type RunResult } from '@edgeswarm/shared';
import { ManualClock } from '../clock.ts';
import { SqliteJobStore } from '../store/sqlite-job-store.ts';
import { sqliteStore } from '../store/async-store.ts';
import { StoreUnavailableError } from '../store/job-store.ts';
import { WorkService, type DeviceConnection, type WorkEvents } from './work-service.ts';

const TTL = 20_000;
let dir: string;
let store: SqliteJobStore;
let clock: ManualClock;
let work: WorkService;
let stopped: string[];
let threads: number;

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

function service(options: { tailCopies?: boolean } = {}): WorkService {
  const events: WorkEvents = {
    jobStopped: (id) => stopped.push(id),
    workAvailable: () => {},
    subtasksCompleted: () => {},
    jobFinished: () => {},
  };
  return new WorkService({ store: sqliteStore(store), clock, events, fleetThreads: () => threads, leaseTtlMs: TTL, slowStart: false, ...options });
}

const dev = (n: number): DeviceConnection => ({ deviceId: `device-${n}`, connId: `conn-${n}`, threads: 4 });
const ok = (index: number, value: unknown): RunResult => ({ index, ok: true, json: JSON.stringify(value) });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-work-'));
  store = new SqliteJobStore(join(dir, 'edgeswarm.db'));
  clock = new ManualClock();
  stopped = [];
  threads = 0;
  work = service();
  for (const n of [1, 2, 3]) store.registerDevice({ id: dev(n).deviceId, kind: 'node', name: '', threads: 1, now: clock.now() });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('WorkService leases', () => {
  it('aggregates a big job in steps that yield to the event loop, then completes it', async () => {
    const steps: (() => void)[] = [];
    work = new WorkService({
      store: sqliteStore(store),
      clock,
      fleetThreads: () => 0,
      events: { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: () => {}, jobFinished: () => {} },
      defer: (step) => steps.push(step),
      aggregationChunk: 3,
      slowStart: false,
    });
    const job = store.createJob(spec({ code: '(n) => n', inputs: { range: { start: 1, end: 11 } }, reduce: 'sum' }), clock.now());
    const grant = (await work.requestWork(dev(1), 10))!;
    await work.submitResults(dev(1), { leaseId: grant.leaseId, results: grant.items.map((it) => ok(it.index, it.input)) });
    expect(store.getJob(job.id)?.status).toBe('running');
    await work.sweep(); // a sweep during aggregation does not start a second one
    await nextTurn();
    let ran = 0;
    while (steps.length > 0) {
      steps.shift()!();
      ran++;
      await nextTurn();
    }
    await work.settled();
    expect(ran).toBe(3); // 10 results in chunks of 3: 3, 3, 3, then 1 with the completion in the last step
    expect(store.getJob(job.id)).toMatchObject({ status: 'completed', result: 55 });
  });

  it('survives a store failure in a deferred aggregation step: reported, not thrown, and the next sweep completes the job', async () => {
    const steps: (() => void)[] = [];
    const reported: string[] = [];
    let failNext = false;
    // The store fails once, in the second step, as a disk that is briefly full or locked would.
    const flaky = new Proxy(store, {
      get(target, prop) {
        if (prop === 'resultsChunk') {
          return (jobId: string, from: number, limit: number) => {
            if (failNext) {
              failNext = false;
              throw new StoreUnavailableError('the database is locked');
            }
            return target.resultsChunk(jobId, from, limit);
          };
        }
        return Reflect.get(target, prop, target) as unknown;
      },
    });
    work = new WorkService({
      store: sqliteStore(flaky),
      clock,
      fleetThreads: () => 0,
      events: { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: () => {}, jobFinished: () => {} },
      defer: (step) => steps.push(step),
      aggregationChunk: 3,
      slowStart: false,
      onBackgroundError: (what) => reported.push(what),
    });
    const job = store.createJob(spec({ code: '(n) => n', inputs: { range: { start: 1, end: 11 } }, reduce: 'sum' }), clock.now());
    const grant = (await work.requestWork(dev(1), 10))!;
    await work.submitResults(dev(1), { leaseId: grant.leaseId, results: grant.items.map((it) => ok(it.index, it.input)) });
    await nextTurn(); // the first step read its chunk and waits for its turn
    failNext = true;
    expect(() => steps.shift()!()).not.toThrow();
    await work.settled();
    expect(reported).toEqual([`finalizing job ${job.id} failed; the next sweep tries again`]);
    expect(store.getJob(job.id)?.status).toBe('running');
    await work.sweep();
    for (let turn = 0; turn < 10; turn++) {
      await nextTurn();
      steps.shift()?.();
    }
    await work.settled();
    expect(store.getJob(job.id)).toMatchObject({ status: 'completed', result: 55 });
  });

  it('gives the same sum whatever order results arrive in', async () => {
    const values = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? 1e15 : 0.1 * i) * (i % 2 ? -1 : 1));
    const sums: unknown[] = [];
    for (const order of [identity, reverse, interleave]) {
      const job = store.createJob(spec({ code: '(x) => x', inputs: values, reduce: 'sum' }), clock.now());
      threads = 0;
      const grants = [];
      for (;;) {
        const g = await work.requestWork(dev(1), 7);
        if (!g) break;
        grants.push(g);
      }
      for (const g of order(grants)) {
        await work.submitResults(dev(1), { leaseId: g.leaseId, results: order(g.items).map((it) => ok(it.index, it.input)) });
      }
      await work.settled();
      const done = store.getJob(job.id)!;
      expect(done.status).toBe('completed');
      sums.push(done.result);
    }
    expect(new Set(sums).size).toBe(1);
  });
});

function identity<T>(xs: T[]): T[] {
  return xs;
}
function reverse<T>(xs: T[]): T[] {
  return [...xs].reverse();
}
/** One turn of the event loop: work started without a caller goes on until it waits for its next step. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function interleave<T>(xs: T[]): T[] {
  return [...xs.filter((_, i) => i % 2), ...xs.filter((_, i) => i % 2 === 0)];
}

describe('WorkService with verified jobs', () => {
  it('runs again the unchecked results that broke an aggregate, instead of failing the adaptive job', async () => {
    store.close();
    store = new SqliteJobStore(join(dir, 'edgeswarm.db'), { random: () => 0.5 }); // never a spot check
    work = service();
    // device-1 has a long record of valid results: it gets single runs.
    store.db.prepare('UPDATE devices SET streak = 100 WHERE id = ?').run('device-1');
    const job = store.createJob(spec({ code: '(n) => n', inputs: [1, 2], reduce: 'sum', verify: 'adaptive' }), clock.now());
    const grant = await work.requestWork(dev(1), 2);
    expect(grant?.items).toHaveLength(2);
    await work.submitResults(dev(1), { leaseId: grant!.leaseId, results: [ok(0, 1e308), ok(1, 1e308)] });
    await work.settled();
    expect(store.getJob(job.id)).toMatchObject({ status: 'running', progress: { completed: 0 }, rechecked: 2 });
    for (const n of [2, 3]) {
      const g = await work.requestWork(dev(n), 2);
      await work.submitResults(dev(n), { leaseId: g!.leaseId, results: g!.items.map((it) => ok(it.index, it.input)) });
    }
    await work.settled();
    expect(store.getJob(job.id)).toMatchObject({ status: 'completed', result: 3 });
  });
});
