/**
 * A device's link to its hub, for the volunteer page and the Node agent alike: Socket.IO events,
 * heartbeats, polling for work while idle, one work request at a time, reconnecting when a request or
 * a result batch goes unanswered, and the outbox of results. What to do with leases, and what to show
 * or log, stays with the host (`HubLinkHandlers`).
 */
import { errorText } from '../runtime/job-function.ts';
import type { Ack } from '../protocol/ack.ts';
import type {
  BlobChunk,
  BlobRead,
  DeviceStatus,
  HubWelcome,
  LeaseGrant,
  RunResult,
  SubmitReceipt,
  WorkRequest,
  WorkSubmit,
} from '../protocol/messages.ts';
import { HEARTBEAT_INTERVAL_MS } from '../protocol/version.ts';
import { IDLE_POLL_MS, REFUSED_RETRY_MS, REQUEST_TIMEOUT_MS, SUBMIT_TIMEOUT_MS } from './device-timing.ts';
import { ResultOutbox } from './result-outbox.ts';

// Both runtimes (browsers, Node) have these timers; shared code compiles without platform types.
declare function setTimeout(fn: () => void, ms: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(fn: () => void, ms: number): unknown;
declare function clearInterval(handle: unknown): void;
declare const performance: { now(): number };

/**
 * Round trips to the hub (a request or a batch of results until its answer), as the device measures them; each
 * `work:submit` carries the mean of those since the previous one (`rttMs`, the time model's T_comm).
 */
export class RoundTrips {
  private sum = 0;
  private count = 0;

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.sum += ms;
    this.count++;
  }

  /** The mean since the last call, rounded to µs; undefined when none was measured. */
  take(): number | undefined {
    if (this.count === 0) return undefined;
    const mean = this.sum / this.count;
    this.sum = 0;
    this.count = 0;
    return Math.round(mean * 1000) / 1000;
  }
}

/** What the link needs of a Socket.IO client socket on the `/device` namespace. */
export interface DeviceLinkSocket {
  readonly connected: boolean;
  /** False once the hub refused the connection in its middleware: Socket.IO will not retry by itself. */
  readonly active: boolean;
  on(event: 'connect', listener: () => void): unknown;
  on(event: 'disconnect', listener: (reason: string) => void): unknown;
  on(event: 'connect_error', listener: (err: Error) => void): unknown;
  on(event: 'hub:welcome', listener: (welcome: HubWelcome) => void): unknown;
  on(event: 'work:available', listener: () => void): unknown;
  on(event: 'job:stopped', listener: (payload: { jobId: string }) => void): unknown;
  emit(event: 'device:status', status: DeviceStatus): unknown;
  timeout(ms: number): {
    emitWithAck(event: 'work:request', request: WorkRequest): Promise<Ack<LeaseGrant | null>>;
    emitWithAck(event: 'work:submit', submit: WorkSubmit): Promise<Ack<SubmitReceipt>>;
    emitWithAck(event: 'blob:read', request: BlobRead): Promise<Ack<BlobChunk>>;
  };
  connect(): unknown;
  disconnect(): unknown;
  removeAllListeners(): unknown;
}

export interface HubLinkHandlers {
  /** Inputs to ask for now, or null not to ask (paused, stopping, enough work held). */
  slots(): number | null;
  /** A lease arrived. False: the host no longer wants it (the link reconnects, so the hub releases it). */
  grant(grant: LeaseGrant): boolean;
  /** The heartbeat's payload. */
  status(): DeviceStatus;
  jobStopped(jobId: string): void;
  /** Connected (again): the link then sends the status, resends results and asks for work. */
  connected(): void;
  disconnected(reason: string): void;
  /** A connection attempt failed. True: retry (after REFUSED_RETRY_MS if the hub refused it); false: fatal. */
  connectFailed(err: Error): boolean;
  /** The hub refused to hand out work, with its reason (said when it changes; null once it hands out work again). */
  refused(message: string | null): void;
  /** A work request went unanswered; the link reconnects (the hub may hold a lease whose answer was lost). */
  unanswered(detail: string): void;
  /** The hub acknowledged a batch of results. */
  /** The hub acknowledged a batch of results of `jobId`. */
  receipt(results: readonly RunResult[], receipt: SubmitReceipt, jobId: string): void;
  /** A batch could not be delivered; the link reconnects so the hub gives its inputs to others. */
  gaveUp(results: readonly RunResult[], reason: string): void;
}

