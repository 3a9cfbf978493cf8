/**
 * The agent's worker_threads pool: started on first use; inputs go to a thread in batches (chunks of one job's
 * queued inputs, one message each way per chunk, with the next chunk of the same job already posted so a thread
 * never waits on the main thread), each input still bounded by its own timeoutMs (read from the thread's progress
 * in shared memory) and by the thread's memory limits.
 */
import { Worker } from 'node:worker_threads';
import { errorText, type JsonValue, type RunOutcome, type WorkSource } from '@edgeswarm/shared';
import { timeoutOutcome } from './job-sandbox.ts';
import { PROGRESS, sharedNow, type BatchRequest, type FromWorker, type RunReport } from './worker-protocol.ts';

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

interface Run extends Queued {
  /** Resolved (with a result, or null when abandoned): anything the thread reports for it later is ignored. */
  done: boolean;
}

interface Batch {
  id: number;
  jobId: string;
  timeoutMs: number;
  runs: Run[];
  vmTimeout: boolean;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Set once we terminate the worker or it died: its later events are ignored. */
  gone: boolean;
  /** Job whose code the worker has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  running: Batch | null;
  /** Posted behind `running` (same job, code loaded): the thread starts it as soon as `running` ends. */
  next: Batch | null;
  timer: ReturnType<typeof setTimeout> | null;
  /** What the thread runs now (PROGRESS), written by the thread. */
  progress: Float64Array;
}

/**
 * With a `vm` timeout the thread reports a synchronous overrun itself at timeoutMs; the pool waits
 * this much longer before terminating it, so a busy event loop does not cost a thread.
 */
const VM_TIMEOUT_GRACE_MS = 100;

/** Threads that die before they are ready, in a row, before the pool gives up. */
const MAX_START_FAILURES = 3;

/** Most inputs in one batch. */
export const MAX_BATCH_INPUTS = 64;
/** A batch holds about this much work at the job's measured speed (at least one input). */
const BATCH_TARGET_MS = 25;
/** Weight of the newest run time in a job's moving average. */
const SMOOTHING = 0.2;
/** Run-time averages kept, one per job (the oldest dropped). */
const MAX_PACED_JOBS = 100;

export class ThreadPool implements RunPool {
  private readonly slots: Slot[] = [];
  private queue: Queued[] = [];
  private readonly memory: MemoryLimits;
  private readonly workerUrl: URL;
  /** Jobs that had a run time out here: their runs get a `vm` timeout too (see `vmTimeout`). */
  private readonly timedOutJobs = new Set<string>();
  /** Each job's average run time here (ms), which sizes its batches. */
  private readonly pace = new Map<string, number>();
  private nextId = 1;
  private spawned = 0;
  private startFailures = 0;
  private started = false;
  private closed = false;
  private dispatchQueued = false;

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

  /** Threads running a batch now. */
  get running(): number {
    return this.slots.filter((s) => s.running !== null).length;
  }

  /** Runs waiting for a thread (not yet in a batch). */
  get queued(): number {
    return this.queue.length;
  }

  /** Batches sent to threads so far (each one message). */
  batchesPosted = 0;

