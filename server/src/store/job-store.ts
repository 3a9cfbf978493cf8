/**
 * The store's operations and their vocabulary: every state the hub keeps goes through them, so the
 * hub process holds nothing that a restart or a second hub would need. `SyncJobStore` lists them as
 * the embedded SQLite engine runs them (synchronously, group-committing device writes); the hub uses
 * them through `JobStore` (./async-store.ts), where each settles once durable, which PostgreSQL will
 * implement too.
 *
 * Each method is one atomic operation (one transaction): callers never read-modify-write across
 * calls. Times are milliseconds from the injected clock.
 *
 * Deliberately not here: running job code (never on the hub), deciding lease sizes or which
 * device gets work (the scheduler does that), aggregation policy (the aggregation module), and
 * anything to do with sockets.
 */
import type {
  BundleRef,
  SharedFile,
  DeviceInfo,
  DeviceKind,
  DeviceState,
  DeviceTimingStats,
  Job,
  JobErrorCode,
  JobSpec,
  JobStatus,
  JsonValue,
  LeaseItem,
  Reducer,
} from '@edgeswarm/shared';

/**
 * The store cannot do its work right now (disk full, database locked, I/O error): nothing was
 * written, and the same call may succeed later. The hub answers `503 unavailable`.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'unavailable';
}

/** A job names a blob (`field`: `bundle` or `shared.NAME`) that is not stored, or that its submitter never uploaded. */
export class MissingBlobError extends Error {
  override readonly name = 'MissingBlobError';
  readonly code = 'missing_blob';
  constructor(
    readonly field: string,
    readonly blob: string,
  ) {
    super(`${field}: the hub has no blob sha256:${blob} for this token; upload it first (PUT /api/blobs/${blob})`);
  }
}

/** Claiming a blob would take its owner past its quota of blob bytes: nothing was claimed. */
export class BlobQuotaError extends Error {
  override readonly name = 'BlobQuotaError';
  readonly code = 'blob_quota';
  constructor(
    readonly quota: number,
    readonly used: number,
    readonly size: number,
  ) {
    super(
      `this token may keep at most ${quota} bytes of blobs; it keeps ${used} and this blob is ${size} more ` +
        '(blobs go when no job refers to them: delete finished jobs to make room)',
    );
  }
}

export interface ClaimOutcome {
  /** True when these bytes were stored now; false when they were already there. */
  created: boolean;
  size: number;
}

export interface BlobPurgeOutcome {
  /** Owners' claims dropped (no live job of theirs refers to the blob, and it was not touched lately). */
  claims: number;
  /** Rows of blob bytes removed (0 when nothing is left to remove). */
  rows: number;
}

export interface LeaseRecord {
  id: string;
  jobId: string;
  deviceId: string;
  connId: string;
  deadline: number;
  /** Input indexes handed out with this lease. */
  items: number[];
}

export interface ActiveLease {
  lease: LeaseRecord;
  /** A tail copy: inputs another device still holds, run again so the slowest holder does not hold up the job. */
  speculative?: boolean;
  items: LeaseItem[];
  /** The inline function expression; '' when the job runs a bundle. */
  code: string;
  bundle: BundleRef | null;
  shared: SharedFile[];
  timeoutMs: number;
  jobName: string;
  owner: string | null;
}

export interface LeaseRequest {
  deviceId: string;
  connId: string;
  /** At most this many inputs. */
  max: number;
  /** Monotonic ms after which the lease expires unless renewed. */
  deadline: number;
  /** Wall time, for the job's startedAt. */
  now: number;
  /**
   * Slow start: until a job has a first success, a connection holds one of its inputs at a time,
   * and after that a lease holds at most as many inputs as the job has successes.
   */
  slowStart?: boolean;
  /** The device's network address: replicas of one input go to distinct addresses while there are enough. */
  address?: string | null;
  /**
   * Inputs the connection may hold in all (its open leases' unfinished inputs included): the lease is cut to fit,
   * and none is granted to a connection that is full. Absent: no limit.
   */
  maxHeld?: number;
}

/** One outcome of one input, already checked by the hub (JSON parsed, size and type checked). */
export type CheckedResult =
  | { index: number; ok: true; json: string; value: JsonValue }
  | { index: number; ok: false; code: Exclude<JobErrorCode, 'device_lost' | 'no_quorum'>; message: string };

export interface RecordOutcome {
  /** Results stored: successes plus failed runs that counted as an attempt. */
  accepted: number;
  /** Successes among `accepted` (inputs now done). */
  completed: number;
  /** Failed runs among `accepted` (each counted an attempt). */
  failedRuns: number;
  dropped: number;
  /** Results from inputs this lease never held: counted against the device. */
  rejected: number;
  /** Jobs whose last subtask is now done: aggregate and complete them. */
  jobsToFinalize: string[];
  /** Jobs that failed during this call: tell devices to stop them. */
  jobsFailed: string[];
  /** Inputs that can be leased again (a failed run to retry, a replica slot that opened): idle devices should ask. */
  requeued: number;
  /** Verified jobs that must run inputs again (a device caught lying had returned them unchecked): tell devices. */
  jobsReopened: string[];
  /** Devices quarantined during this call (caught returning a wrong result). */
  quarantined: number;
}

