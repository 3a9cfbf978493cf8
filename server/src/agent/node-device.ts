/** One agent device: pulls leases ahead of need over its HubLink, runs their inputs in the (shared) thread pool, batches results. */
import { io, type Socket } from 'socket.io-client';
import {
  CONNECT_REFUSALS,
  DEVICE_NAMESPACE,
  PROTOCOL_VERSION,
  FailoverSocket,
  HubLink,
  LeaseBatches,
  RunPace,
  countAccepted,
  toRunResult,
  errorText,
  BlobCache,
  JobWork,
  needsBlobs,
  afterPrepareFailure,
  type DeviceHello,
  type HeldLease,
  type DeviceToHubEvents,
  type HubToDeviceEvents,
  type LeaseGrant,
  type LeaseItem,
  type RunResult,
  type SubmitReceipt,
} from '@edgeswarm/shared';
import type { PoolResult, PoolTask, RunPool } from './thread-pool.ts';

type DeviceSocket = Socket<HubToDeviceEvents, DeviceToHubEvents>;

export interface NodeDeviceOptions {
  /** The hubs' origins, e.g. `http://127.0.0.1:8080`: the first that answers, the next when it dies (FailoverSocket). */
  hubUrls: readonly string[];
  deviceId: string;
  name: string;
  /** A private pool's join token (the hub's --join-token). */
  joinToken?: string | undefined;
  /** Threads this device reports to the hub; it holds work for this many. */
  threads: number;
  pool: RunPool;
  /** One line per connection event. */
  log?: (line: string) => void;
  /** The hub and this agent speak different protocol versions: retrying cannot help. */
  onFatal?: (message: string) => void;
  /** Job data (bundles, shared files) kept in memory beyond this many bytes is dropped, least recently used first. @defaultValue 1 GiB */
  blobMemoryBytes?: number;
  /** Socket.IO's reconnection backoff. @defaultValue 1000 and 5000 ms */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
}


export interface NodeDeviceStats {
  connected: boolean;
  /** Bytes of job data (bundles, shared files) fetched from the hub. */
  blobBytesFetched: number;
  /** Inputs handed to the pool and not finished. */
  held: number;
  /** Results the hub acknowledged: successes and failed runs. */
  done: number;
  failed: number;
}

export class NodeDevice {
  private link: HubLink | null = null;
  private readonly leases = new LeaseBatches((leaseId, jobId, results) => this.link?.outbox.add(leaseId, jobId, results));
  private held = 0;
  private stopping = false;
  private everConnected = false;
  /** Whether the current outage was already reported, so a hub that stays down prints one line. */
  private outageLogged = false;
  private done = 0;
  private failed = 0;
  /** Smoothed time of one run in a thread; decides how far ahead to ask for work. */
  private readonly pace = new RunPace();
  private readonly log: (line: string) => void;
  /** Blobs of the jobs this device runs, kept across reconnects (fetched at most once per connection). */
  private jobWork: JobWork | null = null;
  /** Bumped at each disconnect: work prepared for a lease of an earlier connection is not run (the hub released it). */
  private epoch = 0;

