/** Messages between the agent's thread pool (main thread) and a job worker thread; the worker holds no socket, token or device id. */
import type { RunOutcome, WorkSource } from '@edgeswarm/shared';

/** Pool → worker: run one input. `work` is null when the worker already has this job's work loaded. */
export interface RunRequest {
  type: 'run';
  id: number;
  /** The job's work (inline code, or a bundle and shared files: their bytes are copied to the thread). */
  work: WorkSource | null;
  /** The input as JSON text; it is parsed inside the job's context so no host object reaches job code. */
  inputJson: string;
  timeoutMs: number;
  /** Also interrupt the synchronous part of the call from inside the thread (`vm` timeout). */
  vmTimeout: boolean;
}

export type ToWorker = RunRequest;

export type FromWorker =
  /** The worker loaded its runtime and takes runs. */
  | { type: 'ready' }
  /** `loaded` says whether the worker now holds the code of this run (false after a compile failure). */
  | { type: 'done'; id: number; loaded: boolean; outcome: RunOutcome };
