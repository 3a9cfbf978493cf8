/** Hands work to devices as leases, checks and records their results, and reclaims leases of devices that went away. */
import {
  LEASE_TTL_MS,
  limits,
  type DeviceStatus,
  type JsonValue,
  type LeaseGrant,
  type SubmitReceipt,
  type WorkSubmit,
} from '@edgeswarm/shared';
import type { Clock } from '../clock.ts';
import { noFaults, type Faults } from '../faults.ts';
import type { ActiveLease, CheckedResult, DevicePresence, ReleaseOutcome } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';
import { Aggregator, numericProblem } from '../aggregation/reducers.ts';
import { utf8Bytes } from '../util/utf8.ts';
import { JobTimingBook } from './job-timing-book.ts';

/** Most inputs one lease may carry. */
export const MAX_LEASE_ITEMS = 256;
/** Results aggregated per step when a job completes; later steps yield to the event loop. */
export const AGGREGATION_CHUNK = 50_000;

export interface DeviceConnection {
  deviceId: string;
  connId: string;
  /** Threads the device reports; bounds how much work the connection may hold. */
  threads: number;
  /** Its network address: replicas of one input go to distinct addresses while there are enough. */
  address?: string;
}

export interface WorkEvents {
  /** Jobs that ended other than by completing, or were deleted: devices should drop their runs. */
  jobStopped(jobId: string): void;
  /** Work went back to the queue or arrived: idle devices should ask. */
  workAvailable(): void;
  /** Subtasks completed (for throughput). */
  subtasksCompleted(count: number): void;
  /** A job reached a final state. */
  jobFinished(jobId: string): void;
}

export interface WorkServiceOptions {
  store: JobStore;
  clock: Clock;
  events: WorkEvents;
  /** Threads of every connected device; used to size leases so work is spread. */
  fleetThreads: () => number;
  leaseTtlMs?: number;
  /** Runs the next step of a long aggregation later; default `setImmediate`. */
  defer?: (step: () => void) => void;
  /** Results per aggregation step; default AGGREGATION_CHUNK. */
  aggregationChunk?: number;
  /** Crash points for durability tests. */
  faults?: Faults;
  /**
   * Until a job has a first success, give each connection one of its inputs at a time, then grow
   * leases with its successes: code that fails everywhere fails after a few runs. Default true.
   */
  slowStart?: boolean;
  /** Copy the longest-held inputs to idle devices at the end of a job (`JobStore.leaseTail`). Default true. */
  tailCopies?: boolean;
  /**
   * Work that runs outside any caller (finalizing a job after the results that completed it) failed: it
   * is reported here and never thrown, and the next sweep tries again. @defaultValue logs to stderr
   */
  onBackgroundError?: (what: string, err: unknown) => void;
}

/** A device caught returning a wrong result asks for work: it gets none, and is told why. */
export class DeviceQuarantinedError extends Error {
  override readonly name = 'DeviceQuarantinedError';
  readonly code = 'quarantined';
  constructor() {
    super('this device returned a result that disagreed with the result other devices agreed on, so the hub gives it no more work');
  }
}

function toGrant(active: ActiveLease): LeaseGrant {
  const grant: LeaseGrant = {
    leaseId: active.lease.id,
    jobId: active.lease.jobId,
    jobName: active.jobName,
    owner: active.owner,
    code: active.code,
    timeoutMs: active.timeoutMs,
    items: active.items,
  };
  if (active.bundle) grant.bundle = active.bundle;
  if (active.shared.length > 0) grant.shared = active.shared;
  return grant;
}

export class WorkService {
  private readonly store: JobStore;
  private readonly clock: Clock;
  private readonly events: WorkEvents;
  private readonly ttl: number;
  private readonly defer: (step: () => void) => void;
  private readonly chunk: number;
  private readonly finalizing = new Set<string>();
  private readonly faults: Faults;
  private draining = false;
  private readonly presence = new Map<string, DevicePresence>();
  private readonly timing = new JobTimingBook();
  /** Work in flight without a caller (finalizing jobs): `settled()` waits for it. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: WorkServiceOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.events = options.events;
    this.ttl = options.leaseTtlMs ?? LEASE_TTL_MS;
    this.defer = options.defer ?? ((step) => void setImmediate(step));
    this.chunk = options.aggregationChunk ?? AGGREGATION_CHUNK;
    this.faults = options.faults ?? noFaults;
  }

  /** Leases up to `slots` inputs to a device, fewer when many devices share little work. Settles once the lease is durable. */
  async requestWork(conn: DeviceConnection, slots: number): Promise<LeaseGrant | null> {
    if (this.draining) return null;
    const grant = await this.lease(conn, slots);
    // The store leases nothing to a quarantined device; asked only when nothing came, so not on the busy path.
    if (grant === null && (await this.store.isQuarantined(conn.deviceId))) throw new DeviceQuarantinedError();
    return grant;
  }

