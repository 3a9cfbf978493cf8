// Framework-free volunteer runtime: holds the hub connection, pulls leases, runs their inputs in the worker pool and reports results.
import {
  CONNECT_REFUSALS,
  PROTOCOL_VERSION,
  HubLink,
  LeaseBatches,
  REFUSED_RETRY_MS,
  RunPace,
  countAccepted,
  toRunResult,
  errorText,
  BlobCache,
  JobWork,
  needsBlobs,
  afterPrepareFailure,
  type PersistentBlobs,
  type WorkSource,
  type DeviceHello,
  type HeldLease,
  type DeviceState,
  type LeaseGrant,
  type LeaseItem,
  type RunResult,
  type SubmitReceipt,
} from '@edgeswarm/shared';
import { SnapshotStore } from '../common/snapshot-store.ts';
import { MAX_PAGE_THREADS } from './volunteer-options.ts';
import type { DeviceLinkSocket } from '@edgeswarm/shared';
import type { BatchOutcome, PoolOutcome, PoolTask } from './worker-pool.ts';
import type { Donation, DonationLedger } from './donation-ledger.ts';

/** A batch holds about this much work at the measured pace (and a quarter of the job's timeoutMs at most). */
const BATCH_TARGET_MS = 100;
/** Most inputs in one batch. */
const MAX_BATCH_INPUTS = 64;
/** Finished results of a lease wait this long for its other inputs before they are sent. */
const PAGE_FLUSH_DELAY_MS = 250;

/** What the session needs from the worker pool (`WorkerPool`). */
export interface RunPool {
  readonly idle: number;
  readonly busy: number;
  /** Inputs the runners hold: running, and posted behind those. */
  readonly inputs: number;
  /** Runs inputs of one job in one call on an idle runner (see `WorkerPool.runBatch`); a single input is a batch of one. */
  runBatch(tasks: PoolTask[]): Promise<BatchOutcome[]>;
  /** Posts a batch behind a running batch of the same job; null when no runner can take it. */
  postBatch(tasks: PoolTask[]): Promise<BatchOutcome[]> | null;
  canBatch(jobId: string): boolean;
  abandonJob(jobId: string): number;
  abandonAll(): number;
  dispose(): void;
}

export interface VolunteerSessionOptions {
  deviceId: string;
  name: string;
  threads: number;
  /** A private pool's join token (`?join=` in the volunteer URL the hub prints). */
  joinToken?: string | undefined;
  openSocket(hello: DeviceHello): DeviceLinkSocket;
  createPool(threads: number): RunPool;
  /** Where blobs (bundles, shared files) are kept between visits: the page's IndexedDB. */
  blobStore?: PersistentBlobs | undefined;
  /** Called when the hub says this page is older than the hub. @defaultValue `location.reload()` */
  reloadPage?: () => void;
  /** Where what this browser gave is added up (kept across visits). */
  ledger?: DonationLedger;
}

export type ConnectionPhase = 'stopped' | 'connecting' | 'connected' | 'disconnected';

/**
 * Why the device runs nothing: the volunteer pressed Pause, the tab is hidden, the device is not charging (when the
 * volunteer asked to run only then), or the battery is low and not charging. (Under CPU pressure it eases off instead.)
 */
export type PauseReason = 'user' | 'hidden' | 'battery' | 'battery-low';

/** CPU limits the volunteer can pick: the share of each worker's time spent running job code. */
export const CPU_LIMITS = [25, 50, 75, 100] as const;
export type CpuLimit = (typeof CPU_LIMITS)[number];

/** A job this device holds work of, as the hub described it. */
export interface HeldJob {
  id: string;
  name: string;
  /** The submitter token's name, or null when the hub's admin submitted it (or the hub did not say). */
  owner: string | null;
}

