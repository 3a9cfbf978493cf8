/**
 * Prometheus metrics of one hub: what the scheduler did (leases, results, retries, lost leases), how
 * long store writes took, and gauges read on each scrape (devices, threads, queue depth, jobs by status).
 *
 * Every label takes values from a fixed set (store operations, run error codes, job statuses, lease
 * loss reasons), never a job or device id, so the number of series does not grow with the work.
 * Each hub has its own registry, so several hubs in one process (tests) do not clash; the process
 * metrics (`process_*`, `nodejs_*`, including `nodejs_eventloop_lag_seconds`) describe the process
 * and come from one registry shared by every hub of the process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATUSES, RUN_ERROR_CODES, type HubStats, type JobStatus } from '@edgeswarm/shared';
import type { CheckedResult, RecordOutcome, ReleaseOutcome } from '../store/job-store.ts';

/** Store calls that write, timed as `edgeswarm_store_write_seconds{op}`. */
export const STORE_WRITE_OPS = [
  'createJob',
  'cancelJob',
  'deleteJob',
  'leaseWork',
  'leaseTail',
  'recordResults',
  'renewLeases',
  'releaseConnectionLeases',
  'expireLeases',
  'releaseAllLeases',
  'completeJob',
  'failJob',
  'purgeStep',
  'devicesSeen',
] as const;
export type StoreWriteOp = (typeof STORE_WRITE_OPS)[number];

/** Why leased subtasks went back to the queue without a result. */
export const LEASE_LOSS_REASONS = ['expired', 'disconnected', 'restart'] as const;
export type LeaseLossReason = (typeof LEASE_LOSS_REASONS)[number];

/** Lease sizes run from 1 to MAX_LEASE_ITEMS (256). */
const LEASE_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** SQLite commits take from tens of microseconds (memory, NORMAL) to tens of milliseconds (FULL on a slow disk). */
const STORE_SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export interface MetricsSources {
  /** The hub's live figures: devices, threads and subtask counts. */
  stats(): Promise<HubStats>;
  /** Jobs not deleted, counted by status (one query in the store). */
  jobCountsByStatus(): Promise<Partial<Record<JobStatus, number>>>;
  /** Queue depth of running jobs, at most `limit` of them (those with most work left). */
  activeJobDepths?(limit: number): Promise<JobDepth[]>;
  /** The hub's `--hub-name`: every series carries it as the `hub` label, so hubs of one network can be told apart. */
  hubName?: string;
}

export interface JobDepth {
  jobId: string;
  queued: number;
  running: number;
}

/** Running jobs reported with their own queue depth; the label set stays bounded by this. */
export const MAX_JOBS_WITH_DEPTH = 50;