  constructor(private readonly options: NodeDeviceOptions) {
    this.log = options.log ?? (() => {});
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  stats(): NodeDeviceStats {
    return {
      connected: this.link?.connected === true,
      held: this.held,
      done: this.done,
      failed: this.failed,
      blobBytesFetched: this.jobWork?.blobs.fetchedBytes ?? 0,
    };
  }

  start(): void {
    if (this.link) return;
    const { deviceId, name, threads } = this.options;
    const hello: DeviceHello = { protocol: PROTOCOL_VERSION, deviceId, kind: 'node', name, threads };
    if (this.options.joinToken) hello.joinToken = this.options.joinToken;
    const socket = new FailoverSocket(
      this.options.hubUrls,
      (url): DeviceSocket =>
        io(url + DEVICE_NAMESPACE, {
          auth: hello,
          transports: ['websocket'],
          forceNew: true,
          reconnectionDelay: this.options.reconnectDelayMs ?? 1000,
          reconnectionDelayMax: this.options.reconnectDelayMaxMs ?? 5000,
        }),
      { onSwitch: (url, reason) => this.log(`${reason}: trying the hub at ${url}`) },
    );
    this.link = new HubLink(
      socket,
      {
        slots: () => this.slotsWanted(),
        grant: (grant) => {
          this.acceptGrant(grant);
          return true;
        },
        status: () => ({ state: this.paused ? 'paused' : this.held > 0 ? 'working' : 'idle', threads: this.options.threads }),
        jobStopped: (jobId) => this.stopJob(jobId),
        connected: () => this.onConnect(),
        disconnected: (reason) => this.onDisconnect(reason),
        connectFailed: (err) => this.onConnectError(err),
        // Said once, not at every poll (a quarantined device keeps asking).
        refused: (message) => {
          if (message !== null) this.log(`the hub refused to hand out work: ${message}`);
        },
        unanswered: (detail) => this.log(`a work request went unanswered (${detail}); reconnecting`),
        receipt: (results, receipt) => this.countReceipt(results, receipt),
        gaveUp: (results, reason) => this.log(`gave up reporting ${results.length} result(s): ${reason}; reconnecting`),
      },
      { serverDisconnectRetryMs: this.options.reconnectDelayMs ?? 1000 },
    );
    const link = this.link;
    const memoryBudgetBytes = this.options.blobMemoryBytes;
    this.jobWork = new JobWork(new BlobCache({ read: (request) => link.readBlob(request), ...(memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes }) }));
    this.link.start();
  }