export interface VolunteerSnapshot {
  phase: ConnectionPhase;
  paused: boolean;
  /** Every reason the device is paused for (empty when it is not). */
  pausedBy: PauseReason[];
  threads: number;
  cpuLimit: CpuLimit;
  /** Inputs running in workers / waiting in the local queue. */
  running: number;
  queued: number;
  /** Jobs this device holds work of, oldest lease first. */
  jobIds: string[];
  jobs: HeldJob[];
  /** Results of this device the hub acknowledged: successes and failed runs. */
  done: number;
  failed: number;
  /** Bytes of job data (work modules, shared files) fetched from the hub, and blobs taken from this browser's storage instead. */
  blobBytesFetched: number;
  blobsFromStorage: number;
  /** CPU time of runs the hub accepted and jobs they helped, this session and in total (null without a ledger). */
  donation: Donation | null;
  statusText: string;
}

const NOTIFY_INTERVAL_MS = 100;

interface QueuedItem {
  lease: HeldLease;
  item: LeaseItem;
  /** The job's work when it needed blobs fetched; inline code runs from the lease alone. */
  work?: WorkSource;
}

export class VolunteerSession {
  private link: HubLink | null = null;
  private pool: RunPool | null = null;
  // Results wait up to PAGE_FLUSH_DELAY_MS for the rest of their lease: a lease of short inputs then costs one submit
  // (and one commit on the hub), not one per batch that came back.
  private readonly leases = new LeaseBatches((leaseId, jobId, results) => this.link?.outbox.add(leaseId, jobId, results), PAGE_FLUSH_DELAY_MS);
  private queue: QueuedItem[] = [];
  private phase: ConnectionPhase = 'stopped';
  private readonly pauseReasons = new Set<PauseReason>();
  /** What to tell the volunteer about a pause (the battery's level, the pressure's state). */
  private readonly pauseDetails = new Map<PauseReason, string>();
  private threads: number;
  private cpuLimit: CpuLimit = 100;
  /** Why the page eases off to a lower CPU limit for now (serious CPU pressure); null when it does not. */
  private easing: { limit: number; why: string } | null = null;
  /** Workers resting after a run, to keep within the CPU limit. */
  private resting = 0;
  private readonly restTimers = new Set<ReturnType<typeof setTimeout>>();
  private notice: string | null = null;
  private done = 0;
  private failed = 0;
  /** Smoothed wall time of one run; decides how far ahead to ask for work. */
  private readonly pace = new RunPace();
  private readonly store: SnapshotStore<VolunteerSnapshot>;
  /** Blobs of the jobs this page runs, kept across reconnects (fetched at most once per connection). */
  private jobWork: JobWork | null = null;
  /** Inputs of leases whose job data is still being fetched. */
  private preparing = 0;
  private lastBlobBytes = 0;
  /** Why the data of a job could not be fetched (kept across the reconnect that gives its lease back). */
  private dataNotice: string | null = null;
  /** Bumped at each disconnect: work prepared for a lease of an earlier connection is not run (the hub released it). */
  private epoch = 0;

  constructor(private readonly options: VolunteerSessionOptions) {
    this.threads = options.threads;
    this.store = new SnapshotStore(() => this.buildSnapshot(), NOTIFY_INTERVAL_MS);
  }

  // ---- observable state (useSyncExternalStore-compatible) ----

  subscribe = (listener: () => void): (() => void) => this.store.subscribe(listener);

  getSnapshot = (): VolunteerSnapshot => this.store.getSnapshot();

  get started(): boolean {
    return this.phase !== 'stopped';
  }

  // ---- lifecycle ----

  start(): void {
    if (this.started) return;
    const { deviceId, name } = this.options;
    const threads = this.threads;
    this.pauseReasons.delete('user');
    this.notice = null;
    this.phase = 'connecting';
    this.pool = this.options.createPool(threads);
    const hello: DeviceHello = { protocol: PROTOCOL_VERSION, deviceId, kind: 'browser', name, threads };
    if (this.options.joinToken) hello.joinToken = this.options.joinToken;
    this.link = new HubLink(
      this.options.openSocket(hello),
      {
        slots: () => {
          if (this.paused) return null;
          return this.pace.request(this.threads, this.freeSlots());
        },
        grant: (grant) => {
          if (this.paused) return false; // paused while asking: the link gives the lease back
          this.acceptGrant(grant);
          return true;
        },
        status: () => ({ state: this.deviceState(), threads: this.threads }),
        jobStopped: (jobId) => this.stopJob(jobId),
        connected: () => this.onConnect(),
        disconnected: () => this.onDisconnect(),
        connectFailed: (err) => this.onConnectError(err),
        refused: (message) => {
          if (message === null) return;
          this.notice = `The hub refused to hand out work: ${message}`;
          this.changed();
        },
        unanswered: (detail) => {
          this.notice = `A work request went unanswered (${detail}); reconnecting`;
          this.changed();
        },
        receipt: (results, receipt, jobId) => this.countReceipt(results, receipt, jobId),
        gaveUp: (results, reason) => {
          this.notice = `Gave up reporting ${results.length} result(s): ${reason}`;
          this.changed();
        },
      },
      { serverDisconnectRetryMs: REFUSED_RETRY_MS },
    );
    const link = this.link;
    this.jobWork = new JobWork(new BlobCache({ read: (request) => link.readBlob(request), persistent: this.options.blobStore }));
    this.link.start();
    this.changed(true);
  }

