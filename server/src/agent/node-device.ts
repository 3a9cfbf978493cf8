/** One agent device: its hub connection, pulling leases ahead of need, running their inputs in the (shared) thread pool, batching and resending results, heartbeats. */
import { io, type Socket } from 'socket.io-client';
import {
  CONNECT_REFUSALS,
  DEVICE_NAMESPACE,
  HEARTBEAT_INTERVAL_MS,
  PROTOCOL_VERSION,
  errorText,
  type DeviceHello,
  type DeviceState,
  type DeviceToHubEvents,
  type HubToDeviceEvents,
  type HubWelcome,
  type LeaseGrant,
  type LeaseItem,
  type RunOutcome,
  type RunResult,
  type SubmitReceipt,
} from '@edgeswarm/shared';
import { ResultOutbox, RunPace } from '@edgeswarm/shared';
import type { PoolResult, PoolTask, RunPool } from './thread-pool.ts';

type DeviceSocket = Socket<HubToDeviceEvents, DeviceToHubEvents>;

export interface NodeDeviceOptions {
  /** The hub's origin, e.g. `http://127.0.0.1:8080`. */
  hubUrl: string;
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
  /** Socket.IO's reconnection backoff. @defaultValue 1000 and 5000 ms */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
}

import { FLUSH_DELAY_MS, IDLE_POLL_MS, MAX_BATCH_CHARS, REFUSED_RETRY_MS, REQUEST_TIMEOUT_MS, SUBMIT_TIMEOUT_MS } from '@edgeswarm/shared';
export { FLUSH_DELAY_MS, IDLE_POLL_MS, MAX_BATCH_CHARS, REFUSED_RETRY_MS, REQUEST_TIMEOUT_MS, SUBMIT_TIMEOUT_MS };

interface HeldLease {
  grant: LeaseGrant;
  /** Items queued or running; the lease is closed when it reaches 0. */
  outstanding: number;
  buffer: RunResult[];
  bufferChars: number;
  flushTimer: ReturnType<typeof setTimeout> | null;
}

export interface NodeDeviceStats {
  connected: boolean;
  /** Inputs handed to the pool and not finished. */
  held: number;
  /** Results the hub acknowledged: successes and failed runs. */
  done: number;
  failed: number;
}

function toRunResult(index: number, outcome: RunOutcome): RunResult {
  return outcome.ok ? { index, ok: true, json: outcome.json } : { index, ok: false, code: outcome.code, message: outcome.message };
}

export class NodeDevice {
  private socket: DeviceSocket | null = null;
  private readonly leases = new Map<string, HeldLease>();
  private readonly outbox: ResultOutbox;
  private held = 0;
  private requesting = false;
  private lastRefusal: string | null = null;
  private stopping = false;
  private everConnected = false;
  /** Whether the current outage was already reported, so a hub that stays down prints one line. */
  private outageLogged = false;
  private done = 0;
  private failed = 0;
  /** Smoothed time of one run in a thread; decides how far ahead to ask for work. */
  private readonly pace = new RunPace();
  private heartbeatMs = HEARTBEAT_INTERVAL_MS;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly log: (line: string) => void;

  constructor(private readonly options: NodeDeviceOptions) {
    this.log = options.log ?? (() => {});
    this.outbox = new ResultOutbox({
      send: (submit) => this.requireSocket().timeout(SUBMIT_TIMEOUT_MS).emitWithAck('work:submit', submit),
      canSend: () => this.socket?.connected === true,
      onReceipt: (results, receipt) => this.countReceipt(results, receipt),
      onGiveUp: (results, reason) => {
        this.log(`gave up reporting ${results.length} result(s): ${reason}; reconnecting`);
        // Heartbeats would keep the lease alive forever: reconnect so the hub gives the work to others.
        this.reconnect();
      },
    });
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  stats(): NodeDeviceStats {
    return { connected: this.socket?.connected === true, held: this.held, done: this.done, failed: this.failed };
  }

  start(): void {
    if (this.socket) return;
    const { deviceId, name, threads } = this.options;
    const hello: DeviceHello = { protocol: PROTOCOL_VERSION, deviceId, kind: 'node', name, threads };
    if (this.options.joinToken) hello.joinToken = this.options.joinToken;
    const socket: DeviceSocket = io(this.options.hubUrl + DEVICE_NAMESPACE, {
      auth: hello,
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: this.options.reconnectDelayMs ?? 1000,
      reconnectionDelayMax: this.options.reconnectDelayMaxMs ?? 5000,
    });
    this.socket = socket;
    socket.on('connect', () => this.onConnect());
    socket.on('disconnect', (reason) => this.onDisconnect(reason));
    socket.on('connect_error', (err) => this.onConnectError(err));
    socket.on('hub:welcome', (welcome) => this.onWelcome(welcome));
    socket.on('work:available', () => this.requestWork());
    socket.on('job:stopped', (payload) => this.stopJob(payload.jobId));
    this.restartHeartbeat();
    this.pollTimer = setInterval(() => this.requestWork(), IDLE_POLL_MS);
  }

  /**
   * Stops asking for work, abandons queued and running inputs, gives results already computed up
   * to `graceMs` to be acknowledged, then disconnects (the hub hands the rest to other devices).
   */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const timer of [this.heartbeatTimer, this.pollTimer]) if (timer !== null) clearInterval(timer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.heartbeatTimer = this.pollTimer = this.reconnectTimer = null;
    this.options.pool.abandon((_task, owner) => owner === this, { running: true });
    for (const lease of this.leases.values()) this.flush(lease);
    this.leases.clear();
    if (this.socket?.connected) await this.outbox.drained(graceMs);
    this.outbox.clear();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
  }

