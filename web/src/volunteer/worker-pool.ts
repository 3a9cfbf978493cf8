// Main thread: a fixed number of job-code runners, one input running per runner with the next input of the same job
// already posted behind it (so a runner does not wait on this thread between runs), each run bounded by the job's
// timeoutMs; or a batch of one job's inputs per runner (one call for all of them), bounded by one timeoutMs.
import { errorText, type JsonValue, type RunOutcome, type WorkSource } from '@edgeswarm/shared';
import type { BatchReport, LoadOutcome } from './runner.worker.ts';

/** One runner thread as the pool sees it; `createBrowserRunner` makes the real one, tests make in-process ones. */
export interface RunnerHandle {
  /** Settles when the thread can take calls; rejects if it failed to start. */
  ready: Promise<void>;
  /** Makes `work` what `run` runs; the handle copies its buffers (each runner gets its own). */
  load(work: WorkSource): Promise<LoadOutcome>;
  run(input: JsonValue): Promise<RunOutcome>;
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
 * One input of a batch: its outcome and its run time in the worker; null when abandoned; `again` when the batch ran
 * past the job's timeoutMs before it ended, so which input overran is not known: the runner was replaced, and the
 * input is to be queued again (the pool runs that job's inputs one at a time from then on, each timed on its own).
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

interface Run {
  jobId: string;
  settle(outcome: PoolOutcome): void;
}

/** An input posted to a runner behind its running input: the runner starts it as soon as that one ends. */
interface Next {
  task: PoolTask;
  handle: RunnerHandle;
  outcome: Promise<RunOutcome>;
  resolve: (outcome: PoolOutcome) => void;
}

interface Slot {
  handle: RunnerHandle;
  /** Job whose code the runner has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  /** Owner of the code this runner has run; undefined for a fresh runner. */
  usedBy: string | null | undefined;
  run: Run | null;
  next: Next | null;
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

  /** Inputs posted behind running ones. */
  get posted(): number {
    return this.slots.filter((s) => s.next !== null).length;
  }

  /** Runs one input on an idle runner; throws if none is idle (callers check `idle` first). */
  run(task: PoolTask): Promise<PoolOutcome> {
    const slot = this.slots.find((s) => s.run === null);
    if (!slot) throw new Error('WorkerPool.run called with no idle runner');
    return new Promise<PoolOutcome>((resolve) => this.start(slot, task, resolve, null));
  }

  /**
   * Posts `task` to a runner that is running an input of the same job and has its code loaded, behind
   * that input; null when no runner can take it (then wait for an idle one). Its time budget starts
   * when it starts.
   */
  runNext(task: PoolTask): Promise<PoolOutcome> | null {
    const slot = this.slots.find((s) => s.run !== null && s.next === null && s.run.jobId === task.jobId && s.loadedJobId === task.jobId);
    if (!slot) return null;
    return new Promise<PoolOutcome>((resolve) => {
      const handle = slot.handle;
      // Posted now: the runner takes it as soon as the input ahead of it ends.
      const outcome = Promise.resolve().then(() => handle.run(task.input));
      outcome.catch(() => {}); // settled through the run it becomes (or dropped with its runner)
      slot.next = { task, handle, outcome, resolve };
    });
  }

  /** Whether inputs of `jobId` may run in batches (none of its batches ran over time here). */
  canBatch(jobId: string): boolean {
    return !this.unbatched.has(jobId);
  }

  /**
   * Runs inputs of one job (and one owner) on an idle runner in one call; throws if none is idle. The batch is bounded
   * by the job's timeoutMs as a whole: callers size it to a fraction of that (see `BatchOutcome`).
   */
  runBatch(tasks: PoolTask[]): Promise<BatchOutcome>[] {
    const slot = this.slots.find((s) => s.run === null);
    if (!slot) throw new Error('WorkerPool.runBatch called with no idle runner');
    const first = tasks[0];
    if (!first) return [];
    const resolvers: ((outcome: BatchOutcome) => void)[] = [];
    const promises = tasks.map((_t) => new Promise<BatchOutcome>((resolve) => resolvers.push(resolve)));
    let timer: unknown = null;
    const finish = (outcomes: (i: number) => BatchOutcome) => {
      if (slot.run !== run) return false;
      slot.run = null;
      if (timer !== null) this.timers.clearTimeout(timer);
      resolvers.forEach((resolve, i) => resolve(outcomes(i)));
      this.promote(slot);
      return true;
    };
    const run: Run = { jobId: first.jobId, settle: (outcome) => void finish(() => (outcome === null ? null : { outcome, ms: 0 })) };
    slot.run = run;
    const owner = first.owner ?? null;
    if (slot.usedBy !== undefined && slot.usedBy !== owner) this.replace(slot); // a fresh runner per owner
    slot.usedBy = owner;
    const handle = slot.handle;
    for (const task of tasks) task.onStart?.();
    timer = this.timers.setTimeout(() => {
      if (slot.run !== run) return;
      this.unbatched.add(first.jobId);
      this.replace(slot);
      finish(() => 'again');
    }, first.timeoutMs);
    const execute = async () => {
      await handle.ready;
      if (slot.run !== run) return null;
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
        if (reports) finish((i) => reports[i] ?? { outcome: { ok: false, code: 'work_error', message: 'the worker reported no outcome for this input' }, ms: 0 });
      },
      (err: unknown) => {
        if (slot.run === run && slot.handle === handle) this.replace(slot);
        const outcome: RunOutcome = { ok: false, code: 'work_error', message: `the device could not run this input: ${errorText(err)}` };
        finish(() => ({ outcome, ms: 0 }));
      },
    );
    return promises;
  }

  /** Runs `task` on `slot` now: on the runner it was already posted to (`posted`), or loading and running it. */
  private start(slot: Slot, task: PoolTask, resolve: (outcome: PoolOutcome) => void, posted: Promise<RunOutcome> | null): void {
    let timer: unknown = null;
    const run: Run = {
      jobId: task.jobId,
      settle: (outcome) => {
        if (slot.run !== run) return; // already settled, timed out or abandoned
        slot.run = null;
        if (timer !== null) this.timers.clearTimeout(timer);
        resolve(outcome);
        this.promote(slot);
      },
    };
    slot.run = run;
    const owner = task.owner ?? null;
    if (!posted && slot.usedBy !== undefined && slot.usedBy !== owner) this.replace(slot); // a fresh runner per owner
    slot.usedBy = owner;
    const handle = slot.handle;
    task.onStart?.();
    // The budget covers starting the runner too, so a runner that never becomes ready cannot hold the run forever.
    timer = this.timers.setTimeout(() => {
      if (slot.run !== run) return;
      this.replace(slot);
      run.settle(timeoutOutcome(task.timeoutMs));
    }, task.timeoutMs);
    const execute = async (): Promise<RunOutcome> => {
      if (posted) return posted;
      await handle.ready;
      if (slot.run !== run) return timeoutOutcome(task.timeoutMs); // abandoned while starting; ignored
      if (slot.loadedJobId !== task.jobId) {
        slot.loadedJobId = null;
        const loaded = await handle.load(task.work ?? { code: task.code, bundle: null, shared: [] });
        if (!loaded.ok) return { ok: false, code: 'work_error', message: `the job code failed to compile: ${loaded.message}` };
        if (slot.handle === handle) slot.loadedJobId = task.jobId;
      }
      return handle.run(task.input);
    };
    execute().then(
      (outcome) => run.settle(outcome),
      (err: unknown) => {
        // The runner could not start, or the input or result could not cross the thread boundary:
        // start a fresh runner so one broken thread does not fail every later run.
        if (slot.run === run && slot.handle === handle) this.replace(slot);
        run.settle({ ok: false, code: 'work_error', message: `the device could not run this input: ${errorText(err)}` });
      },
    );
  }

  /** The run ahead ended: the posted next input starts (on a fresh runner, loading again, if that one was replaced). */
  private promote(slot: Slot): void {
    const next = slot.next;
    if (!next || slot.run !== null) return;
    slot.next = null;
    this.start(slot, next.task, next.resolve, slot.handle === next.handle ? next.outcome : null);
  }

  /** Stops every run of `jobId` at once; their promises resolve to `null`. Returns how many were stopped. */
  abandonJob(jobId: string): number {
    return this.abandonWhere((run) => run.jobId === jobId);
  }

  abandonAll(): number {
    return this.abandonWhere(() => true);
  }

  dispose(): void {
    this.abandonAll();
    for (const slot of this.slots) slot.handle.terminate();
    this.slots.length = 0;
  }

  private abandonWhere(match: (run: Run) => boolean): number {
    let stopped = 0;
    for (const slot of this.slots) {
      const next = slot.next;
      if (next && match({ jobId: next.task.jobId, settle: () => {} })) {
        slot.next = null;
        next.resolve(null);
        stopped++;
      }
      const run = slot.run;
      if (run && match(run)) {
        this.replace(slot);
        run.settle(null);
        stopped++;
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