export interface HubLinkOptions {
  /** Retry this long after the hub closed the socket (a hub restart); Socket.IO does not retry that by itself. */
  serverDisconnectRetryMs: number;
}

/** What the hub acknowledged of a batch: its successes and failed runs, never more than it accepted. */
export function countAccepted(results: readonly RunResult[], receipt: SubmitReceipt): { done: number; failed: number } {
  const succeeded = results.filter((r) => r.ok).length;
  const accepted = Number.isFinite(receipt.accepted) ? receipt.accepted : results.length;
  // Only what the hub counted: a duplicate of someone else's result is not work done here.
  const done = Math.min(succeeded, accepted);
  return { done, failed: Math.min(results.length - succeeded, accepted - done) };
}

export class HubLink {
  readonly outbox: ResultOutbox;
  private requesting = false;
  /**
   * The hub acknowledged results or announced work while a request was out: its answer may be out of date (it counts
   * inputs as held until their results are acknowledged), so a request answered with nothing is made again at once.
   */
  private askAgain = false;
  private stopped = false;
  /** Winding down (`quiesce`): results still go out, nothing else starts. */
  private quiet = false;
  private lastRefusal: string | null = null;
  private heartbeatMs = HEARTBEAT_INTERVAL_MS;
  private heartbeatTimer: unknown = null;
  private pollTimer: unknown = null;
  private reconnectTimer: unknown = null;
  readonly roundTrips = new RoundTrips();

  constructor(
    readonly socket: DeviceLinkSocket,
    private readonly handlers: HubLinkHandlers,
    private readonly options: HubLinkOptions,
  ) {
    this.outbox = new ResultOutbox({
      send: (submit) => {
        const rttMs = this.roundTrips.take();
        const started = performance.now();
        return socket
          .timeout(SUBMIT_TIMEOUT_MS)
          .emitWithAck('work:submit', rttMs === undefined ? submit : { ...submit, rttMs })
          .then((ack) => {
            this.roundTrips.add(performance.now() - started);
            return ack;
          });
      },
      canSend: () => socket.connected,
      onReceipt: (results, receipt, jobId) => {
        if (this.requesting) this.askAgain = true;
        handlers.receipt(results, receipt, jobId);
      },
      onGiveUp: (results, reason) => {
        handlers.gaveUp(results, reason);
        // Heartbeats would keep the lease alive forever: reconnect so the hub gives the work to others.
        if (!this.quiet) this.reconnect();
      },
    });
  }

  get connected(): boolean {
    return !this.stopped && this.socket.connected;
  }

  start(): void {
    const { socket } = this;
    socket.on('connect', () => this.onConnect());
    socket.on('disconnect', (reason) => this.onDisconnect(reason));
    socket.on('connect_error', (err) => this.onConnectError(err));
    socket.on('hub:welcome', (welcome) => this.onWelcome(welcome));
    socket.on('work:available', () => {
      if (this.requesting) this.askAgain = true;
      this.requestWork();
    });
    socket.on('job:stopped', (payload) => {
      if (!this.stopped) this.handlers.jobStopped(payload.jobId);
    });
    this.restartHeartbeat();
    this.pollTimer = setInterval(() => this.requestWork(), IDLE_POLL_MS);
  }

