/** A device for tests: a real socket.io-client speaking the device protocol, running job code in-process. */
import { io, type Socket } from 'socket.io-client';
import { randomBytes } from 'node:crypto';
import {
  DEVICE_NAMESPACE,
  PROTOCOL_VERSION,
  compileJobFunction,
  runJobFunction,
  type Ack,
  type HubToDeviceEvents,
  type LeaseGrant,
  type RunResult,
  type SubmitReceipt,
} from '@edgeswarm/shared';

type DeviceSocket = Socket<HubToDeviceEvents, Record<string, (...args: any[]) => void>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests send malformed payloads on purpose

export interface TestDeviceOptions {
  threads?: number;
  deviceId?: string;
  protocol?: number;
  /** Called for each lease before running it; return false to keep the lease and never answer. */
  onLease?: (grant: LeaseGrant) => boolean | void;
  autoWork?: boolean;
  /** Reconnect (with a short backoff) after the hub goes away, as the volunteer page does. */
  reconnect?: boolean;
  /** A private pool's join token. */
  joinToken?: string;
  /** A lying device: replaces the JSON of each successful result it reports. */
  tamper?: (json: string, index: number) => string;
}

export class TestDevice {
  readonly socket: DeviceSocket;
  readonly deviceId: string;
  readonly leases: LeaseGrant[] = [];
  readonly receipts: SubmitReceipt[] = [];
  readonly stopped: string[] = [];
  runs = 0;
  private busy = false;
  private again = false;
  private closed = false;

  constructor(url: string, private readonly options: TestDeviceOptions = {}) {
    this.deviceId = options.deviceId ?? `test_${randomBytes(9).toString('base64url')}`;
    this.socket = io(url + DEVICE_NAMESPACE, {
      auth: {
        protocol: options.protocol ?? PROTOCOL_VERSION,
        deviceId: this.deviceId,
        kind: 'node',
        name: 'test device',
        threads: options.threads ?? 2,
        ...(options.joinToken === undefined ? {} : { joinToken: options.joinToken }),
      },
      transports: ['websocket'],
      reconnection: options.reconnect === true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      forceNew: true,
    }) as DeviceSocket;
    this.socket.on('job:stopped', ({ jobId }) => this.stopped.push(jobId));
    if (options.autoWork !== false) {
      this.socket.on('connect', () => void this.pump());
      this.socket.on('work:available', () => void this.pump());
    }
  }

  connected(): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((ok, fail) => {
      this.socket.once('connect', () => ok());
      this.socket.once('connect_error', (err) => fail(err));
    });
  }

  async request(slots: number): Promise<LeaseGrant | null> {
    const ack = (await this.socket.timeout(5000).emitWithAck('work:request', { slots })) as Ack<LeaseGrant | null>;
    if (!ack.ok) throw new Error(`${ack.error.code}: ${ack.error.message}`);
    if (ack.data) this.leases.push(ack.data);
    return ack.data;
  }

  async submit(leaseId: string, results: RunResult[]): Promise<Ack<SubmitReceipt>> {
    const ack = (await this.socket.timeout(5000).emitWithAck('work:submit', { leaseId, results })) as Ack<SubmitReceipt>;
    if (ack.ok) this.receipts.push(ack.data);
    return ack;
  }

  /** Computes every grant it can get until the hub has none. */
  async pump(): Promise<void> {
    if (this.closed) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.again = false;
    try {
      for (;;) {
        if (this.closed || !this.socket.connected) return;
        const grant = await this.request((this.options.threads ?? 2) * 32);
        if (!grant) return;
        if (this.options.onLease?.(grant) === false) continue;
        const fn = compileJobFunction(grant.code);
        const results: RunResult[] = [];
        for (const item of grant.items) {
          this.runs++;
          const outcome = await runJobFunction(fn, item.input);
          const json = outcome.ok && this.options.tamper ? this.options.tamper(outcome.json, item.index) : outcome.ok ? outcome.json : '';
          results.push(outcome.ok ? { index: item.index, ok: true, json } : { index: item.index, ...outcome });
        }
        if (this.closed || !this.socket.connected) return;
        await this.submit(grant.leaseId, results);
      }
    } catch {
      // a closed socket mid-request ends the pump; the hub reclaims the lease
    } finally {
      this.busy = false;
      // Work announced while a request was on its way (its answer may predate the work): ask again.
      if (this.again) void this.pump();
    }
  }

  close(): void {
    this.closed = true;
    this.socket.disconnect();
  }
}

/** The devices one test opened: joins them connected, closes them all after the test. */
export class DeviceFleet {
  readonly devices: TestDevice[] = [];

  /** Keeps a device (connected or not) to close later. */
  track(device: TestDevice): TestDevice {
    this.devices.push(device);
    return device;
  }

  async join(url: string, options: TestDeviceOptions = {}): Promise<TestDevice> {
    const device = this.track(new TestDevice(url, options));
    await device.connected();
    return device;
  }

  closeAll(): void {
    for (const device of this.devices.splice(0)) device.close();
  }
}
