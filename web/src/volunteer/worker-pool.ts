// Main thread: a fixed number of job-code runners, each running a batch of one job's inputs (one call for all of them,
// bounded by the job's timeoutMs; a single input is a batch of one) with the next batch of the same job already posted
// behind it, so a runner does not wait on this thread between batches.
import { RUN_ERROR_CODES, errorText, type JsonValue, type RunErrorCode, type RunOutcome, type WorkSource } from '@edgeswarm/shared';
import type { BatchReport, LoadOutcome } from './runner.worker.ts';

/** One runner thread as the pool sees it; `createBrowserRunner` makes the real one, tests make in-process ones. */
export interface RunnerHandle {
  /** Settles when the thread can take calls; rejects if it failed to start. */
  ready: Promise<void>;
  /** Makes `work` what `runBatch` runs; the handle copies its buffers (each runner gets its own). */
  load(work: WorkSource): Promise<LoadOutcome>;
  /** Runs several inputs one after the other: one call for all of them, each with its run time in the worker. */
  runBatch(inputs: JsonValue[]): Promise<BatchReport[]>;
  /** Stops the thread at once, even in the middle of an endless loop. */
  terminate(): void;
}

export interface PoolTask {
  jobId: string;
  /** Inline job code; ignored when `work` is given. */
  code: string;
  /** The job's work (a bundle, shared files) as built from its blobs; default: `code` alone. */
  work?: WorkSource;
  timeoutMs: number;
  input: JsonValue;
  /** Called when the run starts on its runner (at once, or when the run ahead of it ends). */
  onStart?: () => void;
  /**
   * Who submitted the job (a submitter's name; null for the hub's operator). A runner only ever runs code of one
   * owner: job code of one submitter could otherwise watch or answer another's calls in a shared runner.
   */
  owner?: string | null;
}

/** `null` when the run was abandoned (job stopped, pause, shutdown): nothing is to be reported for it. */
export type PoolOutcome = RunOutcome | null;

/**
 * One input of a batch: its outcome and its run time in the worker; null when abandoned; `again` when a batch of
 * several ran past the job's timeoutMs before it ended, so which input overran is not known: the runner was replaced,
 * and the input is to be queued again (the pool runs that job's inputs one at a time from then on, each timed on its
 * own). A batch of one that overruns has that input's `timeout` outcome.
 */
export type BatchOutcome = { outcome: RunOutcome; ms: number } | null | 'again';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function timeoutOutcome(timeoutMs: number): RunOutcome {
  return { ok: false, code: 'timeout', message: `the run took longer than timeoutMs (${timeoutMs} ms)` };
}

/** Inputs of one job run in one call on a runner: running, or posted behind the running batch. */
interface Batch {
  jobId: string;
  tasks: PoolTask[];
  /** A batch of one is timed as that input (a timeout is its outcome); a longer one gives its inputs back (`again`). */
  settle(outcomes: BatchOutcome[] | null): void;
}

/** A batch posted to a runner behind its running batch: the runner starts it as soon as that one ends. */
interface Posted {
  batch: Batch;
  handle: RunnerHandle;
  reports: Promise<BatchReport[]>;
}

interface Slot {
  handle: RunnerHandle;
  /** Job whose code the runner has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  /** Owner of the code this runner has run; undefined for a fresh runner. */
  usedBy: string | null | undefined;
  run: Batch | null;
  next: Posted | null;
}

const noReport: BatchOutcome = { outcome: { ok: false, code: 'work_error', message: 'the worker reported no outcome for this input' }, ms: 0 };

const RUN_ERRORS: ReadonlySet<string> = new Set(RUN_ERROR_CODES);

/**
 * One input's report as the worker sent it, parsed from `unknown`: job code runs in that worker's realm and can forge
 * what it sends (a patched `performance.now`, a poisoned prototype). A run time is clamped to [0, timeoutMs] (a run
 * cannot last longer and still report), so a forged one cannot make the page rest for days under a CPU limit.
 */
