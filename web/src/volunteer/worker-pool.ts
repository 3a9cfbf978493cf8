// Main thread: a fixed number of job-code runners, one input per runner at a time, each run bounded by the job's timeoutMs.
import { errorText, type JsonValue, type RunOutcome } from '@edgeswarm/shared';
import type { LoadOutcome } from './runner.worker.ts';

/** One runner thread as the pool sees it; `createBrowserRunner` makes the real one, tests make in-process ones. */
export interface RunnerHandle {
  /** Settles when the thread can take calls; rejects if it failed to start. */
  ready: Promise<void>;
  load(code: string): Promise<LoadOutcome>;
  run(input: JsonValue): Promise<RunOutcome>;
  /** Stops the thread at once, even in the middle of an endless loop. */
  terminate(): void;
}

export interface PoolTask {
  jobId: string;
  code: string;
  timeoutMs: number;
  input: JsonValue;
}

/** `null` when the run was abandoned (job stopped, pause, shutdown): nothing is to be reported for it. */
export type PoolOutcome = RunOutcome | null;

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

interface Slot {
  handle: RunnerHandle;
  /** Job whose code the runner has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  run: Run | null;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];

  constructor(
    size: number,
    private readonly createRunner: () => RunnerHandle,
    private readonly timers: Timers = realTimers,
  ) {
    for (let i = 0; i < size; i++) this.slots.push({ handle: createRunner(), loadedJobId: null, run: null });
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

  /** Runs one input on an idle runner; throws if none is idle (callers check `idle` first). */
  run(task: PoolTask): Promise<PoolOutcome> {
    const slot = this.slots.find((s) => s.run === null);
    if (!slot) throw new Error('WorkerPool.run called with no idle runner');
    return new Promise<PoolOutcome>((resolve) => {
      let timer: unknown = null;
      const run: Run = {
        jobId: task.jobId,
        settle: (outcome) => {
          if (slot.run !== run) return; // already settled, timed out or abandoned
          slot.run = null;
          if (timer !== null) this.timers.clearTimeout(timer);
          resolve(outcome);
        },
      };
      slot.run = run;
      const handle = slot.handle;
      // The budget covers starting the runner too, so a runner that never becomes ready cannot hold the run forever.
      timer = this.timers.setTimeout(() => {
        if (slot.run !== run) return;
        this.replace(slot);
        run.settle(timeoutOutcome(task.timeoutMs));
      }, task.timeoutMs);
      const execute = async (): Promise<RunOutcome> => {
        await handle.ready;
        if (slot.run !== run) return timeoutOutcome(task.timeoutMs); // abandoned while starting; ignored
        if (slot.loadedJobId !== task.jobId) {
          slot.loadedJobId = null;
          const loaded = await handle.load(task.code);
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
    });
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
  }
}