  private async lease(conn: DeviceConnection, slots: number): Promise<LeaseGrant | null> {
    const unleased = await this.store.unleasedCount();
    if (unleased === 0) return this.tailCopy(conn, slots);
    const share = Math.ceil(unleased / Math.max(1, 2 * this.options.fleetThreads()));
    const max = Math.max(1, Math.min(slots, MAX_LEASE_ITEMS, share));
    const active = await this.store.leaseWork({
      deviceId: conn.deviceId,
      connId: conn.connId,
      max,
      now: this.clock.now(),
      deadline: this.clock.monotonic() + this.ttl,
      slowStart: this.options.slowStart !== false,
      address: conn.address ?? null,
      // The store cuts the lease to what the connection may still hold, in the same transaction.
      maxHeld: conn.threads * limits.MAX_HELD_PER_THREAD,
    });
    // Nothing this device may take (verified jobs may wait for other devices): copies of the tail, if any.
    if (!active) return this.tailCopy(conn, slots);
    this.faults.reached('lease:committed');
    this.timing.leased(active.lease.jobId, conn.deviceId, conn.threads);
    return toGrant(active);
  }

  /**
   * The end of a job: nothing is left to lease but devices still hold inputs. An idle connection
   * gets copies of the longest-held ones (one per thread), so one slow or vanished device does not
   * hold up the job; the first result wins.
   */
  private async tailCopy(conn: DeviceConnection, slots: number): Promise<LeaseGrant | null> {
    if (this.options.tailCopies === false) return null;
    const active = await this.store.leaseTail({
      deviceId: conn.deviceId,
      connId: conn.connId,
      max: Math.max(1, Math.min(slots, conn.threads, MAX_LEASE_ITEMS)),
      now: this.clock.now(),
      deadline: this.clock.monotonic() + this.ttl,
    });
    if (!active) return null;
    this.faults.reached('lease:committed');
    this.timing.leased(active.lease.jobId, conn.deviceId, conn.threads);
    return toGrant(active);
  }

  /** Checks each result (JSON, size, type for numeric reducers) and records it; settles once they are durable. */
  async submitResults(conn: DeviceConnection, submit: WorkSubmit): Promise<SubmitReceipt> {
    const context = await this.store.getLeaseContext(submit.leaseId);
    const checked = submit.results.map((r): CheckedResult => {
      if (!r.ok) return r;
      const bytes = utf8Bytes(r.json);
      if (bytes > limits.MAX_RESULT_BYTES) {
        return {
          index: r.index,
          ok: false,
          code: 'result_too_large',
          message: `the result is ${bytes} bytes of JSON; at most ${limits.MAX_RESULT_BYTES} are allowed`,
        };
      }
      let value: JsonValue;
      try {
        value = JSON.parse(r.json) as JsonValue;
      } catch {
        return { index: r.index, ok: false, code: 'invalid_result', message: 'the result is not valid JSON' };
      }
      const problem = context ? numericProblem(context.reduce, value) : null;
      if (problem) return { index: r.index, ok: false, code: 'invalid_result', message: problem };
      return { index: r.index, ok: true, json: JSON.stringify(value), value };
    });
    const now = this.clock.now();
    // Settles after the commit: what follows reads and writes outside the device's group (finalize) or tells
    // others (events), so it happens only for results that are durable.
    const outcome = await this.store.recordResults(submit.leaseId, conn.deviceId, checked, now);
    this.faults.reached('results:committed');
    if (context) this.timing.reported(context.jobId, conn.deviceId, conn.threads, submit.results, outcome.accepted, submit.rttMs);
    if (outcome.completed > 0) this.events.subtasksCompleted(outcome.completed);
    for (const jobId of outcome.jobsFailed) this.jobEnded(jobId, true);
    for (const jobId of outcome.jobsToFinalize) this.background(`finalizing job ${jobId}`, () => this.finalize(jobId));
    for (const jobId of outcome.jobsReopened) this.events.jobFinished(jobId);
    if (outcome.requeued > 0 || outcome.jobsReopened.length > 0) this.events.workAvailable();
    return { accepted: outcome.accepted, dropped: outcome.dropped + outcome.rejected };
  }

  /** Runs `task` without a caller to answer: a failure is reported (`onBackgroundError`), never thrown. */
  private background(what: string, task: () => Promise<unknown>): void {
    const running = task().catch((err: unknown) => {
      const report = this.options.onBackgroundError ?? ((message, e) => console.error(`[hub] ${message}`, e));
      report(`${what} failed; the next sweep tries again`, err);
    });
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
  }