  run(task: PoolTask, owner?: unknown): Promise<PoolResult> {
    if (this.closed) return Promise.resolve(null);
    if (!this.started) this.start();
    return new Promise<PoolResult>((resolve) => {
      this.queue.push({ task, owner, resolve });
      // Runs added in one go (a lease's inputs) are dispatched together, so they can share batches.
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        queueMicrotask(() => {
          this.dispatchQueued = false;
          this.dispatch();
        });
      }
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
      // Inputs of a posted batch that have not started count as queued: reported as abandoned now, their results ignored.
      // Unknown (the thread is between inputs, or has not read the batch yet): its first unfinished input, to be safe.
      const current = this.currentPosition(slot) ?? slot.running?.runs.findIndex((r) => !r.done) ?? -1;
      let hitRunning = false;
      for (const batch of [slot.running, slot.next]) {
        if (!batch) continue;
        batch.runs.forEach((run, i) => {
          if (run.done || !match(run.task, run.owner)) return;
          const isRunning = batch === slot.running && current === i;
          if (isRunning && !options.running) return;
          if (isRunning) hitRunning = true;
          run.done = true;
          run.resolve(null);
          stopped++;
        });
      }
      // A running input is stopped by replacing its thread; what else the thread held runs elsewhere.
      if (hitRunning) this.replace(slot);
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
      for (const run of this.pending(slot)) {
        run.done = true;
        run.resolve(null);
      }
      slot.running = slot.next = null;
      if (slot.timer) clearTimeout(slot.timer);
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
    const progress = new SharedArrayBuffer(PROGRESS.length * Float64Array.BYTES_PER_ELEMENT);
    const worker = new Worker(this.workerUrl, {
      // Not the parent's flags: tsx is loaded by the entry itself, and nothing else is wanted in job threads.
      execArgv: [],
      resourceLimits: this.memory,
      name: 'edgeswarm-job',
      stdout: false,
      stderr: false,
      workerData: { progress },
    });
    const slot: Slot = { worker, ready: false, gone: false, loadedJobId: null, running: null, next: null, timer: null, progress: new Float64Array(progress) };
    slot.progress[PROGRESS.batch] = -1;
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
    const batch = slot.running;
    if (!batch || batch.id !== message.id) return;
    message.runs.forEach((report, i) => this.settle(batch, message.from + i, report));
    if (!message.end) return;
    slot.loadedJobId = message.loaded ? batch.jobId : null;
    this.finishBatch(slot);
    // The thread lost the job's code: the batch posted behind (sent without code) would fail for that alone.
    if (!message.loaded) this.requeueNext(slot);
    this.promote(slot);
    this.dispatch();
  }

  /** One input's outcome: its run is resolved unless it was already (abandoned, or timed out). */
  private settle(batch: Batch, position: number, report: RunReport): void {
    const run = batch.runs[position];
    if (!run || run.done) return;
    run.done = true;
    if (!report.outcome.ok && report.outcome.code === 'timeout') this.noteTimeout(batch.jobId);
    else this.notePace(batch.jobId, report.ms);
    run.resolve({ outcome: report.outcome, runMs: report.ms });
  }

  /** The thread died: out of memory, a crash, or it could not start. */
  private onGone(slot: Slot, err: Error): void {
    if (slot.gone || this.closed) return;
    const batch = slot.running;
    const position = this.currentPosition(slot);
    if (batch && position !== null) {
      const outcome: RunOutcome =
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? outOfMemoryOutcome(this.memory.maxOldGenerationSizeMb)
          : { ok: false, code: 'work_error', message: `the worker thread died: ${errorText(err)}` };
      this.settle(batch, position, { outcome, ms: this.elapsed(slot) });
    }
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      this.requeuePending(slot);
      slot.gone = true;
      void this.close();
      this.options.onFatal?.(new Error(`could not start a job worker thread: ${errorText(err)}`));
      return;
    }
    this.replace(slot);
    this.dispatch();
  }