  /**
   * Stops asking for work, abandons queued and running inputs, gives results already computed up
   * to `graceMs` to be acknowledged, then disconnects (the hub hands the rest to other devices).
   */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const link = this.link;
    link?.quiesce(); // no more requests, heartbeats or reconnects; a lease on its way is ignored
    this.options.pool.abandon((_task, owner) => owner === this, { running: true });
    this.leases.releaseAll();
    if (link?.connected) await link.outbox.drained(graceMs);
    link?.outbox.clear();
    link?.stop();
  }

  /** Paused (the machine is busy or on battery): asks for no more work; what it holds still runs and is reported. */
  private paused = false;

  setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    this.link?.sendStatus();
    if (!paused) this.requestWork();
  }

  // ---- connection ----

  private onConnect(): void {
    this.log(this.everConnected ? 'reconnected to the hub' : 'connected to the hub');
    this.everConnected = true;
    this.outageLogged = false;
  }

  private onDisconnect(reason: string): void {
    if (this.stopping) return;
    this.log(`lost the connection to the hub (${reason}); reconnecting`);
    this.outageLogged = true;
    this.epoch++;
    // The hub released this device's leases: inputs not started yet are someone else's now.
    // Runs in progress finish and are reported after the reconnect; the hub drops what it no longer needs.
    this.options.pool.abandon((_task, owner) => owner === this, { running: false });
  }

  /** False when retrying cannot help (the agent stops). */
  private onConnectError(err: Error): boolean {
    if (this.stopping) return false;
    const data = (err as Error & { data?: { message?: unknown; hubProtocol?: unknown } }).data;
    const hubProtocol = typeof data?.hubProtocol === 'number' ? data.hubProtocol : '?';
    if (err.message === CONNECT_REFUSALS.clientTooOld) {
      this.options.onFatal?.(
        `the hub speaks protocol ${hubProtocol} and this agent ${PROTOCOL_VERSION}: this agent is out of date; update it (git pull && npm install) and start it again`,
      );
      return false;
    }
    if (err.message === CONNECT_REFUSALS.joinTokenRequired) {
      this.options.onFatal?.(
        this.options.joinToken
          ? 'the hub refused this join token: check --join-token (or EDGESWARM_JOIN_TOKEN) against the volunteer URL the hub printed'
          : 'the hub is a private pool: start the agent with --join-token TOKEN (or EDGESWARM_JOIN_TOKEN), the join= value of the volunteer URL the hub printed',
      );
      return false;
    }
    if (err.message === CONNECT_REFUSALS.serverTooOld) {
      this.options.onFatal?.(
        `the hub speaks protocol ${hubProtocol} and this agent ${PROTOCOL_VERSION}: the hub is older than this agent; update the hub or use an agent of the hub's version`,
      );
      return false;
    }
    if (!this.outageLogged) {
      const detail = typeof data?.message === 'string' ? `${err.message}: ${data.message}` : err.message;
      this.log(`cannot reach the hub (${detail}); retrying`);
      this.outageLogged = true;
    }
    return true;
  }

  // ---- pulling work ----

  /** Inputs to ask for: about a second of work per thread held (RunPace), less what is held; null: do not ask. */
  private slotsWanted(): number | null {
    if (this.stopping || this.paused) return null;
    const slots = this.pace.holdTarget(this.options.threads) - this.held;
    return this.pace.request(this.options.threads, slots);
  }

  private requestWork(): void {
    this.link?.requestWork();
  }

  private acceptGrant(grant: LeaseGrant): void {
    const lease = this.leases.open(grant);
    this.held += grant.items.length;
    const jobWork = this.jobWork;
    if (!needsBlobs(grant) || !jobWork) {
      this.runItems(lease, grant.items, undefined);
      return;
    }
    // A work module or shared files: fetched first (once per job), so runs' time budgets do not include the download.
    const epoch = this.epoch;
    jobWork.prepare(grant).then(
      (work) => {
        if (this.stopping || epoch !== this.epoch || !this.leases.holds(lease)) this.dropItems(lease, grant.items.length);
        else this.runItems(lease, grant.items, work);
      },
      (err: unknown) => {
        const next = this.stopping || epoch !== this.epoch || !this.leases.holds(lease) ? 'drop' : afterPrepareFailure(err);
        if (next === 'fail') {
          // Unusable data: reported as failed runs of this lease's inputs; other jobs' work goes on.
          this.log(`the data of job ${grant.jobName ?? grant.jobId} cannot be used: ${errorText(err)}`);
          const message = `the job's data could not be used on this device: ${errorText(err)}`;
          for (const item of grant.items) {
            this.held--;
            this.leases.finish(lease, toRunResult(item.index, { ok: false, code: 'work_error', message }));
          }
          this.requestWork();
          return;
        }
        this.dropItems(lease, grant.items.length);
        if (next !== 'reconnect') return;
        this.log(`could not fetch the data of job ${grant.jobName ?? grant.jobId}: ${errorText(err)}; giving its lease back`);
        // The hub did not answer: it would keep the lease alive with every heartbeat, and reconnecting gives it back.
        this.link?.reconnect();
      },
    );
  }

  private runItems(lease: HeldLease, items: readonly LeaseItem[], work: PoolTask['work']): void {
    const { jobId, code, timeoutMs } = lease.grant;
    for (const item of items) {
      const task: PoolTask = { jobId, code, timeoutMs, input: item.input };
      if (work) task.work = work;
      this.options.pool.run(task, this).then(
        (result) => this.finishItem(lease, item, result),
        (err: unknown) => this.finishItem(lease, item, { outcome: { ok: false, code: 'work_error', message: errorText(err) }, runMs: 0 }),
      );
    }
  }

  /** Inputs that will not run here (their lease is gone, or their job's data could not be fetched). */
  private dropItems(lease: HeldLease, count: number): void {
    for (let i = 0; i < count; i++) {
      this.held--;
      this.leases.finish(lease, null);
    }
    this.requestWork();
  }

  // ---- results ----

  private finishItem(lease: HeldLease, item: LeaseItem, result: PoolResult): void {
    this.held--;
    if (result !== null && this.leases.holds(lease)) this.pace.record(result.runMs);
    this.leases.finish(lease, result === null ? null : toRunResult(item.index, result.outcome, result.runMs));
    this.requestWork();
  }

  private countReceipt(results: readonly RunResult[], receipt: SubmitReceipt): void {
    const { done, failed } = countAccepted(results, receipt);
    this.done += done;
    this.failed += failed;
    // The hub counts inputs as held until their results are acknowledged: room for more work may be free now.
    this.requestWork();
  }

  // ---- abandoning work ----

  /** `job:stopped`: the job was cancelled, failed or deleted. */
  private stopJob(jobId: string): void {
    this.jobWork?.forget(jobId);
    this.leases.dropJob(jobId);
    this.options.pool.abandon((task, owner) => owner === this && task.jobId === jobId, { running: true });
    this.link?.outbox.dropJob(jobId);
    this.requestWork();
  }
}