  /** Disconnects and stops every worker; unreported results are lost (the hub reassigns their inputs). */
  stop(): void {
    if (!this.started) return;
    this.dropAllWork();
    this.link?.outbox.clear();
    this.link?.stop();
    this.link = null;
    this.lastBlobBytes = this.jobWork?.blobs.fetchedBytes ?? 0;
    this.jobWork = null;
    this.epoch++;
    this.pool?.dispose();
    this.pool = null;
    for (const timer of this.restTimers) clearTimeout(timer);
    this.restTimers.clear();
    this.resting = 0;
    this.phase = 'stopped';
    this.changed(true);
  }

  /** The CPU limit in force: the volunteer's, or lower while the page eases off. */
  private get limit(): number {
    return this.easing ? Math.min(this.cpuLimit, this.easing.limit) : this.cpuLimit;
  }

  /** Runs at `limit`% CPU at most for now, saying `why` (null: back to the volunteer's own limit). */
  easeOff(ease: { limit: number; why: string } | null): void {
    if ((ease === null) === (this.easing === null) && ease?.why === this.easing?.why) return;
    this.easing = ease;
    this.dispatch();
    this.changed(true);
  }

  private get paused(): boolean {
    return this.pauseReasons.size > 0;
  }

  /**
   * Stops asking for work and abandons the current runs; finished results are still reported. Each
   * reason holds the pause until it is resumed: the volunteer's Pause, a hidden tab, no charger.
   */
  pause(reason: PauseReason = 'user', detail?: string): void {
    const was = this.paused;
    if (detail !== undefined) this.pauseDetails.set(reason, detail);
    this.pauseReasons.add(reason);
    if (!this.started || was) {
      this.changed(true);
      return;
    }
    const heldWork = this.leases.size > 0;
    this.dropAllWork();
    this.sendStatus();
    // The heartbeat renews every lease of this device, so abandoned leases would never expire;
    // a disconnect makes the hub release them at once (contract: a device that disconnects loses its leases).
    if (heldWork) this.reconnect();
    this.changed(true);
  }

  resume(reason: PauseReason = 'user'): void {
    this.pauseDetails.delete(reason);
    if (!this.pauseReasons.delete(reason)) return;
    if (!this.started || this.paused) {
      this.changed(true);
      return;
    }
    this.sendStatus();
    this.requestWork();
    this.changed(true);
  }

  /** Runs job code on `threads` workers from now on; held work goes back to the hub (as on a pause). */
  setThreads(threads: number): void {
    const next = Math.max(1, Math.min(MAX_PAGE_THREADS, Math.floor(threads)));
    if (!Number.isFinite(next) || next === this.threads) return;
    this.threads = next;
    if (this.started && this.pool) {
      const heldWork = this.leases.size > 0;
      this.dropAllWork();
      this.pool.dispose();
      this.pool = this.options.createPool(next);
      for (const timer of this.restTimers) clearTimeout(timer);
      this.restTimers.clear();
      this.resting = 0;
      this.sendStatus();
      if (heldWork) this.reconnect();
      else this.requestWork();
    }
    this.changed(true);
  }