  /** Resolves once the work started without a caller (finalizing jobs) has ended, including what it started. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Graceful stop: hand out no more leases; results are still taken. */
  drain(): void {
    this.draining = true;
  }

  async heartbeat(conn: DeviceConnection, status: DeviceStatus): Promise<void> {
    // Presence is written in batches by `sweep` (about once a second), not once per heartbeat.
    this.presence.set(conn.deviceId, { id: conn.deviceId, state: status.state, threads: status.threads, now: this.clock.now() });
    await this.store.renewLeases(conn.connId, this.clock.monotonic() + this.ttl);
  }

  async disconnected(conn: DeviceConnection): Promise<void> {
    const now = this.clock.now();
    this.afterRelease(await this.store.releaseConnectionLeases(conn.connId, now));
    await this.store.deviceOffline(conn.deviceId, now);
  }

  /** Expires leases whose deadline passed and completes jobs left unfinalised; call about once a second. */
  async sweep(): Promise<void> {
    await this.flushPresence();
    await this.flushTiming();
    this.afterRelease(await this.store.expireLeases(this.clock.monotonic(), this.clock.now()));
    for (const jobId of await this.store.jobsAwaitingFinalize()) this.background(`finalizing job ${jobId}`, () => this.finalize(jobId));
  }

  /** Writes the time model's terms gathered since the last flush (`Job.timing`). */
  async flushTiming(): Promise<void> {
    const deltas = this.timing.take();
    if (deltas.length > 0) await this.store.addJobTiming(deltas);
  }

  /** Writes the heartbeats gathered since the last flush in one transaction. */
  async flushPresence(): Promise<void> {
    if (this.presence.size === 0) return;
    const updates = [...this.presence.values()];
    this.presence.clear();
    await this.store.devicesSeen(updates);
  }

  /** At start-up: void every lease of the previous process. */
  async recover(): Promise<void> {
    await this.store.markAllDevicesOffline();
    this.afterRelease(await this.store.releaseAllLeases(this.clock.now()));
    for (const jobId of await this.store.jobsAwaitingFinalize()) this.background(`finalizing job ${jobId}`, () => this.finalize(jobId));
  }

  private afterRelease(outcome: ReleaseOutcome): void {
    for (const jobId of outcome.jobsFailed) this.jobEnded(jobId, true);
    if (outcome.requeued > 0) this.events.workAvailable();
  }

  /**
   * Aggregates a job whose every subtask is done and completes it, in steps of `aggregationChunk` results
   * with a deferred turn between them (`defer`), so a big job does not block the hub. One aggregation per
   * job at a time in this process; a failed one is tried again by the next sweep.
   */
  private async finalize(jobId: string): Promise<void> {
    if (this.finalizing.has(jobId)) return;
    this.finalizing.add(jobId);
    try {
      const job = await this.store.getJob(jobId);
      if (!job) return;
      const aggregator = new Aggregator(job.reduce);
      const rechecked = job.rechecked ?? 0;
      if (job.reduce !== 'collect') {
        for (let next = 0; ; ) {
          const chunk = await this.store.resultsChunk(jobId, next, this.chunk);
          for (const json of chunk) if (!aggregator.add(json)) break;
          next += chunk.length;
          if (chunk.length < this.chunk || !aggregator.outcome().ok) break;
          await new Promise<void>((resolve) => this.defer(resolve));
        }
      }
      await this.finishFinalize(jobId, aggregator, rechecked);
    } finally {
      this.finalizing.delete(jobId);
    }
  }

  private async finishFinalize(jobId: string, aggregator: Aggregator, rechecked: number): Promise<void> {
    this.faults.reached('job:finalizing');
    const reduced = aggregator.outcome();
    const now = this.clock.now();
    if (reduced.ok) {
      if (await this.store.completeJob(jobId, reduced.value, now, rechecked)) this.jobEnded(jobId, false);
    } else if ((await this.store.reopenUnchecked(jobId)) > 0) {
      // Unchecked results (one device's word each) may have broken the aggregate: they run again on k devices.
      this.events.workAvailable();
    } else if (await this.store.failJob(jobId, { code: 'invalid_result', message: reduced.message, input: reduced.input }, now, rechecked)) {
      this.jobEnded(jobId, true);
    }
  }

  private jobEnded(jobId: string, stopDevices: boolean): void {
    if (stopDevices) this.events.jobStopped(jobId);
    this.events.jobFinished(jobId);
  }
}
