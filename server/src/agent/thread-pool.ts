/**
 * The agent's worker_threads pool: started on first use, one run at a time per thread with the next
 * run of the same job already posted (so a thread never waits on the main thread between runs), each
 * run bounded by its timeoutMs and the thread's memory limits.
 */
import { Worker } from 'node:worker_threads';
import { errorText, type JsonValue, type RunOutcome, type WorkSource } from '@edgeswarm/shared';
import { timeoutOutcome } from './job-sandbox.ts';
import type { FromWorker, RunRequest } from './worker-protocol.ts';

export interface PoolTask {
  jobId: string;
  /** Inline job code; ignored when `work` is given. */
  code: string;
  /** The job's work (a bundle, shared files) as built from its blobs; default: `code` alone. */
  work?: WorkSource;
  timeoutMs: number;
  input: JsonValue;
}

/** `null` when the run was abandoned (job stopped, device stopping, pool closed): nothing is to be reported for it. */
export type PoolResult = { outcome: RunOutcome; runMs: number } | null;

/** What a device session needs from the pool; `owner` tells one device's runs from another's in a shared pool. */
export interface RunPool {
  run(task: PoolTask, owner?: unknown): Promise<PoolResult>;
  /** Resolves matching runs to `null`: queued ones always, running ones (their threads are replaced) with `running: true`. */
  abandon(match: (task: PoolTask, owner: unknown) => boolean, options: { running: boolean }): number;
}

export interface MemoryLimits {
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb: number;
  stackSizeMb: number;
}

export const DEFAULT_MEMORY_MB = 256;

/** Limits for a heap of `heapMb` MiB; the young generation and the stack stay small. */
export function memoryLimits(heapMb: number = DEFAULT_MEMORY_MB): MemoryLimits {
  return { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, Math.floor(heapMb / 8))), stackSizeMb: 4 };
}

export function outOfMemoryOutcome(heapMb: number): RunOutcome {
  return { ok: false, code: 'work_error', message: `the run exhausted the worker memory limit (${heapMb} MiB)` };
}

export interface ThreadPoolOptions {
  threads: number;
  memory?: MemoryLimits;
  /**
   * When to also stop the synchronous part of a call from inside its thread (`vm` timeout), which
   * keeps the thread instead of replacing it. A `vm` timeout costs about 0.15 ms per run (a
   * watchdog thread per call, which more than halves the throughput of tiny runs), while replacing
   * a thread costs a few hundred ms once; so by default it is used only for the runs of a job that
   * has already timed out in this pool. Evaluating a job's code is always bounded this way.
   * The pool terminates a run's thread at timeoutMs in every other case (asynchronous code, code
   * without a `vm` timeout), and at timeoutMs + 100 ms if a `vm` timeout did not end the run.
   * @defaultValue 'after-timeout'
   */
  vmTimeout?: 'always' | 'after-timeout' | 'never';
  /** Called once if threads keep failing to start (after which every run resolves to `null`). */
  onFatal?: (err: Error) => void;
  /** @defaultValue ./job-worker.mjs */
  workerUrl?: URL;
}

interface Queued {
  task: PoolTask;
  owner: unknown;
  resolve: (result: PoolResult) => void;
}

interface Running extends Queued {
  id: number;
  startedAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  vmTimeout: boolean;
  /** Reported as abandoned while posted as a next run: never run again. */
  abandoned?: boolean;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Set once we terminate the worker or it died: its later events are ignored. */
  gone: boolean;
  /** Job whose code the worker has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  running: Running | null;
  /** Posted behind `running` (same job, code loaded): starts in the thread as soon as `running` ends; its timer starts then. */
  next: Running | null;
}

/**
 * With a `vm` timeout the thread reports a synchronous overrun itself at timeoutMs; the pool waits
 * this much longer before terminating it, so a busy event loop does not cost a thread.
 */
const VM_TIMEOUT_GRACE_MS = 100;

/** Threads that die before they are ready, in a row, before the pool gives up. */
const MAX_START_FAILURES = 3;

