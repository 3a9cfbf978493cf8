// Test double of the `/device` socket: records what the session emits and lets a test answer acks, connect and drop.
import type { Ack, BlobChunk, HubToDeviceEvents, LeaseGrant, SubmitReceipt } from '@edgeswarm/shared';
import type { DeviceSocket } from '../../socket/create-hub-socket.ts';

interface Pending<TAck> {
  payload: unknown;
  answer(ack: TAck): void;
  settled: boolean;
}

type Handler = (...args: never[]) => void;

export class FakeHubSocket {
  connected = false;
  /** false after a refusal in the hub's middleware: Socket.IO then does not retry by itself. */
  active = true;
  connectCalls = 0;
  disconnectCalls = 0;
  readonly requests: Array<Pending<Ack<LeaseGrant | null>>> = [];
  readonly submits: Array<Pending<Ack<SubmitReceipt>>> = [];
  readonly blobReads: Array<Pending<Ack<BlobChunk>>> = [];
  readonly statuses: unknown[] = [];
  private readonly handlers = new Map<string, Handler[]>();
  private readonly rejecters = new Set<(err: Error) => void>();

  constructor(readonly auth: unknown) {
    setTimeout(() => this.accept(), 0);
  }

  asDeviceSocket(): DeviceSocket {
    return this as unknown as DeviceSocket;
  }

  on(event: string, handler: Handler): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
    return this;
  }

  removeAllListeners(): this {
    this.handlers.clear();
    return this;
  }

  emit(event: string, payload: unknown): this {
    if (event === 'device:status') this.statuses.push(payload);
    return this;
  }

  timeout(ms: number) {
    return {
      emitWithAck: (event: string, payload: unknown) =>
        new Promise<unknown>((resolve, reject) => {
          const entry = { payload, settled: false, answer: (ack: unknown) => settle(() => resolve(ack)) };
          const settle = (fn: () => void) => {
            if (entry.settled) return;
            entry.settled = true;
            clearTimeout(timer);
            this.rejecters.delete(onDisconnect);
            fn();
          };
          const onDisconnect = (err: Error) => settle(() => reject(err));
          const timer = setTimeout(() => onDisconnect(new Error('operation has timed out')), ms);
          this.rejecters.add(onDisconnect);
          if (event === 'work:request') this.requests.push(entry);
          else if (event === 'blob:read') this.blobReads.push(entry);
          else this.submits.push(entry);
        }),
    };
  }

  connect(): this {
    this.connectCalls++;
    this.active = true;
    setTimeout(() => this.accept(), 0);
    return this;
  }

  disconnect(): this {
    this.disconnectCalls++;
    this.drop('io client disconnect');
    this.active = false;
    return this;
  }

  // ---- what the hub does ----

  accept(): void {
    if (this.connected || !this.active) return;
    this.connected = true;
    this.fire('connect');
  }

  drop(reason = 'transport close'): void {
    if (!this.connected) return;
    this.connected = false;
    for (const reject of [...this.rejecters]) reject(new Error('socket has been disconnected'));
    this.fire('disconnect', reason);
  }

  refuse(message: string): void {
    this.active = false;
    const err = new Error(message);
    this.fire('connect_error', err);
  }

  fire<E extends keyof HubToDeviceEvents | 'connect' | 'disconnect' | 'connect_error'>(event: E, ...args: unknown[]): void {
    for (const handler of this.handlers.get(event) ?? []) (handler as (...a: unknown[]) => void)(...args);
  }

  /** Pending work requests not answered yet. */
  openRequests(): Array<Pending<Ack<LeaseGrant | null>>> {
    return this.requests.filter((r) => !r.settled);
  }

  openSubmits(): Array<Pending<Ack<SubmitReceipt>>> {
    return this.submits.filter((s) => !s.settled);
  }

  openBlobReads(): Array<Pending<Ack<BlobChunk>>> {
    return this.blobReads.filter((r) => !r.settled);
  }
}