  private dispatch(): void {
    if (this.closed) return;
    // Idle threads first, then a next batch behind each running one.
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.running || slot.gone) continue;
      const first = this.queue[0];
      if (!first) return;
      slot.running = this.post(slot, this.take(first.task.jobId), true);
    }
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      const batch = slot.running;
      if (!batch || slot.next || slot.gone || batch.vmTimeout || slot.loadedJobId !== batch.jobId) continue;
      // Only the same job's inputs: its code is loaded, and a job that ever timed out here runs one input at a time.
      if (this.useVmTimeout(batch.jobId) || !this.queue.some((q) => q.task.jobId === batch.jobId)) continue;
      slot.next = this.post(slot, this.take(batch.jobId), false);
    }
  }

  /** Up to a batch's worth of `jobId`'s queued inputs, in queue order, taken off the queue. */
  private take(jobId: string): Queued[] {
    const waiting = this.queue.reduce((n, q) => n + (q.task.jobId === jobId ? 1 : 0), 0);
    let size = Math.ceil(waiting / this.options.threads);
    const avg = this.pace.get(jobId);
    if (avg !== undefined) size = Math.min(size, Math.floor(BATCH_TARGET_MS / Math.max(avg, 0.001)));
    if (this.useVmTimeout(jobId)) size = 1;
    size = Math.max(1, Math.min(MAX_BATCH_INPUTS, size));
    const taken: Queued[] = [];
    const kept: Queued[] = [];
    for (const q of this.queue) {
      if (taken.length < size && q.task.jobId === jobId) taken.push(q);
      else kept.push(q);
    }
    this.queue = kept;
    return taken;
  }

  /** Posts a batch to the slot's thread; its watchdog starts now when it starts now (`startsNow`), else on promotion. */
  private post(slot: Slot, queued: Queued[], startsNow: boolean): Batch {
    const first = queued[0];
    if (!first) throw new Error('an empty batch');
    const { task } = first;
    const batch: Batch = {
      id: this.nextId++,
      jobId: task.jobId,
      timeoutMs: task.timeoutMs,
      runs: queued.map((q) => ({ ...q, done: false })),
      vmTimeout: this.useVmTimeout(task.jobId),
    };
    const request: BatchRequest = {
      type: 'batch',
      id: batch.id,
      work: slot.loadedJobId === task.jobId ? null : (task.work ?? { code: task.code, bundle: null, shared: [] }),
      inputs: queued.map((q) => JSON.stringify(q.task.input)),
      timeoutMs: task.timeoutMs,
      vmTimeout: batch.vmTimeout,
    };
    slot.worker.postMessage(request);
    this.batchesPosted++;
    if (startsNow) this.watch(slot, batch.timeoutMs);
    return batch;
  }

  /** The running batch ended: the posted next one has started in the thread. */
  private promote(slot: Slot): void {
    const next = slot.next;
    if (!next || slot.running) return;
    slot.next = null;
    slot.running = next;
    this.watch(slot, next.timeoutMs);
  }

  /**
   * The watchdog of a slot's running batch: when it fires, the input the thread runs (read from its progress) is
   * ended as timed out if it has run for its timeoutMs (and the grace of a `vm` timeout), else the watchdog waits
   * for the rest of that input's time.
   */
  private watch(slot: Slot, delayMs: number): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      const batch = slot.running;
      if (!batch || slot.gone) return;
      const limit = batch.timeoutMs + (batch.vmTimeout ? VM_TIMEOUT_GRACE_MS : 0);
      const position = this.currentPosition(slot);
      // Between inputs, mid-write, or done with this batch (its last results are on their way).
      if (position === null) return this.watch(slot, 5);
      const elapsed = this.elapsed(slot);
      if (elapsed < limit) return this.watch(slot, limit - elapsed + 1);
      this.noteTimeout(batch.jobId);
      this.settle(batch, position, { outcome: timeoutOutcome(batch.timeoutMs), ms: batch.timeoutMs });
      this.replace(slot); // terminating is the only way to stop code that never yields
      this.dispatch();
    }, Math.max(1, delayMs));
  }

  /** The position, in the slot's running batch, of the input its thread runs now; null when that is unknown. */
  private currentPosition(slot: Slot): number | null {
    const p = slot.progress;
    const before = p[PROGRESS.version];
    const batch = p[PROGRESS.batch];
    const position = p[PROGRESS.position];
    if (before !== p[PROGRESS.version] || (before ?? 0) % 2 === 1) return null;
    if (!slot.running || batch !== slot.running.id || position === undefined) return null;
    return position;
  }

  /** How long the input the thread runs now has run (ms). */
  private elapsed(slot: Slot): number {
    return sharedNow() - (slot.progress[PROGRESS.startedAt] ?? 0);
  }

  /** Runs a slot's thread holds that have no result yet, in order (running batch, then next). */
  private pending(slot: Slot): Run[] {
    return [slot.running, slot.next].flatMap((b) => (b ? b.runs.filter((r) => !r.done) : []));
  }

  /** Puts back at the front of the queue, in order, what a slot's thread held and had not finished. */
  private requeuePending(slot: Slot): void {
    const back = this.pending(slot).map((r) => ({ task: r.task, owner: r.owner, resolve: r.resolve }));
    slot.running = slot.next = null;
    this.queue.unshift(...back);
  }

  /** The thread is being replaced or died: a posted next batch goes back to the front of the queue. */
  private requeueNext(slot: Slot): void {
    const next = slot.next;
    slot.next = null;
    if (next) this.queue.unshift(...next.runs.filter((r) => !r.done).map((r) => ({ task: r.task, owner: r.owner, resolve: r.resolve })));
  }

  private finishBatch(slot: Slot): void {
    const batch = slot.running;
    slot.running = null;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    // Inputs the thread never reported (it cannot happen with a well-behaved worker) are not lost: they run again.
    if (batch) this.queue.unshift(...batch.runs.filter((r) => !r.done).map((r) => ({ task: r.task, owner: r.owner, resolve: r.resolve })));
  }

  private useVmTimeout(jobId: string): boolean {
    const policy = this.options.vmTimeout ?? 'after-timeout';
    return policy === 'always' || (policy === 'after-timeout' && this.timedOutJobs.has(jobId));
  }

  private noteTimeout(jobId: string): void {
    if (this.timedOutJobs.size >= 1000) this.timedOutJobs.clear();
    this.timedOutJobs.add(jobId);
  }

  private notePace(jobId: string, ms: number): void {
    const avg = this.pace.get(jobId);
    if (avg === undefined && this.pace.size >= MAX_PACED_JOBS) {
      const oldest = this.pace.keys().next();
      if (!oldest.done) this.pace.delete(oldest.value);
    }
    this.pace.set(jobId, avg === undefined ? ms : avg * (1 - SMOOTHING) + ms * SMOOTHING);
  }

  private replace(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    this.requeuePending(slot);
    slot.gone = true;
    void slot.worker.terminate();
    const index = this.slots.indexOf(slot);
    if (index >= 0 && !this.closed) this.slots[index] = this.spawn();
  }
}