export class ThreadPool implements RunPool {
  private readonly slots: Slot[] = [];
  private queue: Queued[] = [];
  private readonly memory: MemoryLimits;
  private readonly workerUrl: URL;
  /** Jobs that had a run time out here: their runs get a `vm` timeout too (see `vmTimeout`). */
  private readonly timedOutJobs = new Set<string>();
  private nextId = 1;
  private spawned = 0;
  private startFailures = 0;
  private started = false;
  private closed = false;

  constructor(private readonly options: ThreadPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new RangeError('threads must be a positive integer');
    this.memory = options.memory ?? memoryLimits();
    this.workerUrl = options.workerUrl ?? new URL('./job-worker.mjs', import.meta.url);
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Threads started so far, replacements included. */
  get threadsStarted(): number {
    return this.spawned;
  }

  /** Runs in threads now. */
  get running(): number {
    return this.slots.filter((s) => s.running !== null).length;
  }

  /** Runs waiting for a thread. */
  get queued(): number {
    return this.queue.length;
  }

  run(task: PoolTask, owner?: unknown): Promise<PoolResult> {
    if (this.closed) return Promise.resolve(null);
    if (!this.started) this.start();
    return new Promise<PoolResult>((resolve) => {
      this.queue.push({ task, owner, resolve });
      this.dispatch();
    });
  }

  abandon(match: (task: PoolTask, owner: unknown) => boolean, options: { running: boolean }): number {
    let stopped = 0;
    const kept: Queued[] = [];
    for (const q of this.queue) {
      if (match(q.task, q.owner)) {
        q.resolve(null);
        stopped++;
      } else {
        kept.push(q);
      }
    }
    this.queue = kept;
    for (const slot of [...this.slots]) {
      // A posted next run counts as queued: it is reported as abandoned now, and its result is ignored.
      const next = slot.next;
      if (next && !next.abandoned && match(next.task, next.owner)) {
        next.abandoned = true;
        next.resolve(null);
        stopped++;
      }
      const run = slot.running;
      if (options.running && run && match(run.task, run.owner)) {
        this.finish(slot, null);
        this.replace(slot);
        stopped++;
      }
    }
    this.dispatch();
    return stopped;
  }

  /** Abandons everything and terminates every thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queue) q.resolve(null);
    this.queue = [];
    const exits: Promise<number>[] = [];
    for (const slot of this.slots) {
      slot.next?.resolve(null);
      slot.next = null;
      if (slot.running) this.finish(slot, null);
      slot.gone = true;
      exits.push(slot.worker.terminate());
    }
    this.slots.length = 0;
    await Promise.allSettled(exits);
  }

  private start(): void {
    this.started = true;
    for (let i = 0; i < this.options.threads; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    this.spawned++;
    const worker = new Worker(this.workerUrl, {
      // Not the parent's flags: tsx is loaded by the entry itself, and nothing else is wanted in job threads.
      execArgv: [],
      resourceLimits: this.memory,
      name: 'edgeswarm-job',
      stdout: false,
      stderr: false,
    });
    const slot: Slot = { worker, ready: false, gone: false, loadedJobId: null, running: null, next: null };
    worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
    worker.on('error', (err) => this.onGone(slot, err));
    worker.on('exit', (code) => this.onGone(slot, new Error(`the worker thread exited with code ${code}`)));
    return slot;
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (slot.gone) return;
    if (message.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      this.dispatch();
      return;
    }
    const run = slot.running;
    if (!run || run.id !== message.id) return;
    slot.loadedJobId = message.loaded ? run.task.jobId : null;
    if (!message.outcome.ok && message.outcome.code === 'timeout') this.noteTimeout(run.task.jobId);
    this.finish(slot, { outcome: message.outcome, runMs: performance.now() - run.startedAt });
    // The thread lost the job's code: the run posted behind (sent without code) would fail for that alone.
    if (!message.loaded) this.requeueNext(slot);
    this.promote(slot);
    this.dispatch();
  }

  /** The thread died: out of memory, a crash, or it could not start. */
  private onGone(slot: Slot, err: Error): void {
    if (slot.gone || this.closed) return;
    const run = slot.running;
    if (run) {
      const outcome =
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? outOfMemoryOutcome(this.memory.maxOldGenerationSizeMb)
          : ({ ok: false, code: 'work_error', message: `the worker thread died: ${errorText(err)}` } as const);
      this.finish(slot, { outcome, runMs: performance.now() - run.startedAt });
    }
    this.requeueNext(slot);
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      slot.gone = true;
      void this.close();
      this.options.onFatal?.(new Error(`could not start a job worker thread: ${errorText(err)}`));
      return;
    }
    this.replace(slot);
    this.dispatch();
  }