  /**
   * Keeps each worker busy at most `percent` of the time: after a run of t ms it rests
   * t x (100 - percent) / percent ms before taking the next input.
   */
  setCpuLimit(percent: CpuLimit): void {
    if (!CPU_LIMITS.includes(percent)) return;
    this.cpuLimit = percent;
    this.changed(true);
  }

  // ---- connection ----

  private onConnect(): void {
    this.phase = 'connected';
    this.notice = null;
    this.changed(true);
  }

  private onDisconnect(): void {
    this.phase = 'disconnected';
    this.epoch++;
    // The hub released this device's leases: inputs not started yet are someone else's now.
    // Runs in progress finish and are reported after the reconnect; the hub drops what it no longer needs.
    this.dropQueued(() => true);
    this.changed(true);
  }

  /** False when retrying cannot help (the page reloads itself). */
  private onConnectError(err: Error): boolean {
    if (err.message === CONNECT_REFUSALS.clientTooOld) {
      this.notice = 'This page is out of date; reloading…';
      this.changed(true);
      (this.options.reloadPage ?? (() => location.reload()))();
      return false;
    }
    this.phase = this.phase === 'connected' ? 'disconnected' : this.phase;
    this.notice =
      err.message === CONNECT_REFUSALS.serverTooOld
        ? 'The hub runs an older version than this page; retrying until it is updated…'
        : err.message === CONNECT_REFUSALS.joinTokenRequired
          ? 'This hub is a private pool: open the volunteer link its operator gave you (it carries the join token).'
          : err.message === CONNECT_REFUSALS.originNotAllowed
            ? 'The hub does not accept pages from this address; open the volunteer link the hub printed.'
          : `Cannot reach the hub (${err.message}); retrying…`;
    this.changed(true);
    return true;
  }

  private sendStatus(): void {
    this.link?.sendStatus();
  }

  private reconnect(): void {
    this.link?.reconnect();
  }

  private deviceState(): DeviceState {
    if (this.paused) return 'paused';
    return (this.pool?.busy ?? 0) > 0 || this.queue.length > 0 || this.preparing > 0 ? 'working' : 'idle';
  }


  // ---- pulling work ----

  /** How many inputs to hold (running + waiting for a thread): about a second of work per thread (RunPace). */
  private capacity(): number {
    return this.pace.holdTarget(this.threads);
  }

  private freeSlots(): number {
    return this.capacity() - this.queue.length - this.preparing - (this.pool?.inputs ?? 0);
  }

  private requestWork(): void {
    this.link?.requestWork();
  }

  private acceptGrant(grant: LeaseGrant): void {
    const lease = this.leases.open(grant);
    const jobWork = this.jobWork;
    if (!needsBlobs(grant) || !jobWork) {
      for (const item of grant.items) this.queue.push({ lease, item });
      this.dispatch();
      return;
    }
    // A work module or shared files: fetched first (once per job), so runs' time budgets do not include the download.
    const count = grant.items.length;
    const epoch = this.epoch;
    this.preparing += count;
    jobWork.prepare(grant).then(
      (work) => {
        this.preparing -= count;
        this.dataNotice = null;
        if (!this.leases.holds(lease) || epoch !== this.epoch) {
          for (let i = 0; i < count; i++) this.leases.finish(lease, null);
        } else {
          for (const item of grant.items) this.queue.push({ lease, item, work });
        }
        this.dispatch();
        this.requestWork();
      },
      (err: unknown) => {
        this.preparing -= count;
        const current = this.leases.holds(lease) && epoch === this.epoch;
        const next = current ? afterPrepareFailure(err) : 'drop';
        if (current) this.dataNotice = `Could not fetch the data of job ${grant.jobName ?? grant.jobId}: ${errorText(err)}`;
        if (next === 'fail') {
          // Unusable data: reported as failed runs of this lease's inputs; other jobs' work goes on.
          const message = `the job's data could not be used on this device: ${errorText(err)}`;
          for (const item of grant.items) this.leases.finish(lease, toRunResult(item.index, { ok: false, code: 'work_error', message }));
        } else {
          for (let i = 0; i < count; i++) this.leases.finish(lease, null);
        }
        // The hub did not answer: it would keep the lease alive with every heartbeat, and reconnecting gives it back.
        if (next === 'reconnect') this.reconnect();
        this.dispatch();
        this.requestWork();
        this.changed(true);
      },
    );
    this.changed();
  }

