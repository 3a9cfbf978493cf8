/** The store's operations (SyncJobStore) on an embedded SQLite file (better-sqlite3, WAL): jobs, inputs, subtask state, leases and results. */
import { randomBytes, randomInt } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  inputCount,
  rangeAt,
  type DeviceTimingStats,
  type Job,
  type JobError,
  type JobErrorCode,
  type JobSpec,
  type JobStatus,
  type JsonValue,
  type LeaseItem,
  type Reducer,
  type SharedFile,
  blobRef,
  limits,
} from '@edgeswarm/shared';
import { prepareDatabase } from './sqlite-schema.ts';
import { DeviceTable } from './sqlite-devices.ts';
import { SubmitterTable } from './sqlite-submitters.ts';
import { BlobTable } from './sqlite-blobs.ts';
import { VerifiedWork, type DeviceSpot } from './sqlite-verified.ts';
import { CommitGroups, translateError } from './sqlite-commit-groups.ts';
import { priorityWeight, slowStartMax } from './store-policy.ts';
import { MissingBlobError } from './job-store.ts';
import { SqliteJobTiming } from './sqlite-job-timing.ts';
import type {
  ActiveLease,
  JobTimingDelta,
  BlobPurgeOutcome,
  CancelOutcome,
  ClaimOutcome,
  CheckedResult,
  DevicePresence,
  DeviceRegistration,
  SyncJobStore,
  LeaseContext,
  LeaseRecord,
  LeaseRequest,
  Page,
  RecordOutcome,
  ReleaseOutcome,
  Submitter,
  SubmitterActivity,
  SubmitterLimits,
  ResultsPage,
  WorkCounts,
} from './job-store.ts';

/** Submissions of submitter tokens are remembered this long (the per-minute limit needs one minute). */
const SUBMISSIONS_KEPT_MS = 3_600_000;

/** Elements of an inputs array stored per row. */
export const INPUT_CHUNK = 1024;
const ACTIVE = `status IN ('queued', 'running') AND deleted = 0`;

interface JobRow {
  seq: number;
  id: string;
  name: string;
  code: string;
  inputs_kind: 'array' | 'range';
  range_start: number | null;
  range_step: number | null;
  total: number;
  reduce: Reducer;
  timeout_ms: number;
  max_attempts: number;
  meta: string;
  status: JobStatus;
  next_index: number;
  queued: number;
  leased: number;
  completed: number;
  failed: number;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  deleted: number;
  priority: number;
  vtime: number;
  owner: string | null;
  verify: 'none' | 'replicate' | 'adaptive';
  replication: number;
  quorum: number;
  tolerance: number;
  rechecked: number;
  bundle: string | null;
  bundle_size: number | null;
  /** JSON of SharedFile[], or null when the job shares nothing. */
  shared: string | null;
}

interface LeaseRow {
  id: string;
  job_seq: number;
  device_id: string;
  conn_id: string;
  deadline: number;
  items: string;
  open: number;
  speculative: number;
  reported: number;
}

interface SubtaskRow {
  idx: number;
  state: 'leased' | 'queued' | 'done' | 'failed';
  attempts: number;
  losses: number;
  lease_id: string | null;
}