  /**
   * Winds down before `stop`: no more heartbeats, polls, work requests or reconnects, and a lease still
   * on its way is ignored (the disconnect releases it); results in the outbox still go out.
   */
  quiesce(): void {
    this.quiet = true;
    for (const timer of [this.heartbeatTimer, this.pollTimer]) if (timer !== null) clearInterval(timer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.heartbeatTimer = this.pollTimer = this.reconnectTimer = null;
  }

  /** Stops timers and listeners and disconnects; the outbox is the host's to drain or clear first. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.quiet = true;
    for (const timer of [this.heartbeatTimer, this.pollTimer]) if (timer !== null) clearInterval(timer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.heartbeatTimer = this.pollTimer = this.reconnectTimer = null;
    this.requesting = false;
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  /** Asks for work when the host has room for it, one request at a time. */
  requestWork(): void {
    const { socket } = this;
    if (this.quiet || !socket.connected || this.requesting) return;
    const slots = this.handlers.slots();
    if (slots === null) return;
    this.requesting = true;
    const started = performance.now();
    socket
      .timeout(REQUEST_TIMEOUT_MS)
      .emitWithAck('work:request', { slots })
      .then(
        (ack) => {
          this.requesting = false;
          const again = this.askAgain;
          this.askAgain = false;
          this.roundTrips.add(performance.now() - started);
          if (this.quiet) return;
          if (!ack.ok) {
            if (ack.error.message !== this.lastRefusal) this.handlers.refused(ack.error.message);
            this.lastRefusal = ack.error.message;
            return;
          }
          if (this.lastRefusal !== null) this.handlers.refused(null);
          this.lastRefusal = null;
          const grant = ack.data;
          if (grant === null || grant.items.length === 0) {
            if (again) this.requestWork();
            return;
          }
          if (!socket.connected) return; // the hub released the lease with the connection
          if (!this.handlers.grant(grant)) {
            this.reconnect(); // release the lease the host no longer wants
            return;
          }
          this.requestWork();
        },
        (err: unknown) => {
          this.requesting = false;
          this.askAgain = false;
          if (this.quiet || !socket.connected) return;
          // The hub may have granted a lease whose answer never arrived; the heartbeat would keep it alive forever.
          this.handlers.unanswered(errorText(err));
          this.reconnect();
        },
      );
  }

  /** Asks the hub for one chunk of a blob of a job this device holds a lease of (see `BlobCache`). */
  readBlob(request: BlobRead): Promise<Ack<BlobChunk>> {
    return this.socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('blob:read', request);
  }

  sendStatus(): void {
    if (this.connected) this.socket.emit('device:status', this.handlers.status());
  }

  /** Disconnects and connects again at once: the hub releases this device's leases. */
  reconnect(): void {
    if (this.quiet || !this.socket.connected) return;
    this.socket.disconnect();
    this.socket.connect();
  }

  private onConnect(): void {
    if (this.stopped) return;
    // A new connection: a refusal that still holds is said again (the host clears what it shows on connect).
    this.lastRefusal = null;
    this.handlers.connected();
    this.sendStatus();
    this.outbox.resendAll();
    this.requestWork();
  }

  private onDisconnect(reason: string): void {
    if (this.stopped) return;
    this.handlers.disconnected(reason);
    if (reason === 'io server disconnect' && !this.quiet) this.scheduleReconnect(this.options.serverDisconnectRetryMs);
  }

  private onConnectError(err: Error): void {
    if (this.stopped) return;
    if (this.handlers.connectFailed(err) && !this.socket.active) this.scheduleReconnect(REFUSED_RETRY_MS);
  }

  private onWelcome(welcome: HubWelcome): void {
    const ms = Number(welcome.heartbeatMs);
    if (Number.isFinite(ms) && ms >= 500 && ms !== this.heartbeatMs) {
      this.heartbeatMs = Math.min(ms, 60_000);
      this.restartHeartbeat();
    }
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.reconnectTimer !== null || this.quiet) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped && !this.socket.connected) this.socket.connect();
    }, delayMs);
  }

  private restartHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.sendStatus(), this.heartbeatMs);
  }
}