  // ---- running ----

  private dispatch(): void {
    const pool = this.pool;
    if (!pool) return;
    while (!this.paused && pool.idle - this.resting > 0) {
      const head = this.queue[0];
      if (!head) break;
      const batch = this.batchFrom(head, pool, Math.max(1, pool.idle - this.resting));
      this.queue.splice(0, batch.length);
      this.runBatch(batch, (tasks) => pool.runBatch(tasks));
    }
    // Then the next batch posted behind each running one, so runners do not wait on this page between them (not
    // under a CPU limit: a worker rests between runs there).
    while (!this.paused && this.limit === 100) {
      const head = this.queue[0];
      if (!head) break;
      const batch = this.batchFrom(head, pool, pool.idle + pool.busy);
      if (!this.runBatch(batch, (tasks) => pool.postBatch(tasks))) break;
      this.queue.splice(0, batch.length);
    }
    this.changed();
  }

  /**
   * The queued inputs to run together from `head` on: the front of the queue's inputs of the same job and work, about
   * BATCH_TARGET_MS of them at the measured pace (a quarter of the job's timeoutMs at most, since a batch is timed as
   * a whole), shared fairly between `runners`. One alone under a CPU limit (runners rest between inputs) or before the
   * pace is known.
   */
  private batchFrom(head: QueuedItem, pool: RunPool, runners: number): QueuedItem[] {
    const { jobId, timeoutMs } = head.lease.grant;
    const avg = this.pace.averageRunMs;
    if (this.limit !== 100 || !pool.canBatch(jobId) || avg === null) return [head];
    const byPace = Math.floor(Math.min(BATCH_TARGET_MS, timeoutMs / 4) / Math.max(avg, 0.001));
    const size = Math.max(1, Math.min(MAX_BATCH_INPUTS, byPace, Math.ceil(this.queue.length / Math.max(1, runners))));
    const batch: QueuedItem[] = [];
    for (const queued of this.queue) {
      if (batch.length >= size || queued.lease.grant.jobId !== jobId || queued.work !== head.work) break;
      batch.push(queued);
    }
    return batch;
  }

  /**
   * Hands queued inputs of one job to the pool in one call (`submit`: at once or posted behind a running batch); false
   * when the pool did not take them. Their results are recorded together, each with its run time in the worker; the
   * inputs of a batch of several that ran over time are queued again (a single one comes back as a `timeout`).
   */
  private runBatch(items: QueuedItem[], submit: (tasks: PoolTask[]) => Promise<BatchOutcome[]> | null): boolean {
    const [first] = items;
    if (!first) return false;
    const { jobId, code, timeoutMs } = first.lease.grant;
    const owner = first.lease.grant.owner ?? null;
    const tasks = items.map(({ item, work }): PoolTask => ({ jobId, code, timeoutMs, input: item.input, owner, ...(work ? { work } : {}) }));
    const pending = submit(tasks);
    if (!pending) return false;
    void pending.then((outcomes) => {
      const again: QueuedItem[] = [];
      outcomes.forEach((result, i) => {
        const queued = items[i];
        if (!queued) return;
        if (result === 'again') again.push(queued);
        else this.settleItem(queued.lease, queued.item, result === null ? null : result.outcome, result === null ? 0 : result.ms);
      });
      // Ran over time as a batch: each runs again alone, timed on its own (the pool no longer batches this job).
      this.queue.unshift(...again.filter((q) => this.leases.holds(q.lease)));
      this.dispatch();
      this.requestWork();
    });
    return true;
  }

  /** One worker rests for `ms` before the next input (CPU limit). */
  private rest(ms: number): void {
    this.resting++;
    const timer = setTimeout(() => {
      this.restTimers.delete(timer);
      this.resting = Math.max(0, this.resting - 1);
      this.dispatch();
    }, ms);
    this.restTimers.add(timer);
  }