let processRegistry: Registry | null = null;
/** One registry of process metrics per process: `collectDefaultMetrics` starts monitors that never stop. */
function sharedProcessRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class HubMetrics {
  readonly registry = new Registry();
  private readonly leasesGranted: Counter;
  private readonly leaseSize: Histogram;
  private readonly subtasksLeased: Counter;
  private readonly tailCopies: Counter;
  private readonly jobQueued: Gauge<'job'>;
  private readonly jobRunning: Gauge<'job'>;
  private readonly storeCommit: Histogram;
  private readonly storeCommitCalls: Histogram;
  private readonly subtasksCompleted: Counter;
  private readonly runsFailed: Counter<'code'>;
  private readonly subtasksRetried: Counter;
  private readonly devicesQuarantined: Counter;
  private readonly blobBytesServed: Counter;
  private readonly resultsDropped: Counter<'reason'>;
  private readonly leaseLost: Counter<'reason'>;
  private readonly storeWrite: Histogram<'op'>;
  private readonly storeWriteFailures: Counter<'op'>;
  private readonly devices: Gauge;
  private readonly threads: Gauge;
  private readonly queued: Gauge;
  private readonly running: Gauge;
  private readonly jobs: Gauge<'status'>;
  private readonly hubs: Gauge;

  constructor(private readonly sources: MetricsSources) {
    if (sources.hubName !== undefined) this.registry.setDefaultLabels({ hub: sources.hubName });
    sharedProcessRegistry(); // start the process monitors (event loop lag) with the first hub
    const registers = [this.registry];
    this.leasesGranted = new Counter({ name: 'edgeswarm_leases_granted_total', help: 'Leases handed to devices', registers });
    this.leaseSize = new Histogram({
      name: 'edgeswarm_lease_batch_size',
      help: 'Inputs per lease handed to a device',
      buckets: LEASE_SIZE_BUCKETS,
      registers,
    });
    this.subtasksLeased = new Counter({ name: 'edgeswarm_subtasks_leased_total', help: 'Subtasks handed to devices in leases', registers });
    this.tailCopies = new Counter({
      name: 'edgeswarm_subtasks_tail_copies_total',
      help: 'Inputs copied to idle devices at the end of a job while another device still held them (included in leased)',
      registers,
    });
    this.subtasksCompleted = new Counter({
      name: 'edgeswarm_subtasks_completed_total',
      help: 'Subtasks whose result was stored (each subtask counts once)',
      registers,
    });
    this.runsFailed = new Counter({
      name: 'edgeswarm_subtask_runs_failed_total',
      help: 'Failed runs that counted as an attempt, by error code',
      labelNames: ['code'],
      registers,
    });
    this.subtasksRetried = new Counter({
      name: 'edgeswarm_subtasks_retried_total',
      help: 'Subtasks queued again after a failed run (attempts left)',
      registers,
    });
    this.devicesQuarantined = new Counter({
      name: 'edgeswarm_devices_quarantined_total',
      help: 'Devices quarantined for returning a result that disagreed with the accepted one (verified jobs)',
      registers,
    });
    this.blobBytesServed = new Counter({
      name: 'edgeswarm_blob_bytes_served_total',
      help: 'Bytes of blobs (work module bundles and shared files) sent to devices',
      registers,
    });
    this.resultsDropped = new Counter({
      name: 'edgeswarm_results_dropped_total',
      help: 'Results not stored: late or duplicate (dropped) or for inputs the lease never held (rejected)',
      labelNames: ['reason'],
      registers,
    });
    this.leaseLost = new Counter({
      name: 'edgeswarm_subtasks_lease_lost_total',
      help: 'Leased subtasks that went back to the queue without a result: lease expired, device disconnected, or hub restarted',
      labelNames: ['reason'],
      registers,
    });
    this.storeWrite = new Histogram({
      name: 'edgeswarm_store_write_seconds',
      help: 'Time of store calls that write (one SQLite transaction each), by operation',
      labelNames: ['op'],
      buckets: STORE_SECONDS_BUCKETS,
      registers,
    });
    this.storeCommit = new Histogram({
      name: 'edgeswarm_store_commit_seconds',
      help: 'Time of each group commit (one SQLite COMMIT, with its fsync) that made device requests durable',
      buckets: STORE_SECONDS_BUCKETS,
      registers,
    });
    this.storeCommitCalls = new Histogram({
      name: 'edgeswarm_store_commit_calls',
      help: 'Store calls (leases, results, renewals) made durable by one group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.storeWriteFailures = new Counter({
      name: 'edgeswarm_store_write_failures_total',
      help: 'Store calls that write and threw (e.g. storage unavailable), by operation',
      labelNames: ['op'],
      registers,
    });
    this.hubs = new Gauge({ name: 'edgeswarm_hubs', help: 'Hubs serving the network (1 with the embedded SQLite store)', registers });
    this.devices = new Gauge({ name: 'edgeswarm_devices_connected', help: 'Devices online in the whole network', registers });
    this.threads = new Gauge({ name: 'edgeswarm_threads_connected', help: 'Worker threads of the devices online in the whole network', registers });
    this.queued = new Gauge({ name: 'edgeswarm_subtasks_queued', help: 'Subtasks of active jobs waiting for a device', registers });
    this.running = new Gauge({ name: 'edgeswarm_subtasks_running', help: 'Subtasks leased to devices', registers });
    this.jobs = new Gauge({ name: 'edgeswarm_jobs', help: 'Jobs not deleted, by status', labelNames: ['status'], registers });
    this.jobQueued = new Gauge({
      name: 'edgeswarm_job_subtasks_queued',
      help: `Subtasks waiting to be leased, per running job (the ${MAX_JOBS_WITH_DEPTH} with most work left; finished jobs disappear)`,
      labelNames: ['job'],
      registers,
    });
    this.jobRunning = new Gauge({
      name: 'edgeswarm_job_subtasks_running',
      help: `Subtasks leased to devices, per running job (the same jobs as edgeswarm_job_subtasks_queued)`,
      labelNames: ['job'],
      registers,
    });

    // Every series exists from the start, so dashboards see zeros rather than gaps.
    for (const code of RUN_ERROR_CODES) this.runsFailed.inc({ code }, 0);
    for (const reason of ['dropped', 'rejected']) this.resultsDropped.inc({ reason }, 0);
    for (const reason of LEASE_LOSS_REASONS) this.leaseLost.inc({ reason }, 0);
    for (const op of STORE_WRITE_OPS) {
      this.storeWrite.zero({ op });
      this.storeWriteFailures.inc({ op }, 0);
    }
    for (const status of JOB_STATUSES) this.jobs.set({ status }, 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  leaseGranted(items: number, tailCopy = false): void {
    this.leasesGranted.inc();
    this.leaseSize.observe(items);
    this.subtasksLeased.inc(items);
    if (tailCopy) this.tailCopies.inc(items);
  }

  /** Counts what the store did with a batch of results (the outcome) and which errors the failed runs had. */
  resultsRecorded(results: readonly CheckedResult[], outcome: RecordOutcome): void {
    if (outcome.completed > 0) this.subtasksCompleted.inc(outcome.completed);
    if (outcome.dropped > 0) this.resultsDropped.inc({ reason: 'dropped' }, outcome.dropped);
    if (outcome.rejected > 0) this.resultsDropped.inc({ reason: 'rejected' }, outcome.rejected);
    if (outcome.quarantined > 0) this.devicesQuarantined.inc(outcome.quarantined);
    const failedRuns = outcome.failedRuns;
    if (failedRuns <= 0) return;
    // The outcome gives how many failed runs counted, not which: when none was dropped that is every
    // failed result; otherwise the first ones in order (the store drops those after a job fails).
    let left = failedRuns;
    for (const r of results) {
      if (left === 0) break;
      if (r.ok) continue;
      this.runsFailed.inc({ code: (RUN_ERROR_CODES as readonly string[]).includes(r.code) ? r.code : 'other' });
      left--;
    }
    // A failed run either queues its subtask again or, on its last attempt, fails the job (one per batch).
    const retried = failedRuns - outcome.jobsFailed.length;
    if (retried > 0) this.subtasksRetried.inc(retried);
  }

  blobServed(bytes: number): void {
    this.blobBytesServed.inc(bytes);
  }

  leasesReleased(reason: LeaseLossReason, outcome: ReleaseOutcome): void {
    if (outcome.requeued > 0) this.leaseLost.inc({ reason }, outcome.requeued);
  }

  storeWriteTook(op: StoreWriteOp, seconds: number): void {
    this.storeWrite.observe({ op }, seconds);
  }

  groupCommitted(seconds: number, calls: number): void {
    this.storeCommit.observe(seconds);
    this.storeCommitCalls.observe(calls);
  }

  storeWriteFailed(op: StoreWriteOp): void {
    this.storeWriteFailures.inc({ op });
  }

  /** The metrics in Prometheus text format, with the gauges read now. */
  async render(): Promise<string> {
    const [stats, byStatus, depths] = await Promise.all([
      this.sources.stats(),
      this.sources.jobCountsByStatus(),
      this.sources.activeJobDepths?.(MAX_JOBS_WITH_DEPTH) ?? Promise.resolve([]),
    ]);
    this.hubs.set(stats.hubs ?? 1);
    this.devices.set(stats.devices);
    this.threads.set(stats.threads);
    this.queued.set(stats.queued);
    this.running.set(stats.running);
    for (const status of JOB_STATUSES) this.jobs.set({ status }, byStatus[status] ?? 0);
    // Per-job gauges are rebuilt at each scrape, so a finished job's series disappears.
    this.jobQueued.reset();
    this.jobRunning.reset();
    for (const depth of depths) {
      this.jobQueued.set({ job: depth.jobId }, depth.queued);
      this.jobRunning.set({ job: depth.jobId }, depth.running);
    }
    const [own, process] = await Promise.all([this.registry.metrics(), sharedProcessRegistry().metrics()]);
    // prom-client writes NaN (event loop figures before the first sample) as "Nan"; the format says "NaN".
    return (own + process).replace(/ Nan$/gm, ' NaN');
  }
}
