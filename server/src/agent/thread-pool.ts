/** The agent's worker_threads pool: started on first use, one input per thread, each run bounded by its timeoutMs and the thread's memory limits. */
import { Worker } from 'node:worker_threads';
import { errorText, type JsonValue, type RunOutcome } from '@edgeswarm/shared';
import { timeoutOutcome } from './job-sandbox.ts';
import type { FromWorker, RunRequest } from './worker-protocol.ts';

export interface PoolTask {
  jobId: string;
  code: string;
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
  timer: ReturnType<typeof setTimeout>;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** Set once we terminate the worker or it died: its later events are ignored. */
  gone: boolean;
  /** Job whose code the worker has loaded; a job's code never changes, so the id stands for it. */
  loadedJobId: string | null;
  running: Running | null;
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
    if (options.running) {
      for (const slot of [...this.slots]) {
        const run = slot.running;
        if (run && match(run.task, run.owner)) {
          this.finish(slot, null);
          this.replace(slot);
          stopped++;
        }
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
    const slot: Slot = { worker, ready: false, gone: false, loadedJobId: null, running: null };
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
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.running || slot.gone) continue;
      const next = this.queue.shift();
      if (next) this.post(slot, next);
    }
  }

  private post(slot: Slot, queued: Queued): void {
    const { task } = queued;
    const id = this.nextId++;
    const vmTimeout = this.useVmTimeout(task.jobId);
    const timer = setTimeout(() => {
      if (slot.running?.id !== id) return;
      this.noteTimeout(task.jobId);
      this.finish(slot, { outcome: timeoutOutcome(task.timeoutMs), runMs: task.timeoutMs });
      this.replace(slot); // terminating is the only way to stop code that never yields
      this.dispatch();
    }, task.timeoutMs + (vmTimeout ? VM_TIMEOUT_GRACE_MS : 0));
    slot.running = { ...queued, id, startedAt: performance.now(), timer };
    const request: RunRequest = {
      type: 'run',
      id,
      code: slot.loadedJobId === task.jobId ? null : task.code,
      inputJson: JSON.stringify(task.input),
      timeoutMs: task.timeoutMs,
      vmTimeout,
    };
    slot.worker.postMessage(request);
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
    clearTimeout(run.timer);
    run.resolve(result);
  }

  private replace(slot: Slot): void {
    slot.gone = true;
    void slot.worker.terminate();
    const index = this.slots.indexOf(slot);
    if (index >= 0 && !this.closed) this.slots[index] = this.spawn();
  }
}