  /** Records one input's outcome (null: abandoned, nothing to report) and its run time; the caller dispatches. */
  private settleItem(lease: HeldLease, item: LeaseItem, outcome: PoolOutcome, elapsedMs: number): void {
    const limit = this.limit;
    if (outcome !== null && limit < 100 && elapsedMs > 0) this.rest((elapsedMs * (100 - limit)) / limit);
    if (outcome !== null && this.leases.holds(lease)) {
      this.pace.record(elapsedMs);
      this.leases.finish(lease, toRunResult(item.index, outcome, elapsedMs));
    }
  }

  private countReceipt(results: readonly RunResult[], receipt: SubmitReceipt, jobId: string): void {
    // Only what the hub counted is shown: a duplicate of someone else's result is not work done here.
    const { done, failed } = countAccepted(results, receipt);
    this.done += done;
    this.failed += failed;
    const ledger = this.options.ledger;
    if (ledger && results.length > 0 && done + failed > 0) {
      const ms = results.reduce((sum, r) => sum + (r.ms ?? 0), 0);
      ledger.add(jobId, (ms * (done + failed)) / results.length);
    }
    this.changed();
    // The hub counts inputs as held until their results are acknowledged: room for more work may be free now.
    this.requestWork();
  }

  // ---- abandoning work ----

  /** `job:stopped`: the job was cancelled, failed or deleted. */
  private stopJob(jobId: string): void {
    this.jobWork?.forget(jobId);
    this.dropQueued((q) => q.lease.grant.jobId === jobId);
    this.pool?.abandonJob(jobId);
    this.leases.dropJob(jobId);
    this.link?.outbox.dropJob(jobId);
    this.dispatch();
    this.requestWork();
  }

  private dropQueued(match: (q: QueuedItem) => boolean): void {
    const kept: QueuedItem[] = [];
    for (const queued of this.queue) {
      if (!match(queued)) {
        kept.push(queued);
        continue;
      }
      this.leases.finish(queued.lease, null);
    }
    this.queue = kept;
    this.changed();
  }

  /** Abandons queued and running inputs; results already finished still go to the hub. */
  private dropAllWork(): void {
    this.queue = [];
    this.pool?.abandonAll();
    this.leases.releaseAll();
  }

  // ---- notifications ----

  private changed(immediately = false): void {
    this.store.changed(immediately);
  }

  private buildSnapshot(): VolunteerSnapshot {
    const jobs = new Map<string, HeldJob>();
    for (const { grant } of this.leases.values()) {
      if (!jobs.has(grant.jobId)) jobs.set(grant.jobId, { id: grant.jobId, name: grant.jobName ?? grant.jobId, owner: grant.owner ?? null });
    }
    const jobIds = [...jobs.keys()];
    return {
      phase: this.phase,
      paused: this.paused,
      pausedBy: [...this.pauseReasons],
      threads: this.threads,
      cpuLimit: this.cpuLimit,
      running: this.pool?.busy ?? 0,
      queued: this.queue.length,
      jobIds,
      jobs: [...jobs.values()],
      done: this.done,
      failed: this.failed,
      blobBytesFetched: this.jobWork?.blobs.fetchedBytes ?? this.lastBlobBytes,
      blobsFromStorage: this.jobWork?.blobs.fetchedFromStore ?? 0,
      donation: this.options.ledger?.donation ?? null,
      statusText: this.notice ?? this.dataNotice ?? this.describe(jobIds.length),
    };
  }

  private describe(jobs: number): string {
    switch (this.phase) {
      case 'stopped':
        return 'Not started.';
      case 'connecting':
        return 'Connecting to the hub…';
      case 'disconnected':
        return 'Lost the connection to the hub; reconnecting…';
      case 'connected':
        if (this.pauseReasons.has('user')) return 'Paused: this device runs nothing until you resume.';
        if (this.pauseReasons.has('battery-low')) return this.pauseDetails.get('battery-low') ?? 'Paused: the battery is low and not charging.';
        if (this.pauseReasons.has('battery')) return 'Paused while this device is not charging.';
        if (this.pauseReasons.has('hidden')) return 'Paused while this tab is hidden.';
        if (this.easing && this.cpuLimit > this.easing.limit) return this.easing.why;
        return jobs > 0 ? 'Working on the hub’s jobs.' : 'Connected; waiting for work.';
    }
  }
}