  // ---- connection ----

  private onConnect(): void {
    this.log(this.everConnected ? 'reconnected to the hub' : 'connected to the hub');
    this.everConnected = true;
    this.outageLogged = false;
    this.sendStatus();
    this.outbox.resendAll();
    this.requestWork();
  }

  private onDisconnect(reason: string): void {
    if (this.stopping) return;
    this.log(`lost the connection to the hub (${reason}); reconnecting`);
    this.outageLogged = true;
    // The hub released this device's leases: inputs not started yet are someone else's now.
    // Runs in progress finish and are reported after the reconnect; the hub drops what it no longer needs.
    this.options.pool.abandon((_task, owner) => owner === this, { running: false });
    // Socket.IO reconnects by itself after transport errors, but not when the hub closed the socket (hub restart).
    if (reason === 'io server disconnect') this.scheduleReconnect(this.options.reconnectDelayMs ?? 1000);
  }

  private onConnectError(err: Error): void {
    const socket = this.socket;
    if (!socket || this.stopping) return;
    const data = (err as Error & { data?: { message?: unknown; hubProtocol?: unknown } }).data;
    const hubProtocol = typeof data?.hubProtocol === 'number' ? data.hubProtocol : '?';
    if (err.message === CONNECT_REFUSALS.clientTooOld) {
      this.options.onFatal?.(
        `the hub speaks protocol ${hubProtocol} and this agent ${PROTOCOL_VERSION}: this agent is out of date; update it (git pull && npm install) and start it again`,
      );
      return;
    }
    if (err.message === CONNECT_REFUSALS.joinTokenRequired) {
      this.options.onFatal?.(
        this.options.joinToken
          ? 'the hub refused this join token: check --join-token (or EDGESWARM_JOIN_TOKEN) against the volunteer URL the hub printed'
          : 'the hub is a private pool: start the agent with --join-token TOKEN (or EDGESWARM_JOIN_TOKEN), the join= value of the volunteer URL the hub printed',
      );
      return;
    }
    if (err.message === CONNECT_REFUSALS.serverTooOld) {
      this.options.onFatal?.(
        `the hub speaks protocol ${hubProtocol} and this agent ${PROTOCOL_VERSION}: the hub is older than this agent; update the hub or use an agent of the hub's version`,
      );
      return;
    }
    const refused = !socket.active; // refused in the hub's middleware: Socket.IO will not retry by itself
    if (!this.outageLogged) {
      const detail = typeof data?.message === 'string' ? `${err.message}: ${data.message}` : err.message;
      this.log(`cannot reach the hub (${detail}); retrying`);
      this.outageLogged = true;
    }
    if (refused) this.scheduleReconnect(REFUSED_RETRY_MS);
  }