export function parseReport(report: unknown, timeoutMs: number): BatchOutcome {
  if (typeof report !== 'object' || report === null) return noReport;
  const { outcome, ms } = report as { outcome?: unknown; ms?: unknown };
  const time = typeof ms === 'number' && Number.isFinite(ms) ? Math.min(Math.max(ms, 0), timeoutMs) : 0;
  if (typeof outcome !== 'object' || outcome === null) return noReport;
  const { ok, json, code, message } = outcome as { ok?: unknown; json?: unknown; code?: unknown; message?: unknown };
  if (ok === true && typeof json === 'string') return { outcome: { ok: true, json }, ms: time };
  if (ok === false && typeof code === 'string' && RUN_ERRORS.has(code) && typeof message === 'string') {
    return { outcome: { ok: false, code: code as RunErrorCode, message }, ms: time };
  }
  return noReport;
}

/** A single run's outcome from its batch of one. */
function single(outcomes: BatchOutcome[]): PoolOutcome {
  const [first] = outcomes;
  return first === null || first === undefined || first === 'again' ? null : first.outcome;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Jobs whose batch ran over time here: their inputs run one at a time. */
  private readonly unbatched = new Set<string>();

  constructor(
    size: number,
    private readonly createRunner: () => RunnerHandle,
    private readonly timers: Timers = realTimers,
  ) {
    for (let i = 0; i < size; i++) this.slots.push({ handle: createRunner(), loadedJobId: null, usedBy: undefined, run: null, next: null });
  }

  get size(): number {
    return this.slots.length;
  }

  get idle(): number {
    return this.slots.filter((s) => s.run === null).length;
  }

  get busy(): number {
    return this.size - this.idle;
  }

  /** Batches posted behind running ones. */
  get posted(): number {
    return this.slots.filter((s) => s.next !== null).length;
  }

  /** Inputs the runners hold: running, and posted behind those. */
  get inputs(): number {
    let count = 0;
    for (const slot of this.slots) count += (slot.run?.tasks.length ?? 0) + (slot.next?.batch.tasks.length ?? 0);
    return count;
  }

  /** Runs one input on an idle runner (a batch of one), bounded by its timeoutMs; throws if none is idle (callers check `idle` first). */
  run(task: PoolTask): Promise<PoolOutcome> {
    return this.runBatch([task]).then(single);
  }

  /** Whether inputs of `jobId` may run in batches (none of its batches ran over time here). */
  canBatch(jobId: string): boolean {
    return !this.unbatched.has(jobId);
  }

  /**
   * Runs inputs of one job (and one owner) on an idle runner in one call; throws if none is idle. The batch is bounded
   * by the job's timeoutMs as a whole: callers size it to a fraction of that (see `BatchOutcome`).
   */
  runBatch(tasks: PoolTask[]): Promise<BatchOutcome[]> {
    const slot = this.slots.find((s) => s.run === null);
    if (!slot) throw new Error('WorkerPool.runBatch called with no idle runner');
    return new Promise((resolve) => this.start(slot, this.batch(tasks, resolve), null));
  }

  /**
   * Posts a batch behind the running batch of a runner that runs the same job and has its code loaded: the runner
   * starts it as soon as that one ends, and its time budget starts then. Null when no runner can take it.
   */
  postBatch(tasks: PoolTask[]): Promise<BatchOutcome[]> | null {
    const jobId = tasks[0]?.jobId;
    const slot = this.slots.find((s) => s.run !== null && s.next === null && s.run.jobId === jobId && s.loadedJobId === jobId);
    if (!slot) return null;
    return new Promise((resolve) => {
      const handle = slot.handle;
      // Posted now: the worker runs it right after the batch ahead (its calls run in order).
      const reports = Promise.resolve().then(() => handle.runBatch(tasks.map((t) => t.input)));
      reports.catch(() => {}); // settled through the run it becomes (or dropped with its runner)
      slot.next = { batch: this.batch(tasks, resolve), handle, reports };
    });
  }

  /** A batch whose promise resolves to its outcomes (each null when abandoned). */
  private batch(tasks: PoolTask[], resolve: (outcomes: BatchOutcome[]) => void): Batch {
    return { jobId: tasks[0]?.jobId ?? '', tasks, settle: (outcomes) => resolve(outcomes ?? tasks.map(() => null)) };
  }

  /** Runs `batch` on `slot` now: on the runner it was already posted to (`posted`), or loading and running it. */
  private start(slot: Slot, batch: Batch, posted: Promise<BatchReport[]> | null): void {
    const { tasks } = batch;
    const first = tasks[0];
    if (!first) {
      batch.settle([]);
      return;
    }
    let timer: unknown = null;
    const settle = batch.settle;
    const finish = (outcomes: BatchOutcome[] | null): void => {
      if (slot.run !== batch) return; // already settled, timed out or abandoned
      slot.run = null;
      if (timer !== null) this.timers.clearTimeout(timer);
      settle(outcomes);
      this.promote(slot);
    };
    batch.settle = finish;
    slot.run = batch;
    const owner = first.owner ?? null;
    if (!posted && slot.usedBy !== undefined && slot.usedBy !== owner) this.replace(slot); // a fresh runner per owner
    slot.usedBy = owner;
    const handle = slot.handle;
    for (const task of tasks) task.onStart?.();
    // The budget covers starting the runner too, so a runner that never becomes ready cannot hold the run forever.
    timer = this.timers.setTimeout(() => {
      if (slot.run !== batch) return;
      this.replace(slot);
      if (tasks.length > 1) {
        this.unbatched.add(first.jobId);
        finish(tasks.map(() => 'again'));
      } else finish([{ outcome: timeoutOutcome(first.timeoutMs), ms: first.timeoutMs }]);
    }, first.timeoutMs);
    const execute = async (): Promise<BatchOutcome[] | null> => {
      if (posted) return posted;
      await handle.ready;
      if (slot.run !== batch) return null; // abandoned while starting; ignored
      if (slot.loadedJobId !== first.jobId) {
        slot.loadedJobId = null;
        const loaded = await handle.load(first.work ?? { code: first.code, bundle: null, shared: [] });
        if (!loaded.ok) {
          const outcome: RunOutcome = { ok: false, code: 'work_error', message: `the job code failed to compile: ${loaded.message}` };
          return tasks.map(() => ({ outcome, ms: 0 }));
        }
        if (slot.handle === handle) slot.loadedJobId = first.jobId;
      }
      return handle.runBatch(tasks.map((t) => t.input));
    };
    execute().then(
      (reports) => {
        if (reports) finish(tasks.map((_t, i) => parseReport(Array.isArray(reports) ? (reports as unknown[])[i] : undefined, first.timeoutMs)));
      },
      (err: unknown) => {
        // The runner could not start, or an input or result could not cross the thread boundary:
        // start a fresh runner so one broken thread does not fail every later run.
        if (slot.run === batch && slot.handle === handle) this.replace(slot);
        const outcome: RunOutcome = { ok: false, code: 'work_error', message: `the device could not run this input: ${errorText(err)}` };
        finish(tasks.map(() => ({ outcome, ms: 0 })));
      },
    );
  }

  /** The batch ahead ended: the posted one starts (on a fresh runner, loading again, if that one was replaced). */
  private promote(slot: Slot): void {
    const next = slot.next;
    if (!next || slot.run !== null) return;
    slot.next = null;
    this.start(slot, next.batch, slot.handle === next.handle ? next.reports : null);
  }

  /** Stops every run of `jobId` at once; their promises resolve to `null`. Returns how many inputs were stopped. */
  abandonJob(jobId: string): number {
    return this.abandonWhere((id) => id === jobId);
  }

  abandonAll(): number {
    return this.abandonWhere(() => true);
  }

  dispose(): void {
    this.abandonAll();
    for (const slot of this.slots) slot.handle.terminate();
    this.slots.length = 0;
  }

  private abandonWhere(match: (jobId: string) => boolean): number {
    let stopped = 0;
    for (const slot of this.slots) {
      const next = slot.next;
      if (next && match(next.batch.jobId)) {
        slot.next = null;
        next.batch.settle(null);
        stopped += next.batch.tasks.length;
      }
      const run = slot.run;
      if (run && match(run.jobId)) {
        this.replace(slot);
        run.settle(null);
        stopped += run.tasks.length;
      }
    }
    return stopped;
  }

  /** Terminating is the only way to stop code that never yields; a fresh runner takes the slot. */
  private replace(slot: Slot): void {
    slot.handle.terminate();
    slot.handle = this.createRunner();
    slot.loadedJobId = null;
    slot.usedBy = undefined;
  }
}