export function newId(prefix: string): string {
  return prefix + randomBytes(12).toString('base64url');
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toJob(row: JobRow): Job {
  const job: Job = {
    id: row.id,
    name: row.name,
    status: row.status,
    progress: { total: row.total, completed: row.completed, failed: row.failed },
    reduce: row.reduce,
    meta: JSON.parse(row.meta) as Record<string, JsonValue>,
    timeoutMs: row.timeout_ms,
    maxAttempts: row.max_attempts,
    priority: row.priority,
    verify: row.verify,
    replication: row.replication,
    quorum: row.quorum,
    tolerance: row.tolerance,
    owner: row.owner,
    createdAt: new Date(row.created_at).toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
  if (row.status === 'completed' && row.reduce !== 'collect' && row.result !== null) {
    job.result = JSON.parse(row.result) as JsonValue;
  }
  if (row.error !== null) job.error = JSON.parse(row.error) as JobError;
  if (row.rechecked > 0) job.rechecked = row.rechecked;
  if (row.bundle !== null) job.bundle = { blob: blobRef(row.bundle), size: row.bundle_size ?? 0 };
  const shared = sharedOf(row);
  if (shared.length > 0) job.shared = shared.map((f) => ({ ...f, blob: blobRef(f.blob) }));
  return job;
}

function sharedOf(row: JobRow): SharedFile[] {
  return row.shared === null ? [] : (JSON.parse(row.shared) as SharedFile[]);
}

/**
 * Calls on the devices' hot path: with group commit they join the open group transaction, so the
 * writes of many requests share one commit (one fsync). Every other public call commits the open
 * group first and then runs in its own transaction, so it never sees or exposes uncommitted work.
 */
const GROUPED: ReadonlySet<string> = new Set([
  'leaseWork',
  'leaseTail',
  'heldCount',
  'unleasedCount',
  'getLeaseContext',
  'isQuarantined',
  'recordResults',
  'renewLeases',
  // Devices reading blobs: reads only, so they need not commit the open group first.
  'readBlobChunk',
  'leasedBlobSize',
  // Stats of the time model: they may ride along with the device calls' commit.
  'addJobTiming',
]);
const OWN: ReadonlySet<string> = new Set(['constructor', 'afterCommit', 'observeCommits', 'close']);

export interface SqliteStoreOptions {
  /**
   * Group commit: writes of device requests made in one turn of the event loop share one
   * transaction, committed on `setImmediate`; callers acknowledge in `afterCommit`. Default false
   * (every call commits before it returns).
   */
  groupCommit?: boolean;
  /** Random numbers in [0, 1) for adaptive spot checks; default from the OS's CSPRNG (tests inject a seeded one). */
  random?: () => number;
  /** The name of the hub (device entries carry it); default "hub". */
  hubName?: string;
}

export class SqliteJobStore implements SyncJobStore {
  readonly db: Database.Database;
  private readonly devices: DeviceTable;
  private readonly submitters: SubmitterTable;
  private readonly blobs: BlobTable;
  private readonly verified: VerifiedWork;
  private readonly timing: SqliteJobTiming;
  private readonly q;
  private readonly groups: CommitGroups;
  /** Nesting of wrapped calls: 0 outside the store. */
  private depth = 0;
  private readonly groupCommit: boolean;
  private readonly hubName: string;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.groupCommit = options.groupCommit === true;
    this.hubName = options.hubName ?? 'hub';
    // Every public method reports storage faults as StoreUnavailableError, whatever SQLite called
    // them, and joins or flushes the commit group. Internal calls (this.failRow...) pass through here
    // too, inside a transaction: only entry points (not yet in a transaction) touch the group.
    for (const name of Object.getOwnPropertyNames(SqliteJobStore.prototype)) {
      const method = (SqliteJobStore.prototype as unknown as Record<string, unknown>)[name];
      if (OWN.has(name) || typeof method !== 'function') continue;
      const grouped = GROUPED.has(name);
      Object.defineProperty(this, name, {
        writable: true,
        configurable: true,
        value: function (this: SqliteJobStore, ...args: unknown[]) {
          const entry = this.depth === 0;
          this.depth++;
          try {
            if (entry && this.groupCommit) {
              if (grouped) {
                this.groups.enter();
              } else {
                this.groups.commitOpen();
                this.groups.dropStrayTransaction();
              }
            }
            return (method as (...a: unknown[]) => unknown).apply(this, args);
          } catch (err) {
            throw entry ? translateError(err) : err;
          } finally {
            this.depth--;
          }
        },
      });
    }
    this.db = new Database(file);
    this.groups = new CommitGroups(this.db);
    prepareDatabase(this.db);
    this.devices = new DeviceTable(this.db);
    this.submitters = new SubmitterTable(this.db);
    this.blobs = new BlobTable(this.db);
    this.timing = new SqliteJobTiming(this.db);
    this.verified = new VerifiedWork(this.db, options.random ?? (() => randomInt(0, 2 ** 47) / 2 ** 47));
    const db = this.db;
    this.q = {
      jobById: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ? AND deleted = 0'),
      jobBySeq: db.prepare<[number], JobRow>('SELECT * FROM jobs WHERE seq = ?'),
      // Jobs with work this device may take: a verified job's queued inputs count only when one has a
      // slot open that this device may fill (the rules of VerifiedWork.pick), so jobs waiting for other
      // devices do not crowd out the rest.
      jobsWithWork: db.prepare<[string, string | null], JobRow>(
        `SELECT * FROM jobs j WHERE ${ACTIVE} AND (next_index < total OR (queued > 0 AND (verify = 'none' OR EXISTS (
            SELECT 1 FROM subtasks s WHERE s.job_seq = j.seq AND s.state = 'queued' AND NOT EXISTS (
              SELECT 1 FROM replicas r WHERE r.job_seq = s.job_seq AND r.idx = s.idx AND r.state IN ('leased', 'ok')
                AND (r.device_id = ? OR (r.address = ? AND s.target <= spread_addresses())))))))
          ORDER BY vtime, seq LIMIT 20`,
      ),
      heldOfJobByConn: db.prepare<[string, number], { n: number }>(
        `SELECT count(*) AS n FROM leases l JOIN subtasks s ON s.lease_id = l.id AND s.state = 'leased'
          WHERE l.conn_id = ? AND l.job_seq = ? AND l.open = 1`,
      ),
      replicasOfJobByConn: db.prepare<[string, number], { n: number }>(
        `SELECT count(*) AS n FROM leases l JOIN replicas r ON r.lease_id = l.id AND r.state = 'leased'
          WHERE l.conn_id = ? AND l.job_seq = ? AND l.open = 1`,
      ),
      queuedIdx: db.prepare<[number, number], { idx: number }>(
        `SELECT idx FROM subtasks WHERE job_seq = ? AND state = 'queued' ORDER BY idx LIMIT ?`,
      ),
      chunk: db.prepare<[number, number], { items: string }>(
        'SELECT items FROM input_chunks WHERE job_seq = ? AND chunk = ?',
      ),
      insertLease: db.prepare<[string, number, string, string, number, number, string, number]>(
        `INSERT INTO leases (id, job_seq, device_id, conn_id, deadline, max_deadline, items, speculative)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // Tail copies.
      jobsInTail: db.prepare<[], JobRow>(
        `SELECT * FROM jobs WHERE ${ACTIVE} AND verify = 'none' AND queued = 0 AND next_index >= total AND leased > 0 ORDER BY vtime, seq LIMIT 20`,
      ),
      openLeasesOfConnCount: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM leases WHERE conn_id = ? AND open = 1'),
      tailCandidates: db.prepare<[number, string, number], { idx: number }>(
        `SELECT s.idx FROM leases l JOIN subtasks s ON s.lease_id = l.id AND s.state = 'leased'
          WHERE l.job_seq = ? AND l.open = 1 AND l.speculative = 0 AND l.device_id <> ? AND s.copies = 0
          ORDER BY l.rowid, s.idx LIMIT ?`,
      ),
      markCopy: db.prepare<[number, number]>('UPDATE subtasks SET copies = 1 WHERE job_seq = ? AND idx = ?'),
      // Inputs whose copy failed (copies = 2) get no more copies.
      clearCopies: db.prepare<[number, string]>(
        'UPDATE subtasks SET copies = 0 WHERE job_seq = ? AND copies = 1 AND idx IN (SELECT value FROM json_each(?))',
      ),
      copyFailed: db.prepare<[number, number]>('UPDATE subtasks SET copies = 2 WHERE job_seq = ? AND idx = ?'),
      addReported: db.prepare<[number, string]>('UPDATE leases SET reported = reported + ? WHERE id = ?'),
      leasedAmong: db.prepare<[number, string], { n: number }>(
        `SELECT count(*) AS n FROM subtasks WHERE job_seq = ? AND state = 'leased' AND idx IN (SELECT value FROM json_each(?))`,
      ),
      heldByConn: db.prepare<[string, string], { n: number }>(
        `SELECT (SELECT count(*) FROM leases l JOIN subtasks s ON s.lease_id = l.id AND s.state = 'leased'
                  WHERE l.conn_id = ? AND l.open = 1)
              + (SELECT count(*) FROM leases l JOIN replicas r ON r.lease_id = l.id AND r.state = 'leased'
                  WHERE l.conn_id = ? AND l.open = 1) AS n`,
      ),
      lease: db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE id = ?'),
      subtask: db.prepare<[number, number], SubtaskRow>(
        'SELECT idx, state, attempts, losses, lease_id FROM subtasks WHERE job_seq = ? AND idx = ?',
      ),
      leasedOf: db.prepare<[string], { job_seq: number; idx: number; losses: number }>(
        `SELECT job_seq, idx, losses FROM subtasks WHERE lease_id = ? AND state = 'leased'`,
      ),
      openLeasesOfConn: db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE conn_id = ? AND open = 1'),
      openLeasesOfDevice: db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE device_id = ? AND open = 1'),
      expiredLeases: db.prepare<[number], LeaseRow>('SELECT * FROM leases WHERE open = 1 AND deadline < ?'),
      allOpenLeases: db.prepare<[], LeaseRow>('SELECT * FROM leases WHERE open = 1'),
      closeLease: db.prepare<[string]>('UPDATE leases SET open = 0 WHERE id = ?'),
      stillLeased: db.prepare<[string], { n: number }>(
        `SELECT count(*) AS n FROM subtasks WHERE lease_id = ? AND state = 'leased'`,
      ),
      // Statements on the lease and result paths, prepared once.
      leaseQueued: db.prepare<[string, number, number]>(
        `UPDATE subtasks SET state = 'leased', lease_id = ? WHERE job_seq = ? AND idx = ?`,
      ),
      leaseFresh: db.prepare<[number, number, string]>(
        `INSERT INTO subtasks (job_seq, idx, state, lease_id) VALUES (?, ?, 'leased', ?)`,
      ),
      jobLeased: db.prepare<[number, number, number, number, number, number]>(
        `UPDATE jobs SET queued = queued - ?, next_index = next_index + ?, leased = leased + ?,
           status = 'running', started_at = coalesce(started_at, ?), vtime = vtime + ? WHERE seq = ?`,
      ),
      deviceWorking: db.prepare<[string]>(`UPDATE devices SET state = 'working' WHERE id = ? AND state <> 'working'`),
      unleased: db.prepare<[], { n: number }>(
        `SELECT coalesce(sum((total - next_index) * replication + queued), 0) AS n FROM jobs WHERE ${ACTIVE}`,
      ),
      markDone: db.prepare<[string, number, number]>(
        `UPDATE subtasks SET state = 'done', result = ?, lease_id = NULL WHERE job_seq = ? AND idx = ?`,
      ),
      markLeasedDone: db.prepare<[string, number, number]>(
        `UPDATE subtasks SET state = 'done', result = ?, lease_id = NULL WHERE job_seq = ? AND idx = ? AND state = 'leased'`,
      ),
      markRetry: db.prepare<[string, number, number, number]>(
        `UPDATE subtasks SET state = ?, attempts = ?, lease_id = NULL WHERE job_seq = ? AND idx = ?`,
      ),
      jobResults: db.prepare<[number, number, number, number]>(
        `UPDATE jobs SET completed = completed + ?, leased = leased + ?, queued = queued + ? WHERE seq = ?`,
      ),
      renew: db.prepare<[number, string]>('UPDATE leases SET deadline = min(?, max_deadline) WHERE conn_id = ? AND open = 1'),
      requeueLost: db.prepare<[number, number, number]>(
        `UPDATE subtasks SET state = 'queued', lease_id = NULL, losses = ? WHERE job_seq = ? AND idx = ?`,
      ),
      jobReleased: db.prepare<[number, number, number]>('UPDATE jobs SET leased = leased - ?, queued = queued + ? WHERE seq = ?'),
      resultsFrom: db.prepare<[number, number, number], { result: string }>(
        `SELECT result FROM subtasks WHERE job_seq = ? AND idx >= ? AND state = 'done' ORDER BY idx LIMIT ?`,
      ),
      completedTotal: db.prepare<[], { n: number }>('SELECT coalesce(sum(completed), 0) AS n FROM jobs WHERE deleted = 0'),
      activeCounts: db.prepare<[], { queued: number; running: number }>(
        `SELECT coalesce(sum(total - next_index + queued), 0) AS queued, coalesce(sum(leased), 0) AS running
           FROM jobs WHERE ${ACTIVE}`,
      ),
      setStatus: db.prepare(`UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ? WHERE seq = ?`),
      closeJobLeases: db.prepare<[number]>('UPDATE leases SET open = 0 WHERE job_seq = ? AND open = 1'),
    };
  }

  // ---- jobs -------------------------------------------------------------------------------

  createJob(spec: JobSpec, now: number, owner: string | null = null): Job {
    const id = newId('job_');
    const total = inputCount(spec.inputs);
    const rangeStart = spec.inputs.kind === 'range' ? spec.inputs.range.start : null;
    const rangeStep = spec.inputs.kind === 'range' ? spec.inputs.range.step : null;
    const insertJob = this.db.prepare(
      `INSERT INTO jobs (id, name, code, inputs_kind, range_start, range_step, total, reduce, timeout_ms,
         max_attempts, meta, status, created_at, priority, owner, verify, replication, quorum, tolerance,
         bundle, bundle_size, shared, vtime)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
         (SELECT coalesce(min(vtime), 0) FROM jobs WHERE ${ACTIVE}))`,
    );
    const insertChunk = this.db.prepare('INSERT INTO input_chunks (job_seq, chunk, items) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      // Every blob named must be one the owner may use; sizes are kept with the job.
      const sizeOf = (field: string, hex: string): number => {
        const size = this.blobs.size(hex, owner, now);
        if (size === null) throw new MissingBlobError(field, hex);
        return size;
      };
      const bundleSize = spec.bundle === null ? null : sizeOf('bundle', spec.bundle);
      const shared: SharedFile[] = spec.shared.map((f) => ({ ...f, size: sizeOf(`shared.${f.name}`, f.blob) }));
      const info = insertJob.run(
        id,
        spec.name,
        spec.code ?? '',
        spec.inputs.kind,
        rangeStart,
        rangeStep,
        total,
        spec.reduce,
        spec.timeoutMs,
        spec.maxAttempts,
        JSON.stringify(spec.meta),
        now,
        spec.priority,
        owner,
        spec.verify,
        spec.replication,
        spec.quorum,
        spec.tolerance,
        spec.bundle,
        bundleSize,
        shared.length > 0 ? JSON.stringify(shared) : null,
      );
      const seq = Number(info.lastInsertRowid);
      for (const hex of new Set([...(spec.bundle === null ? [] : [spec.bundle]), ...shared.map((f) => f.blob)])) {
        this.blobs.refer(seq, hex, owner, now);
      }
      if (owner !== null) {
        this.db.prepare('DELETE FROM submissions WHERE at < ?').run(now - SUBMISSIONS_KEPT_MS);
        this.db.prepare('INSERT INTO submissions (owner, at) VALUES (?, ?)').run(owner, now);
      }
      if (spec.inputs.kind === 'array') {
        const values = spec.inputs.values;
        for (let c = 0; c * INPUT_CHUNK < values.length; c++) {
          insertChunk.run(info.lastInsertRowid, c, JSON.stringify(values.slice(c * INPUT_CHUNK, (c + 1) * INPUT_CHUNK)));
        }
      }
    })();
    const row = this.q.jobById.get(id);
    if (!row) throw new Error('job vanished right after insert');
    return toJob(row);
  }

  getJob(id: string): Job | null {
    const row = this.q.jobById.get(id);
    return row ? this.toJob(row) : null;
  }

  /** The Job, with whether a running verified job waits for more distinct devices. */
  private toJob(row: JobRow): Job {
    const job = toJob(row);
    if (row.verify !== 'none' && (row.status === 'queued' || row.status === 'running') && this.verified.waitingForDevices(row.seq)) {
      job.waitingForDevices = true;
    }
    return job;
  }

  listJobs(offset: number, limit: number, owner?: string): Page<Job> {
    if (owner !== undefined) {
      const total = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM jobs WHERE deleted = 0 AND owner = ?').get(owner)?.n ?? 0;
      const rows = this.db
        .prepare<[string, number, number], JobRow>('SELECT * FROM jobs WHERE deleted = 0 AND owner = ? ORDER BY seq DESC LIMIT ? OFFSET ?')
        .all(owner, limit, offset);
      return { total, items: rows.map((r) => this.toJob(r)) };
    }
    const total = (this.db.prepare('SELECT count(*) AS n FROM jobs WHERE deleted = 0').get() as { n: number }).n;
    const rows = this.db
      .prepare<[number, number], JobRow>('SELECT * FROM jobs WHERE deleted = 0 ORDER BY seq DESC LIMIT ? OFFSET ?')
      .all(limit, offset);
    return { total, items: rows.map((r) => this.toJob(r)) };
  }

  // ---- submitters -------------------------------------------------------------------------

  findSubmitter(tokenHash: string): Submitter | null {
    return this.submitters.find(tokenHash);
  }

  createSubmitter(name: string, tokenHash: string, limits: SubmitterLimits, now: number): boolean {
    return this.db.transaction(() => this.submitters.create(name, tokenHash, limits, now))();
  }

  listSubmitters(): Submitter[] {
    return this.submitters.list();
  }

  revokeSubmitter(name: string, now: number): boolean {
    return this.submitters.revoke(name, now);
  }

  submitterActivity(name: string, since: number): SubmitterActivity {
    return this.submitters.activity(name, since);
  }

  jobCountsByStatus(): Partial<Record<JobStatus, number>> {
    const rows = this.db
      .prepare<[], { status: JobStatus; n: number }>('SELECT status, count(*) AS n FROM jobs WHERE deleted = 0 GROUP BY status')
      .all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  cancelJob(id: string, now: number): CancelOutcome {
    return this.db.transaction((): CancelOutcome => {
      const row = this.q.jobById.get(id);
      if (!row) return 'not_found';
      if (row.status !== 'queued' && row.status !== 'running') return 'already_finished';
      this.q.setStatus.run('cancelled', now, null, null, row.seq);
      this.closeJob(row.seq);
      return 'cancelled';
    })();
  }

  deleteJob(id: string): boolean {
    return this.db.transaction(() => {
      const row = this.q.jobById.get(id);
      if (!row) return false;
      this.db.prepare('UPDATE jobs SET deleted = 1 WHERE seq = ?').run(row.seq);
      this.closeJob(row.seq);
      return true;
    })();
  }

  purgeStep(maxRows: number): number {
    const job = this.db.prepare<[], { seq: number }>('SELECT seq FROM jobs WHERE deleted = 1 LIMIT 1').get();
    if (!job) return 0;
    return this.db.transaction(() => {
      let removed = 0;
      // Replicas go by input (a few rows each), the others by their own key.
      for (const table of ['replicas', 'subtasks', 'input_chunks', 'leases', 'job_blobs', 'job_device_timing']) {
        const key =
          table === 'subtasks' || table === 'replicas'
            ? 'idx'
            : table === 'input_chunks'
              ? 'chunk'
              : table === 'job_blobs'
                ? 'sha256'
                : table === 'job_device_timing'
                  ? 'device_id'
                  : 'id';
        const info = this.db
          .prepare(
            `DELETE FROM ${table} WHERE job_seq = ? AND ${key} IN (SELECT ${key} FROM ${table} WHERE job_seq = ? LIMIT ?)`,
          )
          .run(job.seq, job.seq, maxRows - removed);
        removed += info.changes;
        if (removed >= maxRows) return removed;
      }
      this.db.prepare('DELETE FROM jobs WHERE seq = ?').run(job.seq);
      return removed + 1;
    })();
  }

  purgeFinishedBefore(cutoff: number): number {
    return this.db
      .prepare(
        `UPDATE jobs SET deleted = 1 WHERE deleted = 0 AND status IN ('completed', 'failed', 'cancelled') AND finished_at < ?`,
      )
      .run(cutoff).changes;
  }

  // ---- blobs ------------------------------------------------------------------------------

  beginBlob(now: number): number {
    return this.blobs.begin(now);
  }

  appendBlobChunk(upload: number, index: number, bytes: Uint8Array): void {
    // Without a sync of its own: nothing was acknowledged yet, and finishBlob's commit (synchronous=FULL) syncs the
    // WAL, these chunks included. NORMAL still syncs around checkpoints, so the database stays consistent.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => this.blobs.append(upload, index, bytes))();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  finishBlob(upload: number, hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome {
    return this.db.transaction(() => this.blobs.finish(upload, hex, owner, now, quota))();
  }

  abortBlob(upload: number): void {
    this.db.transaction(() => this.blobs.abort(upload))();
  }

  claimBlob(hex: string, owner: string | null, now: number, quota: number | null): ClaimOutcome | null {
    return this.db.transaction(() => this.blobs.claim(hex, owner, now, quota))();
  }

  blobStored(hex: string): number | null {
    return this.blobs.stored(hex);
  }

  blobSize(hex: string, owner: string | null, now: number): number | null {
    return this.blobs.size(hex, owner, now);
  }

  claimedBlobBytes(owner: string | null): number {
    return this.blobs.claimedBytes(owner);
  }

  readBlobChunk(hex: string, index: number): Uint8Array | null {
    return this.blobs.readChunk(hex, index);
  }

  leasedBlobSize(connId: string, hex: string): number | null {
    return this.blobs.leasedSize(connId, hex);
  }

  purgeBlobs(cutoff: number, now: number, maxRows: number): BlobPurgeOutcome {
    return this.db.transaction(() => this.blobs.purge(cutoff, now, maxRows))();
  }

  // ---- leases -----------------------------------------------------------------------------

  leaseWork(request: LeaseRequest): ActiveLease | null {
    return this.db.transaction((): ActiveLease | null => {
      // A device caught returning a wrong result gets no more work.
      if (this.verified.isQuarantined(request.deviceId)) return null;
      const room = request.maxHeld === undefined ? Infinity : request.maxHeld - (this.q.heldByConn.get(request.connId, request.connId)?.n ?? 0);
      if (room <= 0) return null;
      // Slow start: until a job has a first success, a connection holds one of its inputs at a
      // time, so code that fails everywhere fails the job after a few runs, not after every input.
      // After that, leases grow with the job's successes.
      const slow = request.slowStart === true;
      for (const job of this.q.jobsWithWork.all(request.deviceId, request.address ?? null)) {
        const verified = job.verify !== 'none';
        if (slow && job.completed === 0) {
          const held = verified ? this.q.replicasOfJobByConn : this.q.heldOfJobByConn;
          if ((held.get(request.connId, job.seq)?.n ?? 0) > 0) continue;
        }
        const max = Math.min(room, slow ? slowStartMax(request.max, job.completed) : request.max);
        if (verified) {
          const leased = this.leaseReplicas(job, request, max);
          if (leased) return leased;
          continue; // this device already runs or ran every open input of this job
        }
        const indexes = this.q.queuedIdx.all(job.seq, max).map((r) => r.idx);
        const fromQueue = indexes.length;
        const fresh = Math.min(max - fromQueue, job.total - job.next_index);
        for (let i = 0; i < fresh; i++) indexes.push(job.next_index + i);
        const active = this.openLease(job, request, indexes, false);
        for (const idx of indexes.slice(0, fromQueue)) this.q.leaseQueued.run(active.lease.id, job.seq, idx);
        for (const idx of indexes.slice(fromQueue)) this.q.leaseFresh.run(job.seq, idx, active.lease.id);
        this.q.jobLeased.run(fromQueue, fresh, indexes.length, request.now, indexes.length / priorityWeight(job.priority), job.seq);
        return active;
      }
      return null;
    })();
  }

  /** A lease of replicas of a verified job's inputs, each on a device that has not run it; null when none fits. */
  private leaseReplicas(job: JobRow, request: LeaseRequest, max: number): ActiveLease | null {
    const spot: DeviceSpot = { deviceId: request.deviceId, address: request.address ?? null };
    const picks = this.verified.pick(job, spot, max);
    if (picks.length === 0) return null;
    const active = this.openLease(job, request, picks.map((p) => p.idx), false);
    const delta = this.verified.hold(job, active.lease.id, spot, picks);
    // Counters: `queued` and `leased` count inputs by state (a fresh input may stay queued, with slots open).
    this.q.jobLeased.run(-delta.queued, delta.fresh, delta.leased, request.now, picks.length / priorityWeight(job.priority), job.seq);
    return active;
  }

  /** Inserts a lease of `indexes` (its lifetime capped at TTL + one timeout per input) and marks the device working. */
  private openLease(job: JobRow, request: LeaseRequest, indexes: number[], speculative: boolean): ActiveLease {
    const lease: LeaseRecord = {
      id: newId('lease_'),
      jobId: job.id,
      deviceId: request.deviceId,
      connId: request.connId,
      deadline: request.deadline,
      items: indexes,
    };
    const maxDeadline = request.deadline + indexes.length * job.timeout_ms;
    this.q.insertLease.run(lease.id, job.seq, lease.deviceId, lease.connId, lease.deadline, maxDeadline, JSON.stringify(indexes), speculative ? 1 : 0);
    this.q.deviceWorking.run(request.deviceId);
    const active: ActiveLease = {
      lease,
      items: this.inputsOf(job, indexes),
      code: job.code,
      bundle: job.bundle === null ? null : { blob: job.bundle, size: job.bundle_size ?? 0 },
      shared: sharedOf(job),
      timeoutMs: job.timeout_ms,
      jobName: job.name,
      owner: job.owner,
    };
    if (speculative) active.speculative = true;
    return active;
  }

  leaseTail(request: LeaseRequest): ActiveLease | null {
    return this.db.transaction((): ActiveLease | null => {
      if (this.verified.isQuarantined(request.deviceId)) return null;
      if ((this.q.openLeasesOfConnCount.get(request.connId)?.n ?? 0) > 0) return null;
      for (const job of this.q.jobsInTail.all()) {
        const indexes = this.q.tailCandidates.all(job.seq, request.deviceId, request.max).map((r) => r.idx);
        if (indexes.length === 0) continue;
        const active = this.openLease(job, request, indexes, true);
        for (const idx of indexes) this.q.markCopy.run(job.seq, idx);
        return active;
      }
      return null;
    })();
  }

  /** Closes a tail copy's lease; its inputs that still wait for a result may get another copy. */
  private closeCopy(row: LeaseRow): void {
    this.q.closeLease.run(row.id);
    this.q.clearCopies.run(row.job_seq, row.items);
  }

  private inputsOf(job: JobRow, indexes: number[]): LeaseItem[] {
    if (job.inputs_kind === 'range') {
      const range = { start: job.range_start ?? 0, end: 0, step: job.range_step ?? 1 };
      return indexes.map((index) => ({ index, input: rangeAt(range, index) }));
    }
    const chunks = new Map<number, JsonValue[]>();
    return indexes.map((index) => {
      const c = Math.floor(index / INPUT_CHUNK);
      let values = chunks.get(c);
      if (!values) {
        const row = this.q.chunk.get(job.seq, c);
        if (!row) throw new Error(`input chunk ${c} of job ${job.id} is missing`);
        values = JSON.parse(row.items) as JsonValue[];
        chunks.set(c, values);
      }
      return { index, input: values[index % INPUT_CHUNK] ?? null };
    });
  }

  heldCount(connId: string): number {
    return this.q.heldByConn.get(connId, connId)?.n ?? 0;
  }

  unleasedCount(): number {
    return this.q.unleased.get()?.n ?? 0;
  }

  reopenUnchecked(jobId: string): number {
    return this.db.transaction(() => {
      const row = this.q.jobById.get(jobId);
      if (!row || row.verify === 'none' || (row.status !== 'queued' && row.status !== 'running')) return 0;
      return this.verified.reopenUnchecked(row);
    })();
  }

  isQuarantined(deviceId: string): boolean {
    return this.verified.isQuarantined(deviceId);
  }

  releaseQuarantine(deviceId: string): boolean {
    const changed = this.db
      .prepare<[string]>('UPDATE devices SET quarantined_at = NULL, streak = 0 WHERE id = ? AND quarantined_at IS NOT NULL')
      .run(deviceId).changes;
    this.verified.devicesChanged();
    return changed > 0;
  }

  getLeaseContext(leaseId: string): LeaseContext | null {
    const row = this.q.lease.get(leaseId);
    if (!row) return null;
    const job = this.q.jobBySeq.get(row.job_seq);
    if (!job) return null;
    return {
      lease: toLease(row, job.id),
      jobId: job.id,
      reduce: job.reduce,
      jobActive: (job.status === 'queued' || job.status === 'running') && job.deleted !== 1,
    };
  }

  recordResults(leaseId: string, deviceId: string, results: CheckedResult[], now: number): RecordOutcome {
    return this.db.transaction((): RecordOutcome => {
      const outcome: RecordOutcome = { accepted: 0, completed: 0, dropped: 0, rejected: 0, jobsToFinalize: [], jobsFailed: [], jobsReopened: [], requeued: 0, failedRuns: 0, quarantined: 0 };
      const leaseRow = this.q.lease.get(leaseId);
      const job = leaseRow ? this.q.jobBySeq.get(leaseRow.job_seq) : undefined;
      if (!leaseRow || !job) {
        // Unknown lease: its job was deleted and purged (or the id is made up). Nothing to count.
        outcome.dropped = results.length;
        return outcome;
      }
      if (leaseRow.device_id !== deviceId) {
        outcome.rejected = results.length;
        this.devices.addRejected(deviceId, results.length);
        return outcome;
      }
      const held = new Set(JSON.parse(leaseRow.items) as number[]);
      const active = (job.status === 'queued' || job.status === 'running') && !isDeleted(job);
      if (job.verify !== 'none') return this.recordReplicas(job, leaseRow, deviceId, held, active, results, now);
      let completed = 0;
      let failedRuns = 0;
      let leasedDelta = 0;
      let queuedDelta = 0;
      let failedForGood: JobError | null = null;
      const { markDone, markLeasedDone, markRetry } = this.q;
      for (const r of results) {
        if (!held.has(r.index)) {
          outcome.rejected++;
          continue;
        }
        if (!active || failedForGood) {
          outcome.dropped++;
          continue;
        }
        // The usual case in one statement: a success of an input still leased.
        if (r.ok && markLeasedDone.run(r.json, job.seq, r.index).changes === 1) {
          leasedDelta--;
          completed++;
          outcome.accepted++;
          continue;
        }
        const sub = this.q.subtask.get(job.seq, r.index);
        if (!sub || sub.state === 'done' || sub.state === 'failed') {
          outcome.dropped++;
          continue;
        }
        if (r.ok) {
          markDone.run(r.json, job.seq, r.index);
          if (sub.state === 'leased') leasedDelta--;
          else queuedDelta--;
          completed++;
          outcome.accepted++;
          continue;
        }
        // An error counts as an attempt only from the lease that currently holds the subtask.
        if (sub.state !== 'leased' || sub.lease_id !== leaseId) {
          // A tail copy that failed: the holder still runs the input; copying it again would likely fail again.
          if (leaseRow.speculative === 1) this.q.copyFailed.run(job.seq, r.index);
          outcome.dropped++;
          continue;
        }
        failedRuns++;
        outcome.accepted++;
        leasedDelta--;
        const attempts = sub.attempts + 1;
        if (attempts >= job.max_attempts) {
          markRetry.run('failed', attempts, job.seq, r.index);
          failedForGood = {
            code: r.code,
            message: `input ${r.index} failed ${attempts} time(s); last error: ${r.message}`,
            input: r.index,
          };
        } else {
          markRetry.run('queued', attempts, job.seq, r.index);
          queuedDelta++;
          outcome.requeued++;
        }
      }
      this.q.jobResults.run(completed, leasedDelta, queuedDelta, job.seq);
      outcome.completed = completed;
      outcome.failedRuns = failedRuns;
      this.devices.addCounts(deviceId, completed, failedRuns, outcome.rejected);
      if (failedForGood) {
        this.failRow(job.seq, failedForGood, now);
        outcome.jobsFailed.push(job.id);
      } else if (completed > 0 && job.completed + completed >= job.total) {
        outcome.jobsToFinalize.push(job.id);
      }
      if (leaseRow.open === 1 && leaseRow.speculative === 1) {
        // A copy is done once it has reported each of its inputs (over all its batches; a duplicate
        // may close it early, which only allows another copy), or once none of them still waits.
        const reported = leaseRow.reported + new Set(results.filter((r) => held.has(r.index)).map((r) => r.index)).size;
        if (reported >= held.size || (this.q.leasedAmong.get(job.seq, leaseRow.items)?.n ?? 0) === 0) this.closeCopy(leaseRow);
        else this.q.addReported.run(reported - leaseRow.reported, leaseId);
      } else if (leaseRow.open === 1 && (this.q.stillLeased.get(leaseId)?.n ?? 0) === 0) {
        this.q.closeLease.run(leaseId);
      }
      return outcome;
    })();
  }

  /** Results of a verified job's lease: replicas compared, inputs accepted by quorum, liars quarantined. */
  private recordReplicas(
    job: JobRow,
    leaseRow: LeaseRow,
    deviceId: string,
    held: ReadonlySet<number>,
    active: boolean,
    results: CheckedResult[],
    now: number,
  ): RecordOutcome {
    const v = this.verified.record(job, leaseRow.id, deviceId, held, active, results, now);
    const outcome: RecordOutcome = {
      accepted: v.accepted,
      completed: v.completed,
      dropped: v.dropped,
      rejected: v.rejected,
      jobsToFinalize: [],
      jobsFailed: [],
      jobsReopened: v.reopened,
      requeued: v.requeued,
      failedRuns: v.failedRuns,
      quarantined: v.quarantined.length,
    };
    this.devices.addCounts(deviceId, v.succeeded, v.failedRuns, v.rejected);
    for (const caught of v.quarantined) {
      // A caught device's running work goes to others at once instead of waiting for its leases to run out.
      outcome.requeued += this.releaseRows(this.q.openLeasesOfDevice.all(caught), now, false).requeued;
    }
    if (v.failedForGood) {
      this.failRow(job.seq, v.failedForGood, now);
      outcome.jobsFailed.push(job.id);
    } else if (active && v.completed > 0) {
      const after = this.q.jobBySeq.get(job.seq);
      if (after && after.completed >= after.total) outcome.jobsToFinalize.push(job.id);
    }
    if (leaseRow.open === 1 && this.verified.stillLeased(leaseRow.id) === 0) this.q.closeLease.run(leaseRow.id);
    return outcome;
  }

  renewLeases(connId: string, deadline: number): number {
    return this.q.renew.run(deadline, connId).changes;
  }

  releaseConnectionLeases(connId: string, now: number): ReleaseOutcome {
    return this.db.transaction(() => this.releaseRows(this.q.openLeasesOfConn.all(connId), now, true))();
  }

  expireLeases(monotonicNow: number, now: number): ReleaseOutcome {
    return this.db.transaction(() => this.releaseRows(this.q.expiredLeases.all(monotonicNow), now, true))();
  }

  releaseAllLeases(now: number): ReleaseOutcome {
    return this.db.transaction(() => this.releaseRows(this.q.allOpenLeases.all(), now, false))();
  }

  /** Closes leases; their unfinished subtasks go back to the queue, counting a loss when `countLoss`. */
  private releaseRows(rows: LeaseRow[], now: number, countLoss: boolean): ReleaseOutcome {
    const outcome: ReleaseOutcome = { requeued: 0, jobsFailed: [] };
    const { requeueLost: requeue, jobReleased: counters } = this.q;
    for (const row of rows) {
      if (row.speculative === 1) {
        // A lost copy: the input's own holder still runs it, so nothing is queued or counted.
        this.closeCopy(row);
        continue;
      }
      this.q.closeLease.run(row.id);
      let lost: { idx: number; losses: number } | null = null;
      const job = this.q.jobBySeq.get(row.job_seq);
      if (!job) continue;
      if (job.verify !== 'none') {
        const released = this.verified.release(job, row.id, countLoss);
        outcome.requeued += released.requeued;
        lost = released.lost;
      } else {
        const stranded = this.q.leasedOf.all(row.id);
        if (stranded.length === 0) continue;
        for (const s of stranded) {
          const losses = s.losses + (countLoss ? 1 : 0);
          requeue.run(losses, row.job_seq, s.idx);
          if (losses > limits.MAX_LEASE_LOSSES && !lost) lost = { idx: s.idx, losses };
        }
        counters.run(stranded.length, stranded.length, row.job_seq);
        outcome.requeued += stranded.length;
      }
      const active = (job.status === 'queued' || job.status === 'running') && !isDeleted(job);
      if (lost && active) {
        this.failRow(
          row.job_seq,
          {
            code: 'device_lost',
            message: `input ${lost.idx} was lost ${lost.losses} times by devices that disconnected or stopped renewing their lease`,
            input: lost.idx,
          },
          now,
        );
        outcome.jobsFailed.push(job.id);
      }
    }
    return outcome;
  }

  // ---- completion -------------------------------------------------------------------------

  jobsAwaitingFinalize(): string[] {
    return this.db
      .prepare<[], { id: string }>(`SELECT id FROM jobs WHERE ${ACTIVE} AND completed >= total`)
      .all()
      .map((r) => r.id);
  }

  resultsChunk(jobId: string, fromIndex: number, limit: number): string[] {
    const job = this.q.jobById.get(jobId);
    if (!job) return [];
    return this.q.resultsFrom.all(job.seq, fromIndex, limit).map((r) => r.result);
  }

  onlineDeviceCount(): number {
    return this.devices.onlineCount();
  }

  completeJob(jobId: string, result: JsonValue | undefined, now: number, rechecked = 0): boolean {
    return this.db.transaction(() => {
      const row = this.q.jobById.get(jobId);
      if (!row || (row.status !== 'queued' && row.status !== 'running') || row.completed < row.total) return false;
      // Inputs were run again since the aggregate was started: it may hold a caught device's values.
      if (row.rechecked !== rechecked) return false;
      this.q.setStatus.run('completed', now, result === undefined ? null : JSON.stringify(result), null, row.seq);
      this.closeJob(row.seq);
      return true;
    })();
  }

  failJob(jobId: string, error: { code: JobErrorCode; message: string; input: number }, now: number, rechecked?: number): boolean {
    return this.db.transaction(() => {
      const row = this.q.jobById.get(jobId);
      if (!row || (row.status !== 'queued' && row.status !== 'running')) return false;
      if (rechecked !== undefined && row.rechecked !== rechecked) return false; // judged on results since run again
      this.failRow(row.seq, error, now);
      return true;
    })();
  }

  private failRow(seq: number, error: JobError, now: number): void {
    this.db.prepare('UPDATE jobs SET failed = failed + 1 WHERE seq = ?').run(seq);
    this.q.setStatus.run('failed', now, null, JSON.stringify(error), seq);
    this.closeJob(seq);
  }

  /** A job ended or was deleted: its leases close, and its replicas still running are dropped. */
  private closeJob(seq: number): void {
    this.q.closeJobLeases.run(seq);
    this.verified.endJob(seq);
  }

  addJobTiming(deltas: JobTimingDelta[]): void {
    if (deltas.length > 0) this.db.transaction(() => this.timing.addAll(deltas))();
  }

  jobTimingStats(jobIds: string[]): Map<string, DeviceTimingStats[]> {
    return this.timing.statsOf(jobIds);
  }

  getResults(jobId: string, offset: number, limit: number): ResultsPage | null {
    const job = this.q.jobById.get(jobId);
    if (!job) return null;
    const end = Math.min(job.total, offset + limit);
    const size = Math.max(0, end - offset);
    const results: (JsonValue | null)[] = new Array<JsonValue | null>(size).fill(null);
    const present = new Uint8Array(size);
    const rows = this.db
      .prepare<[number, number, number], { idx: number; result: string }>(
        `SELECT idx, result FROM subtasks WHERE job_seq = ? AND idx >= ? AND idx < ? AND state = 'done'`,
      )
      .iterate(job.seq, offset, end);
    for (const row of rows) {
      results[row.idx - offset] = JSON.parse(row.result) as JsonValue;
      present[row.idx - offset] = 1;
    }
    const missing: number[] = [];
    for (let i = 0; i < size; i++) if (present[i] === 0) missing.push(i);
    return { total: job.total, offset, results, missing };
  }

  // ---- devices and counts -----------------------------------------------------------------

  registerDevice(device: DeviceRegistration): void {
    this.devices.register(device);
    this.verified.devicesChanged();
  }

  devicesSeen(updates: readonly DevicePresence[]): void {
    if (updates.length === 0) return;
    this.db.transaction(() => {
      for (const u of updates) this.devices.seen(u.id, u.state, u.threads, u.now);
    })();
  }

  deviceOffline(id: string, now: number): void {
    this.devices.offline(id, now);
    this.verified.devicesChanged();
  }

  markAllDevicesOffline(): void {
    this.devices.allOffline();
    this.verified.devicesChanged();
  }

  listDevices(offset: number, limit: number) {
    const page = this.devices.listOnline(offset, limit);
    return { total: page.total, items: page.items.map((d) => ({ ...d, hub: this.hubName })) };
  }

  workCounts(): WorkCounts {
    const active = this.q.activeCounts.get() ?? { queued: 0, running: 0 };
    return { completed: this.q.completedTotal.get()?.n ?? 0, queued: active.queued, running: active.running };
  }

  activeJobDepths(limit: number): { jobId: string; queued: number; running: number }[] {
    return this.db
      .prepare<[number], { jobId: string; queued: number; running: number }>(
        `SELECT id AS jobId, total - next_index + queued AS queued, leased AS running FROM jobs WHERE ${ACTIVE}
          ORDER BY queued DESC, seq LIMIT ?`,
      )
      .all(limit);
  }

  afterCommit(callback: (err: Error | null) => void): void {
    this.groups.afterCommit(callback);
  }

  observeCommits(observer: (seconds: number, calls: number) => void): void {
    this.groups.observe(observer);
  }

  close(): void {
    this.groups.commitOpen();
    if (this.db.open) this.db.close();
  }
}

/**
 * Fair sharing: each lease advances its job's virtual time by items / weight, and the job with the
 * lowest virtual time goes first. Equal priorities take turns; priority p gets 2^(p/2) times the
 * share of priority 0; every job advances, so none starves. A new job starts at the lowest virtual
 * time among active jobs, so it neither waits behind old ones nor jumps ahead for long.
 */
function isDeleted(job: JobRow): boolean {
  return job.deleted === 1;
}

function toLease(row: LeaseRow, jobId: string): LeaseRecord {
  return {
    id: row.id,
    jobId,
    deviceId: row.device_id,
    connId: row.conn_id,
    deadline: row.deadline,
    items: JSON.parse(row.items) as number[],
  };
}
