/** Messages between the agent's thread pool (main thread) and a job worker thread; the worker holds no socket, token or device id. */
import type { RunOutcome, WorkSource } from '@edgeswarm/shared';

/** Pool → worker: run a chunk of inputs of one job, one after the other, in order. */
export interface BatchRequest {
  type: 'batch';
  id: number;
  /** The job's work (inline code, or a bundle and shared files: their bytes are copied to the thread); null when the worker already has this job's work loaded. */
  work: WorkSource | null;
  /** The inputs as JSON text; each is parsed inside the job's context so no host object reaches job code. */
  inputs: string[];
  timeoutMs: number;
  /** Also interrupt the synchronous part of each call from inside the thread (`vm` timeout). */
  vmTimeout: boolean;
}

export type ToWorker = BatchRequest;

/** One input's outcome and its run time in the thread (ms). */
export interface RunReport {
  outcome: RunOutcome;
  ms: number;
}

export type FromWorker =
  /** The worker loaded its runtime and takes batches. */
  | { type: 'ready' }
  /**
   * Outcomes of the batch's inputs `from` … `from + runs.length - 1`, sent at the end of the batch and whenever
   * RESULTS_FLUSH_MS passed since the last message (so long runs report one by one). `loaded` says whether the
   * worker now holds the job's code (false after a compile failure, whose outcome every input of the batch gets).
   */
  | { type: 'results'; id: number; from: number; runs: RunReport[]; end: boolean; loaded: boolean };

/** A worker sends what it has finished at least this often while it runs a batch. */
export const RESULTS_FLUSH_MS = 20;

/**
 * What the worker is running, in a SharedArrayBuffer the pool reads to time each input (a batch is one message,
 * so the pool cannot tell from messages when each of its inputs started). A seqlock: `version` is odd while the
 * worker writes.
 */
export const PROGRESS = { version: 0, batch: 1, position: 2, startedAt: 3, length: 4 } as const;

/** A clock both threads share: epoch milliseconds with sub-millisecond resolution. */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}
