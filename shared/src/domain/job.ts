/** The Job as the HTTP API and the dashboard see it, and the vocabulary of its states and errors. */
import type { JobTiming } from './time-model.ts';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const REDUCERS = ['collect', 'sum', 'min', 'max', 'mean', 'count'] as const;
export type Reducer = (typeof REDUCERS)[number];

/** Why a subtask (and so its job) failed for good. */
export const JOB_ERROR_CODES = {
  work_error: 'work_error',
  timeout: 'timeout',
  invalid_result: 'invalid_result',
  result_too_large: 'result_too_large',
  device_lost: 'device_lost',
  no_quorum: 'no_quorum',
} as const;
export type JobErrorCode = keyof typeof JOB_ERROR_CODES;

/** The outcome a device reports for one failed run. */
export type RunErrorCode = Exclude<JobErrorCode, 'device_lost' | 'no_quorum'>;
/** Every `RunErrorCode`, for the parsers of what devices and their workers report. */
export const RUN_ERROR_CODES = ['work_error', 'timeout', 'invalid_result', 'result_too_large'] as const satisfies readonly RunErrorCode[];

export interface JobError {
  code: JobErrorCode;
  message: string;
  input: number;
}

export interface JobProgress {
  total: number;
  completed: number;
  failed: number;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Job {
  id: string;
  name: string;
  status: JobStatus;
  progress: JobProgress;
  reduce: Reducer;
  meta: Record<string, JsonValue>;
  result?: JsonValue;
  error?: JobError;
  timeoutMs: number;
  maxAttempts: number;
  priority: number;
  /** Result verification (see JobSpec): mode, replicas per input, agreeing results needed, relative tolerance. */
  verify: 'none' | 'replicate' | 'adaptive';
  replication: number;
  quorum: number;
  tolerance: number;
  /** A verified job that cannot go on until more distinct devices connect (it waits; it does not fail). */
  waitingForDevices?: boolean;
  /** Inputs run again because the device that returned them unchecked was caught lying (adaptive). */
  rechecked?: number;
  /** The submitter token's name that submitted the job; null for the admin token. */
  owner: string | null;
  /** A work module's bundle (instead of inline code): its blob as `sha256:HEX` and its size in bytes. */
  bundle?: { blob: string; size: number };
  /** Shared files every run reads as `ctx.shared[name]`. */
  shared?: { name: string; blob: string; as: 'bytes' | 'json'; size: number }[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The design's time model, measured (contract "Time model"), once the job has an accepted result. */
  timing?: JobTiming;
}

export function isFinished(status: JobStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

export type DeviceKind = 'browser' | 'node';
export type DeviceState = 'idle' | 'working' | 'paused';

export interface DeviceInfo {
  id: string;
  kind: DeviceKind;
  name: string;
  threads: number;
  state: DeviceState;
  completed: number;
  failed: number;
  /** Verified jobs: results that agreed with the accepted one, and results that did not. */
  valid: number;
  invalid: number;
  /** Caught returning a wrong result: gets no more work. */
  quarantined: boolean;
  connectedAt: string;
  lastSeenAt: string;
  /** The `--hub-name` of the hub it is connected to. */
  hub?: string;
}

export interface HubStats {
  /** Hubs serving the network (1 with the embedded SQLite store). */
  hubs?: number;
  devices: number;
  threads: number;
  subtasksPerSecond: number;
  completed: number;
  queued: number;
  running: number;
}