  private onWelcome(welcome: HubWelcome): void {
    const ms = Number(welcome.heartbeatMs);
    if (Number.isFinite(ms) && ms >= 500 && ms !== this.heartbeatMs) {
      this.heartbeatMs = Math.min(ms, 60_000);
      this.restartHeartbeat();
    }
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.reconnectTimer !== null || this.stopping) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.socket && !this.socket.connected && !this.stopping) this.socket.connect();
    }, delayMs);
  }

  private reconnect(): void {
    const socket = this.socket;
    if (!socket?.connected || this.stopping) return;
    socket.disconnect();
    socket.connect();
  }

  private restartHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.sendStatus(), this.heartbeatMs);
  }

  private sendStatus(): void {
    if (!this.socket?.connected) return;
    const state: DeviceState = this.held > 0 ? 'working' : 'idle';
    this.socket.emit('device:status', { state, threads: this.options.threads });
  }

  private requireSocket(): DeviceSocket {
    if (!this.socket) throw new Error('the device is not started');
    return this.socket;
  }

  // ---- pulling work ----

  /** How many inputs to hold (running + waiting for a thread): about a second of work per thread (RunPace). */
  private capacity(): number {
    return this.pace.holdTarget(this.options.threads);
  }

  private requestWork(): void {
    const socket = this.socket;
    if (!socket?.connected || this.stopping || this.requesting) return;
    const slots = this.capacity() - this.held;
    if (!this.pace.worthAsking(this.options.threads, slots)) return;
    this.requesting = true;
    socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck('work:request', { slots })
      .then(
        (ack) => {
          this.requesting = false;
          if (socket !== this.socket || this.stopping) return;
          if (!ack.ok) {
            // Said once, not at every poll (a quarantined device keeps asking).
            if (ack.error.message !== this.lastRefusal) this.log(`the hub refused to hand out work: ${ack.error.message}`);
            this.lastRefusal = ack.error.message;
            return;
          }
          this.lastRefusal = null;
          const grant = ack.data;
          if (grant === null || grant.items.length === 0) return;
          if (!socket.connected) return; // the hub released the lease with the connection
          this.acceptGrant(grant);
          this.requestWork();
        },
        (err: unknown) => {
          this.requesting = false;
          if (socket !== this.socket || !socket.connected || this.stopping) return;
          // The hub may have granted a lease whose answer never arrived; the heartbeat would keep it alive forever.
          this.log(`a work request went unanswered (${errorText(err)}); reconnecting`);
          this.reconnect();
        },
      );
  }

  private acceptGrant(grant: LeaseGrant): void {
    const lease: HeldLease = { grant, outstanding: grant.items.length, buffer: [], bufferChars: 0, flushTimer: null };
    this.leases.set(grant.leaseId, lease);
    const { jobId, code, timeoutMs } = grant;
    for (const item of grant.items) {
      this.held++;
      const task: PoolTask = { jobId, code, timeoutMs, input: item.input };
      this.options.pool.run(task, this).then(
        (result) => this.finishItem(lease, item, result),
        (err: unknown) => this.finishItem(lease, item, { outcome: { ok: false, code: 'work_error', message: errorText(err) }, runMs: 0 }),
      );
    }
  }

  // ---- results ----

  private finishItem(lease: HeldLease, item: LeaseItem, result: PoolResult): void {
    this.held--;
    lease.outstanding--;
    const current = this.leases.get(lease.grant.leaseId) === lease;
    if (result !== null && current) {
      this.pace.record(result.runMs);
      const run = toRunResult(item.index, result.outcome);
      lease.buffer.push(run);
      lease.bufferChars += run.ok ? run.json.length : run.message.length;
      if (lease.bufferChars >= MAX_BATCH_CHARS) this.flush(lease);
      else lease.flushTimer ??= setTimeout(() => this.flush(lease), FLUSH_DELAY_MS);
    }
    if (current && lease.outstanding === 0) {
      this.flush(lease);
      this.leases.delete(lease.grant.leaseId);
    }
    this.requestWork();
  }

  private flush(lease: HeldLease): void {
    if (lease.flushTimer !== null) clearTimeout(lease.flushTimer);
    lease.flushTimer = null;
    const results = lease.buffer;
    lease.buffer = [];
    lease.bufferChars = 0;
    this.outbox.add(lease.grant.leaseId, lease.grant.jobId, results);
  }

  private countReceipt(results: readonly RunResult[], receipt: SubmitReceipt): void {
    const succeeded = results.filter((r) => r.ok).length;
    const accepted = Number.isFinite(receipt.accepted) ? receipt.accepted : results.length;
    // Only what the hub counted: a duplicate of someone else's result is not work done here.
    const done = Math.min(succeeded, accepted);
    this.done += done;
    this.failed += Math.min(results.length - succeeded, accepted - done);
    // The hub counts inputs as held until their results are acknowledged: room for more work may be free now.
    this.requestWork();
  }

  // ---- abandoning work ----

  /** `job:stopped`: the job was cancelled, failed or deleted. */
  private stopJob(jobId: string): void {
    for (const lease of [...this.leases.values()]) {
      if (lease.grant.jobId !== jobId) continue;
      if (lease.flushTimer !== null) clearTimeout(lease.flushTimer);
      this.leases.delete(lease.grant.leaseId);
    }
    this.options.pool.abandon((task, owner) => owner === this && task.jobId === jobId, { running: true });
    this.outbox.dropJob(jobId);
    this.requestWork();
  }
}