export interface ReleaseOutcome {
  /** Subtasks that went back to the queue. */
  requeued: number;
  jobsFailed: string[];
}

export interface LeaseContext {
  lease: LeaseRecord;
  jobId: string;
  reduce: Reducer;
  jobActive: boolean;
}

export interface ResultsPage {
  total: number;
  offset: number;
  results: (JsonValue | null)[];
  missing: number[];
}

export interface DeviceRegistration {
  id: string;
  /** Its network address (replicas of one input go to distinct addresses while enough devices have them). */
  address?: string;
  kind: DeviceKind;
  name: string;
  threads: number;
  now: number;
}

export interface DevicePresence {
  id: string;
  state: DeviceState;
  threads: number;
  now: number;
}

export interface WorkCounts {
  completed: number;
  queued: number;
  running: number;
}

export interface Page<TItem> {
  total: number;
  items: TItem[];
}

export type CancelOutcome = 'cancelled' | 'already_finished' | 'not_found';

/** What one submitter token may do. */
export interface SubmitterLimits {
  /** Jobs queued or running at once. */
  maxRunning: number;
  /** Inputs of one job. */
  maxInputs: number;
  /** Jobs submitted in any 60 s. */
  perMinute: number;
  /** Bytes of blobs (bundles, shared files) it may keep on the hub at once. */
  maxBlobBytes: number;
}

export interface Submitter {
  name: string;
  limits: SubmitterLimits;
  createdAt: number;
  revokedAt: number | null;
}

/** A submitter's recent activity, for its limits. */
export interface SubmitterActivity {
  /** Its jobs queued or running. */
  active: number;
  /** Creation times (ms) of its jobs submitted since the time asked, oldest first. */
  recent: number[];
}

/**
 * What one hub saw of one device's work on one job since it last wrote, added to the stored totals (`threads`: the
 * stored value is the most seen).
 */
export type JobTimingDelta = Omit<DeviceTimingStats, 'name'> & { jobId: string };

export interface SyncJobStore {
  /**
   * `owner`: the submitter token's name, or null for the admin token. Every blob the spec names must
   * be stored and, for a submitter, claimed by it (`MissingBlobError` otherwise); the job then keeps
   * them, and its owner's claims, until it is deleted.
   */
  createJob(spec: JobSpec, now: number, owner?: string | null): Job;
  getJob(id: string): Job | null;
  /** Newest first; only `owner`'s jobs when given. */
  listJobs(offset: number, limit: number, owner?: string): Page<Job>;
  /** Jobs not deleted, counted by status. */
  jobCountsByStatus(): Partial<Record<JobStatus, number>>;
  /** Cancels a job that has not finished and drops its leases. */
  cancelJob(id: string, now: number): CancelOutcome;
  /** Removes the job at once from every listing; its rows are removed later by `purgeStep`. */
  deleteJob(id: string): boolean;
  /** Removes up to `maxRows` rows of deleted jobs; returns how many it removed. */
  purgeStep(maxRows: number): number;
  /** Deletes finished jobs that finished before `cutoff`. Returns how many. */
  purgeFinishedBefore(cutoff: number): number;

  /**
   * Inputs of the job whose turn it is (that this connection may take), and the device marked
   * `working`; null when there is none.
   */
  leaseWork(request: LeaseRequest): ActiveLease | null;
  /**
   * Tail copies: when no active job has inputs left to lease, a connection that holds no open lease
   * gets copies of up to `max` inputs that other devices hold, longest-held first, of the job whose
   * turn it is. Each input gets at most one copy at a time; the first result wins and the other is
   * dropped; a copy's failure or loss counts nothing against the input. Null when there is none.
   */
  leaseTail(request: LeaseRequest): ActiveLease | null;
  /** Inputs currently leased to one connection (tail copies not included). */
  heldCount(connId: string): number;
  /** Inputs queued or not yet leased, over every active job. */
  unleasedCount(): number;
  getLeaseContext(leaseId: string): LeaseContext | null;
  /** Whether the device was caught returning a wrong result (it gets no more work). */
  isQuarantined(deviceId: string): boolean;
  /** Lifts a device's quarantine (its streak of valid results starts again from 0); false when it was not quarantined. */
  releaseQuarantine(deviceId: string): boolean;
  recordResults(leaseId: string, deviceId: string, results: CheckedResult[], now: number): RecordOutcome;
  /** Extends every open lease of a connection to `deadline` (monotonic ms), but never past the lease's own cap. */
  renewLeases(connId: string, deadline: number): number;
  releaseConnectionLeases(connId: string, now: number): ReleaseOutcome;
  /** Releases open leases whose deadline (monotonic ms) is before `monotonicNow`; `now` stamps jobs that fail. */
  expireLeases(monotonicNow: number, now: number): ReleaseOutcome;
  /** At start-up: leases from a previous process are void; their inputs are queued again. */
  releaseAllLeases(now: number): ReleaseOutcome;