  private dispatch(): void {
    // Idle threads first, then a next run behind each running one.
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.running || slot.gone) continue;
      const next = this.queue.shift();
      if (next) slot.running = this.post(slot, next, true);
    }
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      const run = slot.running;
      if (!run || slot.next || slot.gone || run.vmTimeout || slot.loadedJobId !== run.task.jobId) continue;
      // Only the same job's runs: its code is loaded, and a job that ever timed out here runs one at a time.
      const index = this.queue.findIndex((q) => q.task.jobId === run.task.jobId);
      if (index < 0 || this.useVmTimeout(run.task.jobId)) continue;
      const [next] = this.queue.splice(index, 1);
      if (next) slot.next = this.post(slot, next, false);
    }
  }

  /** The running run ended: the posted next one has started in the thread. */
  private promote(slot: Slot): void {
    const next = slot.next;
    if (!next || slot.running) return;
    slot.next = null;
    next.startedAt = performance.now();
    next.timer = this.startTimer(slot, next);
    slot.running = next;
  }

  /** The thread is being replaced or died: a posted next run goes back to the front of the queue. */
  private requeueNext(slot: Slot): void {
    const next = slot.next;
    slot.next = null;
    if (next && !next.abandoned) this.queue.unshift({ task: next.task, owner: next.owner, resolve: next.resolve });
  }

  private startTimer(slot: Slot, run: Running): ReturnType<typeof setTimeout> {
    const { task, id } = run;
    return setTimeout(() => {
      if (slot.running?.id !== id) return;
      this.noteTimeout(task.jobId);
      this.finish(slot, { outcome: timeoutOutcome(task.timeoutMs), runMs: task.timeoutMs });
      this.replace(slot); // terminating is the only way to stop code that never yields
      this.dispatch();
    }, task.timeoutMs + (run.vmTimeout ? VM_TIMEOUT_GRACE_MS : 0));
  }

  /** Posts a run to the slot's thread; its timer starts now when it starts now (`startsNow`), else on promotion. */
  private post(slot: Slot, queued: Queued, startsNow: boolean): Running {
    const { task } = queued;
    const id = this.nextId++;
    const vmTimeout = this.useVmTimeout(task.jobId);
    const run: Running = { ...queued, id, startedAt: performance.now(), timer: null, vmTimeout };
    if (startsNow) run.timer = this.startTimer(slot, run);
    const request: RunRequest = {
      type: 'run',
      id,
      work: slot.loadedJobId === task.jobId ? null : (task.work ?? { code: task.code, bundle: null, shared: [] }),
      inputJson: JSON.stringify(task.input),
      timeoutMs: task.timeoutMs,
      vmTimeout,
    };
    slot.worker.postMessage(request);
    return run;
  }

  private useVmTimeout(jobId: string): boolean {
    const policy = this.options.vmTimeout ?? 'after-timeout';
    return policy === 'always' || (policy === 'after-timeout' && this.timedOutJobs.has(jobId));
  }

  private noteTimeout(jobId: string): void {
    if (this.timedOutJobs.size >= 1000) this.timedOutJobs.clear();
    this.timedOutJobs.add(jobId);
  }

  private finish(slot: Slot, result: PoolResult): void {
    const run = slot.running;
    if (!run) return;
    slot.running = null;
    if (run.timer) clearTimeout(run.timer);
    run.resolve(result);
  }

  private replace(slot: Slot): void {
    this.requeueNext(slot);
    slot.gone = true;
    void slot.worker.terminate();
    const index = this.slots.indexOf(slot);
    if (index >= 0 && !this.closed) this.slots[index] = this.spawn();
  }
}