  /** Jobs whose every subtask is done but that are not yet completed (after a crash, say). */
  jobsAwaitingFinalize(): string[];
  /** Up to `limit` results of a job from input `fromIndex` on, in input order (for aggregating in steps). */
  resultsChunk(jobId: string, fromIndex: number, limit: number): string[];
  /**
   * Completes a job whose every input is done. `rechecked`: the job's `rechecked` count when its
   * aggregation began; if inputs were run again since, nothing changes (false) and it is aggregated anew.
   */
  completeJob(jobId: string, result: JsonValue | undefined, now: number, rechecked?: number): boolean;
  /**
   * A verified job's aggregate failed: every result it accepted unchecked (one device's word,
   * adaptive) runs again on k devices instead. Returns how many inputs were reopened.
   */
  reopenUnchecked(jobId: string): number;
  /** `rechecked`: as for completeJob; the failure is refused when inputs were run again since. */
  failJob(jobId: string, error: { code: JobErrorCode; message: string; input: number }, now: number, rechecked?: number): boolean;
  getResults(jobId: string, offset: number, limit: number): ResultsPage | null;
  /**
   * Adds what hubs saw of devices' work on jobs (the time model's terms); jobs gone or unknown are skipped. Stats,
   * not work: it may share a commit with device calls, and a crash may lose the last second of them.
   */
  addJobTiming(deltas: JobTimingDelta[]): void;
  /** What each device did for each of these jobs (jobs without any are missing from the map). */
  jobTimingStats(jobIds: string[]): Map<string, DeviceTimingStats[]>;

  registerDevice(device: DeviceRegistration): void;
  /** Records heartbeats: state, threads and lastSeenAt of many devices in one write. */
  devicesSeen(updates: readonly DevicePresence[]): void;
  deviceOffline(id: string, now: number): void;
  markAllDevicesOffline(): void;
  listDevices(offset: number, limit: number): Page<DeviceInfo>;
  onlineDeviceCount(): number;
  workCounts(): WorkCounts;
  /** Running and queued jobs with their queued (not yet leased) and leased subtasks, most queued first, at most `limit`. */
  activeJobDepths(limit: number): { jobId: string; queued: number; running: number }[];

  /**
   * Runs `callback` once every write made so far is durable: at once when none waits, or after the
   * store's next group commit. With an error when that commit failed (nothing in it was saved).
   * Callers acknowledge device requests here, never before.
   */
  afterCommit(callback: (err: Error | null) => void): void;

  /** The submitter whose token hashes to `tokenHash`, unless revoked. */
  findSubmitter(tokenHash: string): Submitter | null;
  /** Creates a submitter; false when the name was ever used (names are not reused, so no token inherits old jobs). */
  createSubmitter(name: string, tokenHash: string, limits: SubmitterLimits, now: number): boolean;
  listSubmitters(): Submitter[];
  /** False when there is no live submitter of that name. */
  revokeSubmitter(name: string, now: number): boolean;
  submitterActivity(name: string, since: number): SubmitterActivity;
  // ---- blobs: content-addressed bytes, stored in chunks, claimed by owners (null: the admin) ----

  /** Starts an upload of a blob's bytes; returns its handle. An upload never finished is removed by `purgeBlobs`. */
  beginBlob(now: number): number;
  /** Appends chunk `index` (BLOB_CHUNK_BYTES bytes; the last may be shorter) to an upload. */
  appendBlobChunk(upload: number, index: number, bytes: Uint8Array): void;
  /**
   * Names an upload's bytes by their SHA-256 (the caller hashed them) and claims the blob for `owner`
   * within `quota` bytes of claims (null: no quota), or throws `BlobQuotaError` and keeps nothing.
   * When the bytes were stored meanwhile by another upload, this upload's copy is dropped.
   */
  finishBlob(upload: number, hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome;
  abortBlob(upload: number): void;
  /** Claims a stored blob for `owner`, who showed it has the bytes; null when they are not stored. */
  claimBlob(hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome | null;
  /** The size of a stored blob, whoever claims it, with no other effect; null when it is not stored. */
  blobStored(hex: string): number | null;
  /** The size of a blob `owner` may use (the admin: any stored blob; a submitter: its own claims), touching the claim; else null. */
  blobSize(hex: string, owner: string | null, now: number): number | null;
  /** Bytes of the blobs `owner` claims (its quota's use). */
  claimedBlobBytes(owner: string | null): number;
  /** Chunk `index` of a stored blob; null when there is none. */
  readBlobChunk(hex: string, index: number): Uint8Array | null;
  /** The blob's size when connection `connId` holds an open lease of a job that refers to it; null otherwise (it may not read it). */
  leasedBlobSize(connId: string, hex: string): number | null;
  /**
   * Drops claims untouched since `cutoff` that no live job of their owner refers to, then removes up
   * to `maxRows` rows of the bytes of blobs nobody claims or refers to (and of uploads never finished).
   */
  purgeBlobs(cutoff: number, now: number, maxRows: number): BlobPurgeOutcome;

  /** Reports each group commit: how long it took and how many store calls it held (stores that group commits). */
  observeCommits?(observer: (seconds: number, calls: number) => void): void;

  close(): void;
}
